/**
 * Runs the stack's own remote commands against the lab hosts, as the
 * @pulumi/command provider would: for every registered `command:remote:Command`
 * (taken from an evaluation of the program under mocks) it connects with the
 * resource's own `connection` (host, port, user, private key, pinned host key),
 * sends `create` as the SSH exec request and the resource's `stdin` as its
 * input, and fails on a non-zero exit. Commands run in dependency order
 * (`dependsOn`, a component meaning every command beneath it), a wave at a time,
 * the commands of one wave in parallel; when any command fails, later waves
 * do not run — the stack's rollout safety.
 *
 * The SSH client (OpenSSH) runs in the lab's controller namespace with
 * StrictHostKeyChecking=yes against a known_hosts holding only the key the
 * resource pins. Output of commands that log nothing (logging "none") or mark
 * stdout secret is never printed: only its final vdi-apply summary line.
 */
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import { type RegisteredResource } from "../review/evaluate";
import { plain } from "../formats/pulumiWire";
import { COMMAND_TYPE } from "../shipped/naming";

export interface RemoteCommand {
  urn: string;
  name: string;
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKey: string;
  perDialTimeout: number;
  create: string;
  stdin: string;
  /** Its output may not be shown (logging none, or stdout a secret output). */
  quiet: boolean;
  /** Names of the commands it waits for. */
  after: string[];
}

export interface CommandRun {
  name: string;
  wave: number;
  status: number;
  ms: number;
  /** "vdi-apply: host=… changes=N restarts=M" and its N and M, when the command printed it. */
  summary?: string;
  changes?: number;
  restarts?: number;
  /** Report lines of vdi-apply ("changed /etc/…"), only for commands whose output may be shown. */
  lines: string[];
  /** stderr tail, only for commands whose output may be shown. */
  error?: string;
}

/** The remote commands of an evaluation, with dependencies resolved to commands (through components). */
export function remoteCommands(resources: RegisteredResource[]): RemoteCommand[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const children = new Map<string, RegisteredResource[]>();
  for (const r of resources) if (r.parent) (children.get(r.parent) ?? children.set(r.parent, []).get(r.parent)!).push(r);
  const commandsUnder = (urn: string, out: Set<string>): void => {
    const r = byUrn.get(urn);
    if (!r) return;
    if (r.type === COMMAND_TYPE) out.add(r.name);
    for (const c of children.get(urn) ?? []) commandsUnder(c.urn, out);
  };
  return resources
    .filter((r) => r.type === COMMAND_TYPE)
    .map((r) => {
      const i = plain(r.inputs) as Record<string, any>;
      const c = (i.connection ?? {}) as Record<string, any>;
      const after = new Set<string>();
      for (const d of r.dependencies) commandsUnder(d, after);
      after.delete(r.name);
      const missing = ["host", "privateKey", "hostKey"].filter((k) => typeof c[k] !== "string" || !c[k]);
      if (missing.length) throw new Error(`${r.name}: connection has no ${missing.join(", ")} (the lab only runs commands with a pinned host key)`);
      if (typeof i.create !== "string") throw new Error(`${r.name}: no create command`);
      return {
        urn: r.urn,
        name: r.name,
        host: c.host,
        port: c.port ?? 22,
        user: c.user ?? "root",
        privateKey: c.privateKey,
        hostKey: c.hostKey,
        perDialTimeout: c.perDialTimeout ?? 15,
        create: i.create,
        stdin: typeof i.stdin === "string" ? i.stdin : "",
        quiet: i.logging === "none" || r.additionalSecretOutputs.includes("stdout"),
        after: [...after],
      };
    });
}

/**
 * Waves: each command after every command it depends on. Throws on a cycle. With `all` (every
 * command of the evaluation), the order goes through commands that are not run: when only some
 * commands changed, Pulumi still orders them through the unchanged ones between them (mq-2's
 * converge waits for mq-1's credentials, which waits for mq-1's converge).
 */
