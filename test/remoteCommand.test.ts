/**
 * components/remoteCommand.ts registers a command:remote:Command without
 * @pulumi/command's class: the engine must receive the same request from both,
 * field by field, for the ways the program uses it (a secret key inside the
 * connection, stdin plain and secret, triggers, secret outputs, timeouts,
 * dependencies, a parent), in preview and in update mode.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { evaluate } from "../review/evaluate";
import { RemoteCommand } from "../components/remoteCommand";

class Parent extends pulumi.ComponentResource {
  constructor(name: string) {
    super("vdi:test:Parent", name, {}, {});
    this.registerOutputs({});
  }
}

async function requests(preview: boolean): Promise<Record<string, Record<string, unknown>>> {
  const seen: Record<string, Record<string, unknown>> = {};
  const ev = await evaluate({
    stack: "remote-command",
    stackFile: { config: {}, secretKeys: [] },
    preview,
    load: () => {
      const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor: () => { registerResource: (req: any, cb: unknown) => unknown } };
      const monitor = settings.getMonitor();
      const next = monitor.registerResource.bind(monitor);
      monitor.registerResource = (req: any, cb: unknown) => {
        const o = req.toObject() as Record<string, unknown>;
        if (o.type === "command:remote:Command") seen[o.name as string] = o;
        return next(req, cb);
      };
      const key = pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n-----END OPENSSH PRIVATE KEY-----\n");
      const connection = { host: "192.0.2.10", port: 22, user: "root", privateKey: key, hostKey: "ssh-ed25519 AAAA", perDialTimeout: 15, dialErrorLimit: 10 };
      function viaClass(n: string, a: command.remote.CommandArgs, o: pulumi.CustomResourceOptions) {
        return new command.remote.Command(n, a, o);
      }
      function viaOurs(n: string, a: command.remote.CommandArgs, o: pulumi.CustomResourceOptions) {
        return new RemoteCommand(n, a, o);
      }
      for (const [suffix, make] of [
        ["class", viaClass],
        ["ours", viaOurs],
      ] as const) {
        const parent = new Parent(`p-${suffix}`);
        const first = make(`converge-${suffix}`, { connection, create: "bash -c 'apply'", stdin: "document\n", logging: "stdoutAndStderr" }, { parent, customTimeouts: { create: "60m", update: "60m" } });
        make(`credentials-${suffix}`, { connection, create: "bash -c 'credentials'", stdin: pulumi.secret(pulumi.output("secret document\n")), logging: "none" }, { parent, dependsOn: [first], additionalSecretOutputs: ["stdout", "stderr"], customTimeouts: { create: "20m", update: "20m" } });
        make(`discover-${suffix}`, { connection: { ...connection, user: "deploy" }, create: "sudo -n nova-manage cell_v2 discover_hosts --by-service", triggers: ["b", "a"], logging: "stdoutAndStderr" }, { parent, dependsOn: [first] });
      }
    },
  });
  expect(ev.error).toBeUndefined();
  return seen;
}

/**
 * The request with this copy's own names taken out, and where it was made: the source position
 * and stack trace name the line that made it (viaClass's or viaOurs's), checked apart.
 */
function normalized(req: Record<string, unknown>, suffix: string): unknown {
  const { sourceposition, stacktrace, ...rest } = req;
  return JSON.parse(JSON.stringify(rest).split(`-${suffix}`).join("-X"));
}

test.each([true, false])("the engine receives the same request as from @pulumi/command's class (preview %s)", async (preview) => {
  const seen = await requests(preview);
  for (const name of ["converge", "credentials", "discover"]) {
    const ours = seen[`${name}-ours`];
    const theirs = seen[`${name}-class`];
    expect(ours).toBeDefined();
    // Registered through the generic class, the request says so nowhere: type, inputs, options and provider version match.
    expect({ name, ...(normalized(ours, "ours") as object) }).toEqual({ name, ...(normalized(theirs, "class") as object) });
  }
  // The source position is the caller's line, as for the class (pulumi up shows it).
  const position = (req: Record<string, unknown>) => req.sourceposition as { uri: string; line: number };
  const lineOf = (text: string) => require("fs").readFileSync(__filename, "utf8").split("\n").findIndex((l: string) => l.includes(text)) + 1;
  expect(position(seen["converge-ours"])).toMatchObject({ uri: expect.stringMatching(/remoteCommand\.test\.ts$/), line: lineOf("return new RemoteCommand(") });
  expect(position(seen["converge-class"])).toMatchObject({ uri: expect.stringMatching(/remoteCommand\.test\.ts$/), line: lineOf("return new command.remote.Command(") });
  expect(seen["credentials-ours"].additionalsecretoutputsList).toEqual(["stdout", "stderr", "connection"]);
  expect(seen["discover-ours"].replaceonchangesList).toEqual(["triggers[*]"]);
  expect(seen["converge-ours"].version).toBe(require("@pulumi/command/package.json").version);
});
