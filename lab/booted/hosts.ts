/**
 * Booted lab hosts: each a copy of the cached Debian 12 root file system,
 * booted with systemd as PID 1 under systemd-nspawn in its own network
 * namespace (made by ./network), running sshd with the host key the stack
 * pins. Measured recipe: the lab's README section; every flag below was needed
 * on this machine:
 *
 *  - its own cgroup per host (else containers share /payload), in the named
 *    systemd v1 hierarchy and the v2 one of this machine's hybrid layout;
 *  - --register=no --keep-unit (there is no systemd/D-Bus on the machine);
 *  - CAP_NET_ADMIN (OVS, ip), SYSTEMD_NSPAWN_API_VFS_WRITABLE=network (the
 *    host's net.* sysctls writable inside, the machine's untouched).
 *
 * A launcher (bash, bounded loop) boots the host again when it reboots itself
 * (nspawn exits 133); SIGTERM to nspawn is a clean poweroff.
 */
import * as fs from "fs";
import * as path from "path";
import { must, run, runAsync, sleep, waitFor, alive, type Processes, type RunResult, type Tracked } from "../sys";
import { ROOTFS_DIR } from "./image";

export interface BootedHost {
  name: string;
  address: string;
  /** The host's network namespace (made by ./network). */
  ns: string;
  /** The host's root file system on the machine. */
  root: string;
  launcher?: Tracked;
}

const CGROUP_HIERARCHIES = ["systemd", "unified"];

export function cgroupName(prefix: string, host: string): string {
  return `${prefix}-${host}`;
}

