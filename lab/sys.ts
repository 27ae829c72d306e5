/**
 * Process and command helpers for the lab: every command is bounded in time,
 * every background process is recorded by PID and ended by PID (never by name),
 * and every wait is bounded in count and time (lab network rule, ../README "Lab").
 */
import * as fs from "fs";
import * as path from "path";
import { spawn, spawnSync } from "child_process";

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run inside this network namespace (`ip netns exec`). */
  ns?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default 60 s; the command is killed (SIGKILL) when it runs longer, status 124. */
  timeoutMs?: number;
}

function argv(cmd: string, args: string[], ns?: string): [string, string[]] {
  return ns ? ["ip", ["netns", "exec", ns, cmd, ...args]] : [cmd, args];
}

/** Runs a command to completion; never throws for a non-zero status. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const [c, a] = argv(cmd, args, opts.ns);
  const r = spawnSync(c, a, {
    input: opts.input,
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") return { status: 127, stdout: "", stderr: `${c}: not found` };
  const timedOut = r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT";
  return { status: timedOut ? 124 : (r.status ?? 128), stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (timedOut ? `\n${c}: timed out` : "") };
}

/** Like `run`, without blocking the event loop (for long steps that run beside others). */
export function runAsync(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [c, a] = argv(cmd, args, opts.ns);
  return new Promise((resolve) => {
    const child = spawn(c, a, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ status: (e as NodeJS.ErrnoException).code === "ENOENT" ? 127 : 128, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: timedOut ? 124 : (code ?? 128), stdout, stderr: stderr + (timedOut ? `\n${c}: timed out` : "") });
    });
  });
}

/** Runs a command and throws (with its stderr) unless it exits 0. */
export function must(cmd: string, args: string[], opts: RunOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) {
    const shown = [opts.ns ? `[ns ${opts.ns}]` : "", cmd, ...args].filter(Boolean).join(" ");
    throw new Error(`${shown.length > 300 ? shown.slice(0, 300) + "…" : shown} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  }
  return r.stdout;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true: at most `timeoutMs` (default 20 s), every `intervalMs` (default 200 ms). */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const timeout = opts.timeoutMs ?? 20_000;
  const interval = opts.intervalMs ?? 200;
  const tries = Math.max(1, Math.ceil(timeout / interval));
  for (let i = 0; i < tries; i++) {
    if (await probe()) return;
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill 0; /proc tells.
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

export interface Tracked {
  name: string;
  pid: number;
  log?: string;
}

/**
 * The lab's background processes, by PID. `start` spawns and records; `adopt`
 * records a daemon that forked itself (from its pid file). The record is also
 * kept in <dir>/pids so a crashed lab can be cleaned up by the next run.
 */
export class Processes {
  private readonly tracked: Tracked[] = [];
  constructor(private readonly dir: string) {}

  /** Best effort: the record is only for cleaning up after a crash (the directory may be gone at teardown). */
  private persist(): void {
    try {
      fs.writeFileSync(path.join(this.dir, "pids"), this.tracked.map((t) => `${t.pid} ${t.name}`).join("\n") + "\n");
    } catch {
      /* directory not there (yet / any more) */
    }
  }

  /** Starts `cmd` in the background (new session, output to `log`), optionally in a namespace. */
  start(name: string, cmd: string, args: string[], opts: { ns?: string; env?: NodeJS.ProcessEnv; log: string; cwd?: string }): Tracked {
    const [c, a] = argv(cmd, args, opts.ns);
    const fd = fs.openSync(opts.log, "a");
    const child = spawn(c, a, { env: opts.env ?? process.env, cwd: opts.cwd, detached: true, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${c})`);
    child.unref();
    child.on("error", () => undefined);
    const t = { name, pid: child.pid, log: opts.log };
    this.tracked.push(t);
    this.persist();
    return t;
  }

  /** Records a self-daemonizing process by the PID in its pid file (waits up to 10 s for the file). */
  async adopt(name: string, pidFile: string): Promise<Tracked> {
    let pid = 0;
    await waitFor(`${name} pid file ${pidFile}`, () => {
      pid = fs.existsSync(pidFile) ? parseInt(fs.readFileSync(pidFile, "utf8").trim(), 10) : 0;
      return pid > 0;
    }, { timeoutMs: 10_000 });
    const t = { name, pid };
    this.tracked.push(t);
    this.persist();
    return t;
  }

  /** SIGTERM, wait up to `graceMs` (default 5 s), then SIGKILL and wait up to 5 s more. */
  async stop(t: Tracked | number, graceMs = 5000): Promise<void> {
    const pid = typeof t === "number" ? t : t.pid;
    if (alive(pid)) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      try {
        await waitFor(`pid ${pid} to exit`, () => !alive(pid), { timeoutMs: graceMs, intervalMs: 100 });
      } catch {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
        await waitFor(`pid ${pid} to exit after SIGKILL`, () => !alive(pid), { timeoutMs: 5000, intervalMs: 100 }).catch(() => undefined);
      }
    }
    const i = this.tracked.findIndex((x) => x.pid === pid);
    if (i >= 0) this.tracked.splice(i, 1);
    this.persist();
  }

  /** Ends every recorded process, newest first. */
  async stopAll(): Promise<void> {
    for (const t of [...this.tracked].reverse()) await this.stop(t);
  }

  list(): Tracked[] {
    return [...this.tracked];
  }
}