export function waves(commands: RemoteCommand[], all: RemoteCommand[] = commands): RemoteCommand[][] {
  const level = new Map<string, number>();
  const included = new Set(commands.map((c) => c.name));
  const byName = new Map([...all, ...commands].map((c) => [c.name, c]));
  const visiting = new Set<string>();
  // The wave after which `c` may run: for a command that is not run, the latest wave it waits for.
  const depth = (c: RemoteCommand): number => {
    const known = level.get(c.name);
    if (known !== undefined) return known;
    if (visiting.has(c.name)) throw new Error(`dependency cycle through ${c.name}`);
    visiting.add(c.name);
    let d = included.has(c.name) ? 0 : -1;
    for (const a of c.after) {
      const dep = byName.get(a);
      if (dep) d = Math.max(d, depth(dep) + (included.has(c.name) ? 1 : 0));
    }
    visiting.delete(c.name);
    level.set(c.name, d);
    return d;
  };
  const out: RemoteCommand[][] = [];
  for (const c of commands) (out[depth(c)] ??= []).push(c);
  return out.filter(Boolean);
}

const SUMMARY = /^vdi-apply: host=\S+ changes=(\d+) restarts=(\d+)$/m;

/** Runs one command over SSH from the controller namespace. */
export function runRemote(c: RemoteCommand, opts: { ctlNs: string; dir: string; timeoutMs?: number }): Promise<Omit<CommandRun, "wave">> {
  const dir = path.join(opts.dir, "deployer");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, `${c.name}.key`);
  const known = path.join(dir, `${c.name}.known_hosts`);
  fs.writeFileSync(key, c.privateKey.endsWith("\n") ? c.privateKey : c.privateKey + "\n", { mode: 0o600 });
  fs.writeFileSync(known, `${c.port === 22 ? c.host : `[${c.host}]:${c.port}`} ${c.hostKey.trim()}\n`, { mode: 0o600 });
  const args = [
    "netns", "exec", opts.ctlNs, "ssh",
    "-F", "/dev/null",
    "-i", key,
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${known}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "UpdateHostKeys=no",
    "-o", `ConnectTimeout=${c.perDialTimeout}`,
    "-o", "LogLevel=ERROR",
    "-p", String(c.port),
    "-l", c.user,
    c.host,
    "--",
    c.create,
  ];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("ip", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.on("error", () => undefined);
    child.stdin.end(c.stdin);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 10 * 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      fs.rmSync(key, { force: true });
      const m = SUMMARY.exec(stdout);
      resolve({
        name: c.name,
        status: code ?? 128,
        ms: Date.now() - started,
        summary: m?.[0],
        changes: m ? Number(m[1]) : undefined,
        restarts: m ? Number(m[2]) : undefined,
        lines: c.quiet ? [] : stdout.split("\n").filter((l) => l.startsWith("vdi-apply: ") && l !== m?.[0]),
        // A secret command's output is never shown, except the apply script's own error lines (paths and units, no values).
        error: c.quiet
          ? code === 0
            ? undefined
            : [...stderr.split("\n").filter((l) => l.startsWith("vdi-apply: error:")), "(the rest of its output is not shown: it is secret)"].join("\n")
          : stderr.trim().split("\n").slice(-15).join("\n") || undefined,
      });
    });
  });
}

/** Runs the commands wave by wave; stops before the next wave when a command failed. */
export async function converge(commands: RemoteCommand[], opts: { ctlNs: string; dir: string; onRun?: (r: CommandRun) => void; all?: RemoteCommand[] }): Promise<{ runs: CommandRun[]; failed?: CommandRun; skipped: string[] }> {
  const runs: CommandRun[] = [];
  const ws = waves(commands, opts.all);
  for (let w = 0; w < ws.length; w++) {
    const results = await Promise.all(ws[w].map((c) => runRemote(c, opts)));
    for (const r of results) {
      const run = { ...r, wave: w + 1 };
      runs.push(run);
      opts.onRun?.(run);
    }
    const failed = runs.find((r) => r.status !== 0);
    if (failed) return { runs, failed, skipped: ws.slice(w + 1).flat().map((c) => c.name) };
  }
  return { runs, skipped: [] };
}
