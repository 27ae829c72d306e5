/**
 * Test harness for host/apply.sh.
 *
 * - runApply: runs the script exactly as the deployment does: the remote command's `create`
 *   text (applyCommand: the compacted script, quoted, `bash -c '<script>' vdi-apply`) given to
 *   the login shell (`sh -c`), document on stdin; or as `bash host/apply.sh`.
 * - makeTempDir / cleanupTempDirs: temp roots for root-prefix mode, removed after the tests.
 * - makeFakeSystem: a fake "/" mode. The real system is never touched: stub executables for
 *   apt-get, apt-mark, dpkg-query, systemctl, sysctl and nproc come first in PATH, append their
 *   argv to a log and answer from STUB_* environment variables; the lock and journal go to a
 *   temp run dir (VDI_APPLY_RUN_DIR) and /proc/meminfo is replaced (VDI_APPLY_MEMINFO).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applyCommand } from "../../components/hostConvergence";

export const SCRIPT_PATH = path.resolve(__dirname, "../../host/apply.sh");
export const SCRIPT_TEXT = fs.readFileSync(SCRIPT_PATH, "utf8");

export interface ApplyResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout split into lines, without the trailing empty one. */
  lines: string[];
}

export interface RunOptions {
  /** Extra environment (merged over a minimal, deterministic base environment). */
  env?: Record<string, string>;
  /** Directories put in front of PATH (stubs). */
  pathPrepend?: string[];
  /** Run as `bash host/apply.sh` instead of the shipped command text. */
  viaFile?: boolean;
  cwd?: string;
}

/** A minimal environment: nothing from the developer's shell (e.g. VDI_APPLY_*) leaks in. */
function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", LANG: "C", LC_ALL: "C", HOME: os.tmpdir() };
}

export function runApply(doc: string, opts: RunOptions = {}): ApplyResult {
  const env = { ...baseEnv(), ...(opts.env ?? {}) };
  if (opts.pathPrepend?.length) env.PATH = [...opts.pathPrepend, env.PATH].join(":");
  const [shell, args] = opts.viaFile ? ["bash", [SCRIPT_PATH]] : ["sh", ["-c", applyCommand("root")]];
  const r = spawnSync(shell, args, {
    input: doc,
    env,
    cwd: opts.cwd ?? os.tmpdir(),
    encoding: "utf8",
    timeout: 30_000,
  });
  if (r.error) throw r.error;
  const stdout = r.stdout ?? "";
  const lines = stdout.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return { status: r.status, stdout, stderr: r.stderr ?? "", lines };
}

const tempDirs: string[] = [];

/** A fresh temp directory (realpath, so paths compare cleanly); removed by cleanupTempDirs. */
export function makeTempDir(prefix = "vdi-apply-test-"): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  while (tempDirs.length) fs.rmSync(tempDirs.pop()!, { recursive: true, force: true });
}

/** Every regular file under dir, relative, sorted (to assert "nothing written"). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p) + (e.isDirectory() ? "/" : ""));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The current user and primary group, so "/"-mode test files can be chowned without root. */
export function currentOwner(): { owner: string; group: string } {
  const owner = os.userInfo().username;
  const g = spawnSync("id", ["-gn"], { encoding: "utf8" });
  return { owner, group: (g.stdout ?? "").trim() || owner };
}

export interface StubState {
  /** name -> installed version (dpkg status "installed"). */
  installed?: Record<string, string>;
  /** name -> version left in dpkg status "config-files" (removed, not purged). */
  configFiles?: Record<string, string>;
  held?: string[];
  enabled?: string[];
  nproc?: number;
  /** MemTotal written to the fake meminfo, in kB. */
  memTotalKb?: number;
  failRestart?: string[];
  /** Paths whose existence apt-get logs when it is called (to check write ordering). */
  probe?: string[];
}

