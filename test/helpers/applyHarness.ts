/**
 * Test harness for host/apply.sh.
 *
 * - runApply: runs the script exactly as the deployment does: the remote command's `create`
 *   text (applyCommand: the compacted script, quoted, `bash -c '<script>' vdi-apply`) given to
 *   the login shell (`sh -c`), document on stdin; or as `bash host/apply.sh`.
 * - makeTempDir / cleanupTempDirs: temp roots for root-prefix mode, removed after the tests.
 * - makeFakeSystem: a fake "/" mode. The real system is never touched: stub executables for
 *   apt-get, apt-mark, dpkg, dpkg-query, systemctl, sysctl and nproc come first in PATH, append
 *   their argv to a log and answer from STUB_* environment variables (systemctl remembers what it
 *   started, so `is-active` answers as systemd would); /proc/sys is a temp dir
 *   (VDI_APPLY_PROC_SYS), "not a container" is given (VDI_APPLY_CONTAINER), the health settle is 0
 *   and its timeout short; the lock and journal go
 *   to a temp run dir (VDI_APPLY_RUN_DIR), /proc/meminfo is replaced (VDI_APPLY_MEMINFO), and
 *   the policy-rc.d and the apt log live in the stub dir (VDI_APPLY_POLICY_RC_D,
 *   VDI_APPLY_LOG_DIR) and the kept script copy in the work dir (VDI_APPLY_LIB_DIR), so even
 *   a test run as root never touches /usr/sbin, /usr/local/lib or /var/log.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applyCommand } from "../../host/applyScript";

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
  /** Another shipped command text (e.g. the credentials command's) instead of applyCommand("root"). */
  create?: string;
  cwd?: string;
}

/** A minimal environment: nothing from the developer's shell (e.g. VDI_APPLY_*) leaks in. */
function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", LANG: "C", LC_ALL: "C", HOME: os.tmpdir() };
}

function command(opts: RunOptions): { shell: string; args: string[]; env: Record<string, string> } {
  const env = { ...baseEnv(), ...(opts.env ?? {}) };
  if (opts.pathPrepend?.length) env.PATH = [...opts.pathPrepend, env.PATH].join(":");
  const [shell, args] = opts.viaFile ? ["bash", [SCRIPT_PATH]] : ["sh", ["-c", opts.create ?? applyCommand("root")]];
  return { shell, args, env };
}

function result(status: number | null, stdout: string, stderr: string): ApplyResult {
  const lines = stdout.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return { status, stdout, stderr, lines };
}

export function runApply(doc: string, opts: RunOptions = {}): ApplyResult {
  const { shell, args, env } = command(opts);
  const r = spawnSync(shell, args, {
    input: doc,
    env,
    cwd: opts.cwd ?? os.tmpdir(),
    encoding: "utf8",
    timeout: 30_000,
  });
  if (r.error) throw r.error;
  return result(r.status, r.stdout ?? "", r.stderr ?? "");
}

/** Like runApply, but does not block (to signal the script while it runs). */
export function runApplyAsync(doc: string, opts: RunOptions = {}): Promise<ApplyResult> {
  const { shell, args, env } = command(opts);
  const child = spawn(shell, args, { env, cwd: opts.cwd ?? os.tmpdir(), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(doc);
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve(result(status, stdout, stderr));
    });
  });
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
  /** Units for which `systemctl is-active` succeeds. */
  active?: string[];
  nproc?: number;
  /** MemTotal written to the fake meminfo, in kB. */
  memTotalKb?: number;
  failRestart?: string[];
  /** apt-get subcommands ("update", "install") that fail, after printing 40 numbered lines. */
  failApt?: string[];
  /** `dpkg` fails after printing one line. */
  failDpkg?: boolean;
  /** Paths whose existence apt-get logs when it is called (to check write ordering). */
  probe?: string[];
  /** `apt-get install` writes its pids (see FakeSystem.waitForHang) and waits for release(). */
  hangApt?: boolean;
  /** Units that are "failed" right after systemctl starts or restarts them (a daemon that dies at once). */
  dies?: string[];
  /** Units systemd skips on start: a Condition*= not met (inactive, ConditionResult=no). */
  skipped?: string[];
  /** Units that exit right after starting, their conditions met (inactive, ConditionResult=yes). */
  exits?: string[];
  /** Keys present in the fake /proc/sys, with their current values. */
  sysctl?: Record<string, string>;
  /** Keys of the fake /proc/sys the kernel refuses to change (writes fail, as in a container). */
  readOnlySysctl?: string[];
  /** Whether the script is told it runs in a container (default: not). */
  container?: boolean;
}

