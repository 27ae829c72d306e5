/**
 * The two remote commands that converge one host; used by the host components.
 *
 *  - `<host>-converge`: the main document on stdin (not secret, so previews show
 *    each file change), applied by host/apply.sh. Re-runs only when the document
 *    (or the apply script) changes.
 *  - `<host>-credentials`: the credentials document, a Pulumi secret, with logging
 *    off and stdout/stderr marked secret. Runs after the main document, which
 *    installs the packages whose users own the credential files.
 *
 * Every connection pins the host's SSH key; the private key is a secret.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { HostSpec } from "../lib/config/load";
import { hostCommandName } from "../lib/naming";

export interface SshSettings {
  user: string;
  privateKey: pulumi.Output<string>;
  perDialTimeoutSeconds: number;
  dialErrorLimit: number;
}

export interface HostConvergenceArgs {
  host: HostSpec;
  ssh: SshSettings;
  document: string;
  credentials: pulumi.Output<string>;
  /** Resources that must converge first (the previous rollout wave). */
  after: pulumi.Resource[];
}

/**
 * The apply script without its comment lines and indentation-only blank lines:
 * it is carried by every host's command (state size grows with the fleet), and
 * host/apply.sh has no heredocs, so whole-line comments can go. Tested by
 * running the compacted text (test/apply.test.ts).
 */
export function compactScript(text: string): string {
  const lines = text.split("\n");
  return [lines[0], ...lines.slice(1).filter((l) => !/^\s*(#.*)?$/.test(l))].join("\n") + "\n";
}

let applyScript: string | undefined;
/** The checked-in apply script, run as `bash -c <script>` with the document on stdin. */
export function applyCommand(user: string): string {
  applyScript ??= compactScript(fs.readFileSync(path.join(__dirname, "..", "host", "apply.sh"), "utf8"));
  const quoted = `'${applyScript.replace(/'/g, `'\\''`)}'`;
  return `${user === "root" ? "" : "sudo -n "}bash -c ${quoted} vdi-apply`;
}

export function connectionFor(host: HostSpec, ssh: SshSettings): command.types.input.remote.ConnectionArgs {
  return {
    host: host.address,
    port: host.sshPort,
    user: ssh.user,
    privateKey: ssh.privateKey,
    hostKey: host.hostKey,
    perDialTimeout: ssh.perDialTimeoutSeconds,
    dialErrorLimit: ssh.dialErrorLimit,
  };
}

/** Creates the host's commands as children of `parent`; returns the last one (what later waves wait for). */
export function convergeHost(parent: pulumi.ComponentResource, args: HostConvergenceArgs): command.remote.Command {
  const connection = connectionFor(args.host, args.ssh);
  const create = applyCommand(args.ssh.user);
  const main = new command.remote.Command(
    hostCommandName(args.host.name, "converge"),
    { connection, create, stdin: args.document, logging: "stdoutAndStderr" },
    { parent, dependsOn: args.after, customTimeouts: { create: "60m", update: "60m" } },
  );
  return new command.remote.Command(
    hostCommandName(args.host.name, "credentials"),
    { connection, create, stdin: pulumi.secret(args.credentials), logging: "none" },
    { parent, dependsOn: [main], additionalSecretOutputs: ["stdout", "stderr"], customTimeouts: { create: "20m", update: "20m" } },
  );
}