export interface FakeSystem {
  /** Temp dir standing in for "/": put the document's file paths under it. */
  dir: string;
  log: string;
  /** Environment + PATH options for runApply. */
  options(state: StubState): RunOptions;
  /** Logged calls, each as argv (argv[0] = command name), in order. */
  calls(): string[][];
  clearLog(): void;
}

const STUB = `#!/bin/bash
# Test stub: logs its argv, answers from STUB_* variables. Never touches the system.
name=\${0##*/}
{ printf '%s' "$name"; printf '\\t%s' "$@"; printf '\\n'; } >> "$STUB_LOG"
has() { [[ " $2 " == *" $1 "* ]]; }
case $name in
  dpkg-query)
    pkg=\${!#}
    for kv in $STUB_INSTALLED; do
      if [[ \${kv%%=*} == "$pkg" ]]; then printf 'installed %s\\n' "\${kv#*=}"; exit 0; fi
    done
    for kv in $STUB_CONFIG_FILES; do
      if [[ \${kv%%=*} == "$pkg" ]]; then printf 'config-files %s\\n' "\${kv#*=}"; exit 0; fi
    done
    echo "dpkg-query: no packages found matching $pkg" >&2
    exit 1 ;;
  apt-mark)
    if [[ $1 == showhold ]]; then for p in $STUB_HELD; do echo "$p"; done; fi ;;
  apt-get)
    printf 'apt-get-env\\tDEBIAN_FRONTEND=%s\\n' "\${DEBIAN_FRONTEND:-}" >> "$STUB_LOG"
    for p in $STUB_PROBE; do
      if [[ -e $p ]]; then state=present; else state=absent; fi
      printf 'probe\\t%s\\t%s\\n' "$p" "$state" >> "$STUB_LOG"
    done
    echo "Reading package lists... (stub)" ;;
  systemctl)
    case $1 in
      is-enabled) has "\${!#}" "$STUB_ENABLED"; exit ;;
      restart) if has "$2" "$STUB_FAIL_RESTART"; then echo "Job for $2 failed (stub)" >&2; exit 1; fi ;;
    esac ;;
  nproc) echo "\${STUB_NPROC:-4}" ;;
esac
exit 0
`;

const STUBBED = ["apt-get", "apt-mark", "dpkg-query", "systemctl", "sysctl", "nproc"];

export function makeFakeSystem(): FakeSystem {
  const dir = makeTempDir("vdi-apply-fake-root-");
  const work = makeTempDir("vdi-apply-stubs-");
  const bin = path.join(work, "bin");
  const log = path.join(work, "calls.log");
  const meminfo = path.join(work, "meminfo");
  fs.mkdirSync(bin);
  for (const name of STUBBED) fs.writeFileSync(path.join(bin, name), STUB, { mode: 0o755 });
  fs.writeFileSync(log, "");
  const kv = (r: Record<string, string> | undefined) =>
    Object.entries(r ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  return {
    dir,
    log,
    options(state: StubState): RunOptions {
      fs.writeFileSync(meminfo, `MemTotal:       ${state.memTotalKb ?? 8_000_000} kB\nMemFree:         1000000 kB\n`);
      return {
        pathPrepend: [bin],
        env: {
          STUB_LOG: log,
          STUB_INSTALLED: kv(state.installed),
          STUB_CONFIG_FILES: kv(state.configFiles),
          STUB_HELD: (state.held ?? []).join(" "),
          STUB_ENABLED: (state.enabled ?? []).join(" "),
          STUB_NPROC: String(state.nproc ?? 4),
          STUB_FAIL_RESTART: (state.failRestart ?? []).join(" "),
          STUB_PROBE: (state.probe ?? []).join(" "),
          VDI_APPLY_MEMINFO: meminfo,
          VDI_APPLY_RUN_DIR: path.join(work, "run"),
        },
      };
    },
    calls(): string[][] {
      return fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t"));
    },
    clearLog(): void {
      fs.writeFileSync(log, "");
    },
  };
}