export interface FakeSystem {
  /** Temp dir standing in for "/": put the document's file paths under it. */
  dir: string;
  log: string;
  /** Where the script is told policy-rc.d lives (VDI_APPLY_POLICY_RC_D); its directory exists. */
  policyRcD: string;
  /** The apt log the script writes (in VDI_APPLY_LOG_DIR). */
  aptLog: string;
  /** Environment + PATH options for runApply. */
  options(state: StubState): RunOptions;
  /** Logged calls, each as argv (argv[0] = command name), in order; the health checks after (re)starts only with `health`. */
  calls(opts?: { health?: boolean }): string[][];
  clearLog(): void;
  /** With hangApt: resolves once `apt-get install` runs, with the script's and the stub's pid. */
  waitForHang(): Promise<{ script: number; stub: number }>;
  /** Lets a hanging `apt-get install` finish. */
  release(): void;
  /** The current value of a key in the fake /proc/sys. */
  sysctl(key: string): string;
}

/** A health check after (re)starts: `systemctl is-active <unit>` without --quiet. */
export const isHealthCall = (c: string[]): boolean => c[0] === "systemctl" && ((c[1] === "is-active" && c[2] !== "--quiet") || c[1] === "show");

const STUB = `#!/bin/bash
# Test stub: logs its argv, answers from STUB_* variables. Never touches the system.
name=\${0##*/}
{ printf '%s' "$name"; printf '\\t%s' "$@"; printf '\\n'; } >> "$STUB_LOG"
has() { [[ " $2 " == *" $1 "* ]]; }
policy() { # logs the state of the policy-rc.d while a package tool runs
  if [[ ! -e $STUB_POLICY ]]; then state=absent
  elif grep -qx 'exit 101' "$STUB_POLICY"; then state=denies
  else state=other; fi
  printf 'policy\\t%s\\t%s\\n' "$name" "$state" >> "$STUB_LOG"
  if [[ $state != absent ]]; then # what invoke-rc.d would be told
    # as invoke-rc.d calls it: [options] <id> "<action> [<fallback action>...]"
    for q in "dbus:reload" "dbus:force-reload:--quiet" "dbus:restart" "dbus:reload restart" "libvirtd:reload" "libvirtd:start"; do
      IFS=: read -r id actions opt <<< "$q"
      if sh "$STUB_POLICY" $opt "$id" "$actions"; then rc=0; else rc=$?; fi
      printf 'verdict\\t%s\\t%s\\n' "$q" "$rc" >> "$STUB_LOG"
    done
  fi
}
case $name in
  dpkg)
    policy
    printf 'dpkg-env\\tDEBIAN_FRONTEND=%s\\tOVS_FORCE_RELOAD_KMOD=%s\\n' "\${DEBIAN_FRONTEND:-}" "\${OVS_FORCE_RELOAD_KMOD:-}" >> "$STUB_LOG"
    if [[ -n $STUB_FAIL_DPKG ]]; then
      echo "dpkg: error processing package openvswitch-switch (--configure): stub" >&2
      exit 1
    fi
    echo "dpkg: nothing to configure (stub)" ;;
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
    printf 'apt-get-ovs\\t%s\\tOVS_FORCE_RELOAD_KMOD=%s\\n' "$1" "\${OVS_FORCE_RELOAD_KMOD:-}" >> "$STUB_LOG"
    policy
    for p in $STUB_PROBE; do
      if [[ -e $p ]]; then state=present; else state=absent; fi
      printf 'probe\\t%s\\t%s\\n' "$p" "$state" >> "$STUB_LOG"
    done
    echo "Reading package lists... (stub)"
    if [[ $1 == install && -n $STUB_HANG ]]; then
      echo "$PPID $$" > "$STUB_HANG.tmp" && mv "$STUB_HANG.tmp" "$STUB_HANG"
      for ((i = 0; i < 400; i++)); do [[ -e $STUB_HANG.go ]] && break; sleep 0.05; done
      echo "stub apt-get install survived until released"
    fi
    if has "$1" "$STUB_FAIL_APT"; then
      for i in $(seq 1 40); do echo "E: stub apt failure line $i" >&2; done
      exit 100
    fi ;;
  systemctl)
    unit=\${!#}
    case $1 in
      is-enabled) has "$unit" "$STUB_ENABLED"; exit ;;
      is-active)
        if [[ -e $STUB_STATE/failed.$unit ]]; then [[ $2 == --quiet ]] || echo failed; exit 3; fi
        if [[ -e $STUB_STATE/active.$unit ]] || has "$unit" "$STUB_ACTIVE"; then [[ $2 == --quiet ]] || echo active; exit 0; fi
        [[ $2 == --quiet ]] || echo inactive; exit 3 ;;
      restart | start)
        if [[ $1 == restart ]] && has "$unit" "$STUB_FAIL_RESTART"; then echo "Job for $unit failed (stub)" >&2; exit 1; fi
        if has "$unit" "$STUB_DIES"; then touch "$STUB_STATE/failed.$unit"
        elif ! has "$unit" "$STUB_SKIPPED $STUB_EXITS"; then touch "$STUB_STATE/active.$unit"; fi ;;
      show) if has "$unit" "$STUB_SKIPPED"; then echo no; else echo yes; fi ;;
      status) echo "● $unit (stub status)" ;;
    esac ;;
  nproc) echo "\${STUB_NPROC:-4}" ;;
  sync) if [[ -f \${!#} ]]; then state=file; else state=missing; fi; printf 'sync-target\\t%s\\n' "$state" >> "$STUB_LOG" ;;
esac
exit 0
`;