/** Makes the host's root: a copy of the cached image with its own identity (name, machine id, SSH host key, authorized deployer key). */
export function makeHostRoot(h: BootedHost, opts: { hostKey: string; authorizedKey: string; hostsLines: string[] }): void {
  fs.rmSync(h.root, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(h.root), { recursive: true });
  must("cp", ["-a", ROOTFS_DIR, h.root], { timeoutMs: 300_000 });
  fs.rmSync(path.join(h.root, ".vdi-lab-stamp"), { force: true });
  const etc = (p: string) => path.join(h.root, "etc", p);
  fs.writeFileSync(etc("hostname"), `${h.name}\n`);
  fs.writeFileSync(etc("hosts"), ["127.0.0.1\tlocalhost", ...opts.hostsLines, ""].join("\n"));
  fs.writeFileSync(etc("machine-id"), must("systemd-id128", ["new"]));
  // No DNS server anywhere in the lab: nothing can leave through a resolver.
  fs.rmSync(etc("resolv.conf"), { force: true });
  fs.writeFileSync(etc("resolv.conf"), "# lab host: no name server\n");
  fs.writeFileSync(etc("ssh/ssh_host_ed25519_key"), opts.hostKey, { mode: 0o600 });
  fs.writeFileSync(etc("ssh/sshd_config.d/vdi-lab.conf"), ["HostKey /etc/ssh/ssh_host_ed25519_key", "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no", ""].join("\n"));
  fs.mkdirSync(path.join(h.root, "root", ".ssh"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(h.root, "root", ".ssh", "authorized_keys"), opts.authorizedKey.trim() + "\n", { mode: 0o600 });
}

const LAUNCHER = `#!/bin/bash
# Boots one lab host; boots it again when it rebooted itself (nspawn exit 133). Bounded: 10 boots.
set -u
name=$1 root=$2 netns=$3 cgroup=$4 dir=$5
for h in ${CGROUP_HIERARCHIES.join(" ")}; do
  mkdir -p /sys/fs/cgroup/$h/$cgroup && echo $$ > /sys/fs/cgroup/$h/$cgroup/cgroup.procs || { echo "cgroup $h failed"; exit 1; }
done
export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
for boot in 1 2 3 4 5 6 7 8 9 10; do
  echo "$(date +%s.%N) boot $boot"
  systemd-nspawn -D "$root" --boot --register=no --keep-unit --machine="$name" \\
    --network-namespace-path=/run/netns/$netns --capability=CAP_NET_ADMIN,CAP_IPC_LOCK \\
    --resolv-conf=off --timezone=off --link-journal=no --console=read-only < /dev/null >> "$dir/$name.console.log" 2>&1 &
  nspawn=$!
  echo "$nspawn" > "$dir/$name.nspawn.pid"
  wait "$nspawn"; rc=$?
  echo "$(date +%s.%N) nspawn exit $rc"
  [ "$rc" -eq 133 ] || break
  [ -e "$dir/$name.stop" ] && break
done
rm -f "$dir/$name.nspawn.pid"
`;

/** Boots the host (its launcher in the background, recorded by PID). */
export function bootHost(h: BootedHost, opts: { dir: string; prefix: string; procs: Processes }): void {
  const launcher = path.join(opts.dir, "launcher.sh");
  if (!fs.existsSync(launcher)) fs.writeFileSync(launcher, LAUNCHER, { mode: 0o755 });
  fs.rmSync(path.join(opts.dir, `${h.name}.stop`), { force: true });
  h.launcher = opts.procs.start(`launcher ${h.name}`, "bash", [launcher, h.name, h.root, h.ns, cgroupName(opts.prefix, h.name), opts.dir], { log: path.join(opts.dir, `${h.name}.launcher.log`) });
}

/** The PID of the host's systemd-nspawn, while it runs. */
export function nspawnPid(h: BootedHost, dir: string): number | undefined {
  const f = path.join(dir, `${h.name}.nspawn.pid`);
  const pid = fs.existsSync(f) ? Number(fs.readFileSync(f, "utf8").trim()) : 0;
  return pid > 0 && alive(pid) ? pid : undefined;
}

/** The PID of the host's systemd (PID 1 inside), as the machine sees it. */
export function guestPid(h: BootedHost, dir: string): number | undefined {
  const n = nspawnPid(h, dir);
  if (!n) return undefined;
  const kids = run("pgrep", ["-P", String(n)]).stdout.trim().split("\n").filter(Boolean).map(Number);
  return kids.find((k) => /^systemd$/.test(readComm(k))) ?? kids[0];
}

function readComm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Runs a command inside the host (all its namespaces), without SSH. */
export function inHost(h: BootedHost, dir: string, cmd: string[], opts: { input?: string; timeoutMs?: number } = {}): { status: number; stdout: string; stderr: string } {
  const pid = guestPid(h, dir);
  if (!pid) return { status: 255, stdout: "", stderr: `${h.name} is not running` };
  return run("nsenter", ["-t", String(pid), "-a", ...cmd], { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** `inHost` without blocking the event loop. */
export function inHostAsync(h: BootedHost, dir: string, cmd: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const pid = guestPid(h, dir);
  if (!pid) return Promise.resolve({ status: 255, stdout: "", stderr: `${h.name} is not running` });
  return runAsync("nsenter", ["-t", String(pid), "-a", ...cmd], { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** Waits (bounded) until the host's systemd reports running or degraded; returns the state. */
export async function waitRunning(h: BootedHost, dir: string, timeoutMs = 240_000): Promise<string> {
  let state = "";
  await waitFor(`${h.name} to finish booting`, () => {
    state = inHost(h, dir, ["systemctl", "is-system-running"]).stdout.trim();
    return state === "running" || state === "degraded";
  }, { timeoutMs, intervalMs: 500 }).catch(() => undefined);
  return state || "unknown";
}

/** Asks the host to reboot; resolves once it has booted again (the launcher starts it anew). */
export async function rebootHost(h: BootedHost, dir: string): Promise<{ oldPid: number | undefined; newPid: number | undefined }> {
  const oldPid = nspawnPid(h, dir);
  inHost(h, dir, ["systemctl", "reboot"]);
  await waitFor(`${h.name} to go down`, () => nspawnPid(h, dir) !== oldPid, { timeoutMs: 120_000, intervalMs: 250 });
  await waitFor(`${h.name} to boot again`, () => !!guestPid(h, dir), { timeoutMs: 60_000, intervalMs: 250 });
  return { oldPid, newPid: nspawnPid(h, dir) };
}

/** Powers the host off (SIGTERM to nspawn: a clean shutdown), bounded, then SIGKILL. */
export async function powerOff(h: BootedHost, dir: string, procs: Processes): Promise<void> {
  fs.writeFileSync(path.join(dir, `${h.name}.stop`), "");
  const n = nspawnPid(h, dir);
  if (n) {
    try {
      process.kill(n, "SIGTERM");
    } catch {
      /* gone */
    }
    for (let i = 0; i < 120 && alive(n); i++) await sleep(250);
    if (alive(n)) {
      try {
        process.kill(n, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
  if (h.launcher) await procs.stop(h.launcher, 10_000);
}

/** Removes the host's cgroups (empty once its processes are gone). */
export function removeCgroups(prefix: string, host: string): void {
  for (const hier of CGROUP_HIERARCHIES) {
    const d = `/sys/fs/cgroup/${hier}/${cgroupName(prefix, host)}`;
    if (!fs.existsSync(d)) continue;
    // Child cgroups systemd made inside, deepest first.
    const all = run("find", [d, "-depth", "-type", "d"]).stdout.trim().split("\n").filter(Boolean);
    for (const c of all) {
      try {
        fs.rmdirSync(c);
      } catch {
        /* busy or gone */
      }
    }
  }
}
