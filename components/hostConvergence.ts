/**
 * The two remote commands that converge one host; used by the host components.
 *
 *  - `<host>-converge`: the main document on stdin (not secret, so previews show
 *    each file change), applied by host/apply.sh. Re-runs only when the document
 *    (or the apply script) changes.
 *  - `<host>-credentials`: the credentials document, a Pulumi secret, with logging
 *    off and stdout/stderr marked secret. Runs after the main document, which
 *    installs the packages whose users own the credential files. It does not
 *    carry the apply script again: the converge run keeps a copy of the script
 *    on the host, named by its SHA-256, and this command runs that copy after
 *    checking the hash (half the script bytes in state and in policy analysis).
 *
 * Every connection pins the host's SSH key; the private key is a secret.
 */
import * as crypto from "crypto";
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
/** The apply script as shipped: host/apply.sh, compacted. */
export function applyScriptText(): string {
  applyScript ??= compactScript(fs.readFileSync(path.join(__dirname, "..", "host", "apply.sh"), "utf8"));
  return applyScript;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The checked-in apply script, run as `bash -c <script>` with the document on stdin. */
export function applyCommand(user: string): string {
  return `${user === "root" ? "" : "sudo -n "}bash -c ${shellQuote(applyScriptText())} vdi-apply`;
}

/**
 * Where a converge run keeps its copy of the script: `<root>/usr/local/lib/vdi-apply/<sha256>.sh`
 * (host/apply.sh, step 5). `root` is the document's root ("/" in production).
 */
export function installedScriptPath(root: string): string {
  const digest = crypto.createHash("sha256").update(applyScriptText()).digest("hex");
  return `${root.replace(/\/+$/, "")}/usr/local/lib/vdi-apply/${digest}.sh`;
}

/**
 * Runs the copy of the apply script that this script version's converge run installed, after
 * checking its SHA-256; a missing or changed copy fails with the fix. VDI_APPLY_LIB_DIR is the
 * script's test-only override (sudo's env_reset keeps it out of production).
 */
export function installedApplyCommand(user: string, root: string, convergeCommand: string): string {
  const file = installedScriptPath(root);
  const digest = path.basename(file, ".sh");
  const script = [
    `f=\${VDI_APPLY_LIB_DIR:-${path.dirname(file)}}/${digest}.sh`,
    `if ! printf '%s  %s\\n' ${digest} "$f" | sha256sum -c --status 2>/dev/null; then`,
    `printf 'vdi-apply: error: %s is missing or changed; it is installed by the command ${convergeCommand}: run pulumi up --replace with its URN\\n' "$f" >&2; exit 1; fi`,
    `exec bash "$f"`,
  ].join("\n");
  return `${user === "root" ? "" : "sudo -n "}bash -c ${shellQuote(script)} vdi-apply`;
}

/** The document's root ("root <path>", its third line). */
export function documentRoot(document: string): string {
  const m = /^[^\n]*\n[^\n]*\nroot (\/\S*)\n/.exec(document);
  if (!m) throw new Error("the host document has no root line");
  return m[1];
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
  const main = new command.remote.Command(
    hostCommandName(args.host.name, "converge"),
    { connection, create: applyCommand(args.ssh.user), stdin: args.document, logging: "stdoutAndStderr" },
    { parent, dependsOn: args.after, customTimeouts: { create: "60m", update: "60m" } },
  );
  return new command.remote.Command(
    hostCommandName(args.host.name, "credentials"),
    { connection, create: installedApplyCommand(args.ssh.user, documentRoot(args.document), hostCommandName(args.host.name, "converge")), stdin: pulumi.secret(args.credentials), logging: "none" },
    { parent, dependsOn: [main], additionalSecretOutputs: ["stdout", "stderr"], customTimeouts: { create: "20m", update: "20m" } },
  );
}
