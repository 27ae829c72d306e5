/**
 * host/apply.sh as the converge commands ship it, and the commands that run it
 * on a host:
 *
 *  - the converge command carries the script compacted, gzip'd and base64'd
 *    (the checked-in host/apply.sh.gz.b64, written by `npm run pack-apply`),
 *    unpacks it on the host, checks its SHA-256 and runs it with `bash -c`;
 *  - a successful converge run keeps a copy of the script named by its
 *    SHA-256 (host/apply.sh, step 5); the credentials command runs that copy
 *    after checking the hash, so the script travels once per host, not twice.
 *
 * Pure apart from reading the two files next to this one.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { APPLY_LIB_DIR } from "../facts/paths";
import { PROJECT_DIR } from "../stack/projectDir";

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
  applyScript ??= compactScript(fs.readFileSync(path.join(PROJECT_DIR, "host", "apply.sh"), "utf8"));
  return applyScript;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

/** host/apply.sh as shipped: compacted, gzip -9, base64 (`npm run pack-apply` writes it). */
export const PACKED_SCRIPT_PATH = path.join(PROJECT_DIR, "host", "apply.sh.gz.b64");

/** Why a packed script (undefined: missing) cannot be shipped as `script`, or undefined. */
export function packedProblem(packed: string | undefined, script: string): string | undefined {
  if (packed === undefined) return `${PACKED_SCRIPT_PATH} is missing. Fix: run npm run pack-apply and commit it.`;
  let text = "";
  try {
    text = zlib.gunzipSync(Buffer.from(packed.trim(), "base64")).toString("utf8");
  } catch {
    /* reported below */
  }
  if (text !== script) return `${PACKED_SCRIPT_PATH} is not host/apply.sh as it is now. Fix: run npm run pack-apply and commit it.`;
  return undefined;
}

/** Why host/apply.sh.gz.b64 cannot be shipped (missing, or not host/apply.sh), or undefined. */
export function packedScriptProblem(): string | undefined {
  return packedProblem(fs.existsSync(PACKED_SCRIPT_PATH) ? fs.readFileSync(PACKED_SCRIPT_PATH, "utf8") : undefined, applyScriptText());
}

/**
 * The command that unpacks a packed script, checks its SHA-256 and runs it with `bash -c`, the
 * document on stdin. POSIX sh, for the SSH user's login shell; `x` keeps the script's trailing
 * newline from `$(...)`, so BASH_EXECUTION_STRING is exactly the script (host/apply.sh, step 5).
 */
export function unpackingCommand(user: string, packed: string, digest: string): string {
  return [
    `s=$(printf '%s' '${packed}' | base64 -d | gunzip && echo x) && s=\${s%x} &&`,
    `[ "$(printf '%s' "$s" | sha256sum)" = "${digest}  -" ] ||`,
    `{ echo 'vdi-apply: error: cannot unpack the apply script (needs base64, gzip and sha256sum)' >&2; exit 1; };`,
    `exec ${user === "root" ? "" : "sudo -n "}bash -c "$s" vdi-apply`,
  ].join(" ");
}

let scriptDigest: string | undefined;
/** SHA-256 of the apply script as shipped (computed once: every host's commands name it). */
function applyScriptDigest(): string {
  return (scriptDigest ??= sha256(applyScriptText()));
}

let packedCommand: string | undefined;
const convergeCommands = new Map<string, string>();
/**
 * The converge command: the checked-in apply script, packed (host/apply.sh.gz.b64, about 8 KB
 * instead of 17 KB in every converge command's inputs and outputs), unpacked and run on the host.
 * Throws when the packed copy is not the current host/apply.sh.
 */
export function applyCommand(user: string): string {
  if (packedCommand === undefined) {
    const problem = packedScriptProblem();
    if (problem) throw new Error(problem);
    packedCommand = fs.readFileSync(PACKED_SCRIPT_PATH, "utf8").trim();
  }
  // One string for every host of a fleet (8 KB each, 2,000 copies otherwise).
  let cmd = convergeCommands.get(user);
  if (cmd === undefined) convergeCommands.set(user, (cmd = unpackingCommand(user, packedCommand, applyScriptDigest())));
  return cmd;
}

/**
 * Where a converge run keeps its copy of the script: `<root>/usr/local/lib/vdi-apply/<sha256>.sh`
 * (host/apply.sh, step 5). `root` is the document's root ("/" in production).
 */
export function installedScriptPath(root: string): string {
  return `${root.replace(/\/+$/, "")}${APPLY_LIB_DIR}/${applyScriptDigest()}.sh`;
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