const STUBBED = ["apt-get", "apt-mark", "dpkg", "dpkg-query", "systemctl", "sysctl", "nproc", "sync"];

export function makeFakeSystem(): FakeSystem {
  const dir = makeTempDir("vdi-apply-fake-root-");
  const work = makeTempDir("vdi-apply-stubs-");
  const bin = path.join(work, "bin");
  const log = path.join(work, "calls.log");
  const meminfo = path.join(work, "meminfo");
  const policyRcD = path.join(work, "sbin", "policy-rc.d");
  const logDir = path.join(work, "log");
  const hang = path.join(work, "apt-hang");
  const stateDir = path.join(work, "state");
  const procSys = path.join(work, "proc-sys");
  fs.mkdirSync(bin);
  fs.mkdirSync(stateDir);
  fs.mkdirSync(path.dirname(policyRcD));
  for (const name of STUBBED) fs.writeFileSync(path.join(bin, name), STUB, { mode: 0o755 });
  fs.writeFileSync(log, "");
  const kv = (r: Record<string, string> | undefined) =>
    Object.entries(r ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
  return {
    dir,
    log,
    policyRcD,
    aptLog: path.join(logDir, "apt.log"),
    options(state: StubState): RunOptions {
      fs.writeFileSync(meminfo, `MemTotal:       ${state.memTotalKb ?? 8_000_000} kB\nMemFree:         1000000 kB\n`);
      for (const f of fs.readdirSync(stateDir)) fs.rmSync(path.join(stateDir, f));
      fs.rmSync(procSys, { recursive: true, force: true });
      fs.mkdirSync(procSys);
      for (const [k, v] of Object.entries(state.sysctl ?? {})) {
        const f = path.join(procSys, ...k.split("."));
        fs.mkdirSync(path.dirname(f), { recursive: true });
        // A key the kernel refuses to change: a directory in its place refuses every write, also root's.
        if ((state.readOnlySysctl ?? []).includes(k)) fs.mkdirSync(f);
        else fs.writeFileSync(f, `${v}\n`);
      }
      return {
        pathPrepend: [bin],
        env: {
          STUB_LOG: log,
          STUB_INSTALLED: kv(state.installed),
          STUB_CONFIG_FILES: kv(state.configFiles),
          STUB_HELD: (state.held ?? []).join(" "),
          STUB_ENABLED: (state.enabled ?? []).join(" "),
          STUB_ACTIVE: (state.active ?? []).join(" "),
          STUB_NPROC: String(state.nproc ?? 4),
          STUB_FAIL_RESTART: (state.failRestart ?? []).join(" "),
          STUB_FAIL_APT: (state.failApt ?? []).join(" "),
          STUB_FAIL_DPKG: state.failDpkg ? "1" : "",
          STUB_POLICY: policyRcD,
          STUB_HANG: state.hangApt ? hang : "",
          STUB_PROBE: (state.probe ?? []).join(" "),
          STUB_DIES: (state.dies ?? []).join(" "),
          STUB_SKIPPED: (state.skipped ?? []).join(" "),
          STUB_EXITS: (state.exits ?? []).join(" "),
          STUB_STATE: stateDir,
          VDI_APPLY_PROC_SYS: procSys,
          VDI_APPLY_CONTAINER: state.container ? "1" : "0",
          VDI_APPLY_SETTLE: "0",
          VDI_APPLY_HEALTH_TIMEOUT: "6",
          VDI_APPLY_MEMINFO: meminfo,
          VDI_APPLY_RUN_DIR: path.join(work, "run"),
          VDI_APPLY_POLICY_RC_D: policyRcD,
          VDI_APPLY_LOG_DIR: logDir,
          VDI_APPLY_LIB_DIR: path.join(work, "lib"),
        },
      };
    },
    calls(opts: { health?: boolean } = {}): string[][] {
      return fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t"))
        .filter((c) => opts.health || !isHealthCall(c));
    },
    clearLog(): void {
      fs.writeFileSync(log, "");
    },
    async waitForHang() {
      const deadline = Date.now() + 20_000;
      while (!fs.existsSync(hang)) {
        if (Date.now() > deadline) throw new Error("apt-get install stub never ran");
        await new Promise((res) => setTimeout(res, 10));
      }
      const [script, stub] = fs.readFileSync(hang, "utf8").trim().split(" ").map(Number);
      return { script, stub };
    },
    release(): void {
      fs.writeFileSync(hang + ".go", "");
    },
    sysctl(key: string): string {
      return fs.readFileSync(path.join(procSys, ...key.split(".")), "utf8").trim();
    },
  };
}
