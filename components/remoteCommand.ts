/**
 * A `command:remote:Command`, registered exactly as @pulumi/command's own class
 * registers it — the same type, inputs (the connection secret, with the
 * provider's defaults), secret outputs, `replaceOnChanges` and provider
 * version — but without the class's per-resource cost.
 *
 * The class passes every property it knows (eleven, most of them unset or
 * output-only: stdout, stderr, delete, update, environment, …), and the SDK
 * makes an Output with four tracked promises for each. At 2,000 compute hosts
 * (4,000 commands) that was 4 s and 300 MB of a 10 s, 1 GB evaluation
 * (measured 2026-12-05: the program's resources replayed under mocks through
 * the class took 8.3 s and 936 MB, through this 4.5 s and 640 MB). This
 * passes only the properties that are set; nothing reads a command's outputs
 * here (later waves wait on the resource itself). test/remoteCommand.test.ts
 * checks, field by field, that the engine receives the same request as from
 * the class, so an upgrade of @pulumi/command that changes what it sends
 * fails there.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { remote } from "@pulumi/command/types/input";
import { getVersion } from "@pulumi/command/utilities";
import { COMMAND_TYPE } from "../shipped/naming";

export class RemoteCommand extends pulumi.CustomResource {
  constructor(name: string, args: command.remote.CommandArgs, opts: pulumi.CustomResourceOptions = {}) {
    const inputs: pulumi.Inputs = { connection: pulumi.secret(pulumi.output(args.connection).apply(remote.connectionArgsProvideDefaults)) };
    for (const [k, v] of Object.entries(args)) if (k !== "connection" && v !== undefined) inputs[k] = v;
    // The class's own option merges, in its order.
    let o = pulumi.mergeOptions({ version: getVersion() }, opts);
    o = pulumi.mergeOptions(o, { additionalSecretOutputs: ["connection"] });
    o = pulumi.mergeOptions(o, { replaceOnChanges: ["triggers[*]"] });
    super(COMMAND_TYPE, name, inputs, o);
  }
}
