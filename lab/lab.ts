/**
 * The lab: booted Debian 12 hosts (systemd as PID 1 under systemd-nspawn, each
 * in its own network namespace, sshd with the key the stack pins), converged by
 * the stack's own commands exactly as in production (hostRoot /), with a
 * control plane of Debian's OpenStack services; then checks that each
 * production lesson holds on the running systems; then teardown.
 *
 *   1. prerequisites: root, Linux, apt, the Debian packages the lab and the
 *      checks name (installed with apt-get when `install` is set);
 *   2. one lab per machine (a lock, waited for, bounded); leftovers of an
 *      interrupted run removed (hosts powered off, processes by recorded PID,
 *      namespaces and cgroups by prefix, the lab directory);
 *   3. the program is evaluated under mocks with Pulumi.lab.yaml and the lab's
 *      own generated secrets (a fresh deployer key, random passwords);
 *   4. the image (root file system), the closure of the pinned packages and
 *      the lab's signed apt repository, cached in /var/tmp/vdi-lab-cache;
 *   5. the network, one root file system per host, every host booted;
 *   6. the stack's commands run over SSH in dependency order (lab/converge):
 *      the brokers first while the control plane host installs its packages,
 *      then the control plane is configured (it needs the brokers), then the
 *      rest — network node, compute hosts, the cell's host discovery;
 *   7. the checks, each recording what it saw;
 *   8. teardown, also on failure and on SIGINT/SIGTERM: hosts powered off,
 *      every process by PID, namespaces, cgroups, machine settings restored,
 *      the lab directory — and a scan that nothing was left.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { loadFleet, type Fleet } from "../stack/config/load";
import { PROJECT_DIR, fleetOf, readStackFile, withFleetChange, type Evaluation } from "../review/evaluate";
import { evaluateInChild } from "../review/offline";
import { parseDocument } from "../formats/document";
import { PROJECT } from "../stack/readStack";
import { converge, remoteCommands, type CommandRun, type RemoteCommand } from "./converge";
import { Processes, alive, must, run, sleep } from "./sys";
import { Recorder, type Check, type Lab, type LabHost } from "./types";
import { shippedSysctls } from "./checks/booted";
import { IMAGE_DEVIATIONS, buildRepo, buildRootfs, downloadClosure, UPGRADE_PACKAGE } from "./booted/image";
import { addHostNic, addScratchNamespace, addServedNic, createNetwork, destroyNetwork, labNamespaces, serveRepo, type LabNetwork } from "./booted/network";
import { bootHost, guestPid, inHost, inHostAsync, makeHostRoot, nspawnPid, powerOff, rebootHost, removeCgroups, waitRunning, type BootedHost } from "./booted/hosts";
import { leftoverCgroups, mountsUnder, raiseInotify, restore, type MachineChange } from "./booted/machine";
import { configureControlPlane, controlPlanePackages, installControlPlane, type ControlPlane } from "./booted/controlPlane";

import { LAB_PREFIX, LAB_STACK } from "./stack";
export { LAB_PREFIX, LAB_STACK };

/** What the lab itself needs on this machine, besides what each check names. */
export const BASE_NEEDS: Check["needs"] = [
  { pkg: "systemd-container", path: "/usr/bin/systemd-nspawn" },
  { pkg: "debootstrap", path: "/usr/sbin/debootstrap" },
  { pkg: "dpkg-dev", path: "/usr/bin/dpkg-scanpackages" },
  { pkg: "apt-utils", path: "/usr/bin/apt-ftparchive" },
  { pkg: "gnupg", path: "/usr/bin/gpg" },
  { pkg: "openssh-client", path: "/usr/bin/ssh" },
  { pkg: "openssh-client", path: "/usr/bin/ssh-keygen" },
  { pkg: "iproute2", path: "/usr/sbin/ip" },
  { pkg: "iproute2", path: "/usr/bin/ss" },
  { pkg: "util-linux", path: "/usr/bin/nsenter" },
  { pkg: "python3-minimal", path: "/usr/bin/python3" },
  { pkg: "bash", path: "/bin/bash" },
];

/** Where the lab keeps its hosts, keys and logs (removed at teardown). */
export const LAB_DIR = "/var/tmp/vdi-lab";
const FIXTURE_KEYS = path.join(PROJECT_DIR, "test", "fixtures", "lab-host-keys");

export interface Prerequisites {
  ok: boolean;
  /** Why the lab cannot run here (not root, not Linux, no apt). */
  blockers: string[];
  /** Debian packages whose files are missing. */
  missing: string[];
}

export function prerequisites(checks: Check[]): Prerequisites {
  const blockers: string[] = [];
  if (process.platform !== "linux") blockers.push(`the lab needs Linux (this is ${process.platform})`);
  else if (typeof process.getuid === "function" && process.getuid() !== 0) blockers.push("the lab needs root (network namespaces, systemd-nspawn, cgroups)");
  if (!fs.existsSync("/usr/bin/apt-get") || !fs.existsSync("/usr/bin/dpkg")) blockers.push("the lab needs a Debian or Ubuntu machine (apt-get and dpkg)");
  if (process.platform === "linux" && !fs.existsSync("/sys/fs/cgroup/systemd")) blockers.push("the lab needs the named systemd cgroup hierarchy (/sys/fs/cgroup/systemd) that booted hosts run in");
  const missing = new Set<string>();
  for (const n of [...BASE_NEEDS, ...checks.flatMap((c) => c.needs)]) if (!fs.existsSync(n.path)) missing.add(n.pkg);
  return { ok: blockers.length === 0 && missing.size === 0, blockers, missing: [...missing].sort() };
}

/** Installs Debian packages (no recommends: systemd-container's would change /etc/nsswitch.conf). */
export function installPackages(pkgs: string[], log: (l: string) => void): void {
  if (!pkgs.length) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log(`installing ${pkgs.join(" ")} (apt-get)`);
  const started = Date.now();
  const update = run("apt-get", ["update", "-q"], { env, timeoutMs: 300_000 });
  if (update.status !== 0) throw new Error(`apt-get update failed: ${update.stderr.trim().slice(-800)}`);
  must("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...pkgs], { env, timeoutMs: 900_000 });
  log(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export interface LabOptions {
  /** The checks to run, in order (lab/checks: ALL_CHECKS or selectChecks). */
  checks: Check[];
  /** The lab directory. Default /var/tmp/vdi-lab. */
  dir?: string;
  /** Install missing Debian packages with apt-get. */
  install?: boolean;
  /** Keep the hosts' root file systems and logs (never keys) after the run, for inspection. */
  keepDir?: boolean;
  /** Keep the booted hosts running this many seconds after the checks (at most 4 h), before teardown, to look around; Ctrl-C ends it early. */
  holdSeconds?: number;
  /** How long to wait for another lab run to finish (default 30 min). */
  lockWaitMs?: number;
  log?: (line: string) => void;
  /** Set by the caller to abort (SIGINT): checks stop at the next step boundary and teardown runs. */
  signal?: AbortSignal;
}

export interface CheckReport {
  id: string;
  title: string;
  lesson?: string;
  ms: number;
  ok: boolean;
  outcomes: Recorder["outcomes"];
  error?: string;
}

export interface LabReport {
  ok: boolean;
  /** The lab did not run (another run held the lock for too long, or prerequisites are missing); nothing was checked. */
  notRun?: string;
  ms: number;
  prerequisites: Prerequisites;
  hosts: Array<Pick<LabHost, "name" | "address" | "roles" | "cell">>;
  /** Seconds per phase (image, hosts, convergence, control plane, …). */
  phases: Record<string, number>;
  convergence?: { runs: CommandRun[]; failed?: string; skipped: string[]; ms: number };
  /** How the lab's hosts differ from real ones, and why. */
  deviations: string[];
  machineChanges: MachineChange[];
  checks: CheckReport[];
  teardown: { ok: boolean; problems: string[] };
  error?: string;
}

/** The lab's own secrets: a fresh deployer key pair and random service secrets. */
function labSecrets(dir: string): { config: Record<string, string>; publicKey: string } {
  const keyFile = path.join(dir, "deployer-key");
  must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "vdi-lab-deployer", "-f", keyFile]);
  const privateKey = fs.readFileSync(keyFile, "utf8");
  const publicKey = fs.readFileSync(`${keyFile}.pub`, "utf8");
  fs.rmSync(keyFile);
  fs.rmSync(`${keyFile}.pub`);
  const hex = (n: number) => crypto.randomBytes(n).toString("hex");
  // Hex: a cookie of 20 upper-case letters is what Debian's postinst replaces (and the config refuses).
  const cookie = crypto.randomBytes(24).toString("hex");
  return {
    publicKey,
    config: {
      sshPrivateKey: privateKey,
      rabbitmqPassword: `lab-${hex(12)}`,
      rabbitmqErlangCookie: cookie,
      novaServicePassword: `lab-${hex(12)}`,
      neutronServicePassword: `lab-${hex(12)}`,
      metadataProxySharedSecret: `lab-${hex(12)}`,
    },
  };
}

/** Every `package name version` line of the evaluation's host documents, as apt specs (name=version), once each. */
export function pinnedSpecs(evaluation: Evaluation): string[] {
  const out = new Set<string>();
  for (const c of remoteCommands(evaluation.resources)) {
    if (!c.stdin.startsWith("vdi-host-document")) continue;
    for (const e of parseDocument(c.stdin).entries) if (e.kind === "package") out.add(`${e.name}=${e.version}`);
  }
  return [...out].sort();
}

/** The hosts the lab boots: the stack's, and the control plane host its cells' discovery connects to. */
export function labHostSpecs(fleet: Fleet): Array<{ name: string; address: string; roles: string[]; cell?: string }> {
  const cp = fleet.spec.controlPlane.cellDiscovery;
  const hosts = fleet.hosts.map((h) => ({ name: h.name, address: h.address, roles: [...h.roles] as string[], cell: h.cell }));
  if (hosts.some((h) => h.name === cp.host)) throw new Error(`the control plane host ${cp.host} is also a stack host; the lab's control plane is a host of its own`);
  return [{ name: cp.host, address: cp.address, roles: ["control"] }, ...hosts];
}

/** Processes whose command line names the lab directory (what a crashed lab may have left). */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmd.includes(dir + "/") || cmd.includes(dir + "\0")) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** The booted hosts of an interrupted run: every `<name>.nspawn.pid` in the run directory. */
function recordedHosts(dir: string): string[] {
  const run = path.join(dir, "run");
  if (!fs.existsSync(run)) return [];
  return fs.readdirSync(run).filter((f) => f.endsWith(".nspawn.pid")).map((f) => f.replace(/\.nspawn\.pid$/, ""));
}

/** Removes what an interrupted lab left: hosts (clean poweroff), processes (by PID), namespaces, cgroups, directory. */
export async function cleanLeftovers(dir: string, procs: Processes, log: (l: string) => void): Promise<void> {
  const runDir = path.join(dir, "run");
  for (const name of recordedHosts(dir)) {
    const h: BootedHost = { name, address: "", ns: "", root: path.join(dir, "hosts", name) };
    if (nspawnPid(h, runDir)) {
      log(`powering off ${name}, left running by an earlier lab run`);
      await powerOff(h, runDir, procs);
    }
  }
  const recorded = path.join(dir, "pids");
  const pids = new Set<number>(processesUsing(dir));
  if (fs.existsSync(recorded)) {
    for (const line of fs.readFileSync(recorded, "utf8").split("\n")) {
      const pid = Number(line.split(" ")[0]);
      // Only a PID that still runs inside a lab namespace or names the lab directory is ours (PIDs are reused).
      if (pid > 0 && alive(pid) && (pids.has(pid) || inLabNamespace(pid))) pids.add(pid);
    }
  }
  for (const ns of labNamespaces(LAB_PREFIX)) for (const p of run("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean)) pids.add(Number(p));
  if (pids.size) log(`ending ${pids.size} process(es) left by an earlier lab run: ${[...pids].join(" ")}`);
  for (const pid of pids) await procs.stop(pid);
  const stale = labNamespaces(LAB_PREFIX);
  if (stale.length) log(`deleting namespaces left by an earlier lab run: ${stale.join(" ")}`);
  for (const ns of stale) run("ip", ["netns", "del", ns]);
  for (const cg of leftoverCgroups(LAB_PREFIX, [])) removeCgroups(LAB_PREFIX, path.basename(cg).slice(LAB_PREFIX.length + 1));
  for (const m of mountsUnder(dir).reverse()) run("umount", ["-l", m]);
  fs.rmSync(dir, { recursive: true, force: true });
}

function inLabNamespace(pid: number): boolean {
  for (const ns of labNamespaces(LAB_PREFIX)) if (run("ip", ["netns", "pids", ns]).stdout.split(/\s+/).includes(String(pid))) return true;
  return false;
}

const secs = (ms: number) => Math.round(ms / 100) / 10;

/** How the lab's hosts differ from production hosts (the report lists them; checks add what they find). */
export const HOST_DEVIATIONS = [
  "hosts are containers (systemd-nspawn) on one kernel: no kernel of their own is booted (the pinned linux-image package is installed and held, not running)",
  "no openvswitch kernel module: OVS bridges use the userspace datapath (networking.datapathType: netdev, a real deployment setting)",
  "no /dev/kvm: the lab's compute hosts run nova with virt_type qemu (hardwareProfiles.lab-host.virtType), software emulation",
  "no block devices: the instance storage is a tmpfs (hardwareProfiles.lab-host.instanceStorage.device: tmpfs)",
  "vm.*, kernel.* and fs.* sysctls and KSM's sysfs are the machine's (read-only in a container): vdi-apply skips those keys and says so; the KSM unit is skipped by its ConditionPathIsReadWrite",
  "the control plane has no Glance: nova-compute needs it only to boot an instance",
];

export async function runLab(opts: LabOptions): Promise<LabReport> {
  const started = Date.now();
  const log = opts.log ?? ((l: string) => console.log(l));
  const dir = path.resolve(opts.dir ?? LAB_DIR);
  const runDir = path.join(dir, "run");
  const checks = opts.checks;
  let pre = prerequisites(checks);
  const report: LabReport = { ok: false, ms: 0, prerequisites: pre, hosts: [], phases: {}, deviations: [...HOST_DEVIATIONS, ...IMAGE_DEVIATIONS.map((d) => `image: ${d}`)], machineChanges: [], checks: [], teardown: { ok: true, problems: [] } };
  const phase = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      report.phases[name] = secs(Date.now() - t0);
    }
  };
  if (pre.blockers.length) {
    report.error = pre.blockers.join("; ");
    return report;
  }
  if (pre.missing.length && opts.install) {
    installPackages(pre.missing, log);
    pre = report.prerequisites = prerequisites(checks);
  }
  if (!pre.ok) {
    report.error = `missing Debian packages: ${pre.missing.join(" ")} (npm run lab installs them; or apt-get install --no-install-recommends ${pre.missing.join(" ")})`;
    return report;
  }

  // One lab per machine: a second run would power off this one's hosts and delete its directory.
  const lock = await waitForLock(`${dir}.lock`, opts.lockWaitMs ?? 30 * 60_000, log, opts.signal);
  if (typeof lock === "string") {
    report.notRun = lock;
    report.error = lock;
    return report;
  }
  const procs = new Processes(dir);
  const hosts: Array<LabHost & { booted: BootedHost }> = [];
  let net: LabNetwork | undefined;
  let inotify: MachineChange | undefined;
  // Ctrl-C: end the lab's own processes (a running SSH command or install fails fast); teardown follows.
  opts.signal?.addEventListener("abort", () => void procs.stopAll());
  try {
    await cleanLeftovers(dir, procs, log);
    fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const secrets = labSecrets(dir);
    let base = readStackFile(LAB_STACK);
    for (const [k, v] of Object.entries(secrets.config)) base = { ...base, config: { ...base.config, [`${PROJECT}:${k}`]: v } };
    const loaded = loadFleet(fleetOf(base), {
      readFile: (p) => (fs.existsSync(path.resolve(PROJECT_DIR, p)) ? fs.readFileSync(path.resolve(PROJECT_DIR, p), "utf8") : undefined),
    });
    if (!loaded.ok) throw new Error(`Pulumi.${LAB_STACK}.yaml: ${loaded.problems.map((p) => p.message).join("; ")}`);
    const fleet = loaded.fleet;
    if (fleet.spec.hostRoot !== "/") throw new Error(`Pulumi.${LAB_STACK}.yaml: hostRoot is ${fleet.spec.hostRoot}; the lab's hosts are booted systems converged at / as in production`);

    log(`evaluating the program with Pulumi.${LAB_STACK}.yaml under mocks`);
    const evaluation = await phase("evaluate", () => evaluateInChild(LAB_STACK, base, { preview: false }));
    if (evaluation.error) throw new Error(`the program failed: ${evaluation.error}`);
    const commands = remoteCommands(evaluation.resources);
    const specs = labHostSpecs(fleet);
    for (const s of specs) if (s.roles[0] !== "control" && !commands.some((c) => c.host === s.address)) throw new Error(`host ${s.name} (${s.address}) has no command connecting to it`);
    for (const c of commands) if (!specs.some((s) => s.address === c.host)) throw new Error(`command ${c.name} connects to ${c.host}, which is not a lab host`);

    // The image, the pinned packages' closure and the signed repository (cached).
    const cp = controlPlanePackages(fleet);
    const { upgradeVersion } = await phase("image", () => {
      buildRootfs(log);
      downloadClosure([...pinnedSpecs(evaluation), ...cp], log);
      return buildRepo(log);
    });
    const upgradeFrom = pinnedSpecs(evaluation).find((s) => s.startsWith(`${UPGRADE_PACKAGE}=`))?.split("=")[1];
    if (!upgradeFrom) throw new Error(`no host of the lab installs ${UPGRADE_PACKAGE}, the package the upgrade check moves`);

    // The machine's own values of every sysctl key the stack ships, before anything boots.
    const rootSysctlsBefore = new Map<string, string>();
    for (const c of commands) {
      if (!c.stdin.startsWith("vdi-host-document")) continue;
      for (const key of shippedSysctls(parseDocument(c.stdin)).keys()) {
        const p = `/proc/sys/${key.replace(/\./g, "/")}`;
        if (fs.existsSync(p)) rootSysctlsBefore.set(key, fs.readFileSync(p, "utf8").trim().replace(/\s+/g, " "));
      }
    }

    // Network, roots, boot.
    await phase("hosts", async () => {
      log(`creating the lab network and ${specs.length} hosts (${specs.map((s) => s.name).join(", ")})`);
      net = createNetwork(LAB_PREFIX, specs);
      inotify = raiseInotify(specs.length);
      if (inotify) report.machineChanges.push(inotify);
      for (const s of specs) {
        const ns = net.ns.get(s.name)!;
        if (s.roles.includes("network") || s.roles.includes("compute")) for (const b of fleet.spec.networking.bridges) addHostNic(ns, b.interface);
        if (s.roles.includes("network")) {
          fleet.spec.networking.dhcp.extraDnsmasq.forEach((d, i) => {
            const [a, b, c] = d.dhcpRange.split(",")[0].split(".");
            addServedNic(ns, d.interface, `${a}.${b}.${c}.1/24`, `${LAB_PREFIX}-dhcpc${i}`, "eth0");
          });
        }
      }
      await serveRepo(net, path.join("/var/tmp/vdi-lab-cache", "repo"), runDir, procs);
      for (const s of specs) {
        const keyFile = path.join(FIXTURE_KEYS, s.name);
        if (!fs.existsSync(keyFile)) throw new Error(`no lab host key test/fixtures/lab-host-keys/${s.name}: every lab host needs one (its public half in inventory/lab.known_hosts)`);
        const booted: BootedHost = { name: s.name, address: s.address, ns: net.ns.get(s.name)!, root: path.join(dir, "hosts", s.name) };
        makeHostRoot(booted, { hostKey: fs.readFileSync(keyFile, "utf8"), authorizedKey: secrets.publicKey, hostsLines: [`127.0.1.1\t${s.name}`] });
        hosts.push({
          ...s,
          ns: booted.ns,
          root: booted.root,
          booted,
          exec: (cmd, o) => inHost(booted, runDir, cmd, o),
          sh: (script, o) => inHost(booted, runDir, ["bash", "-c", script], o),
          shAsync: (script, o) => inHostAsync(booted, runDir, ["bash", "-c", script], o),
        });
      }
      for (const h of hosts) bootHost(h.booted, { dir: runDir, prefix: LAB_PREFIX, procs });
      const states = await Promise.all(hosts.map((h) => waitRunning(h.booted, runDir)));
      const bad = hosts.filter((_, i) => states[i] !== "running");
      if (bad.length) throw new Error(`hosts did not boot to "running": ${bad.map((h, i) => `${h.name} (${states[hosts.indexOf(h)] ?? i})`).join(", ")}`);
    });
    report.hosts = hosts.map(({ name, address, roles, cell }) => ({ name, address, roles, cell }));
    const ctl = hosts.find((h) => h.roles.includes("control"))!;

    // Converge: brokers first (the control plane installs meanwhile), control plane, the rest.
    const roleOf = (c: RemoteCommand) => hosts.find((h) => h.address === c.host)!;
    const brokerOnly = commands.filter((c) => {
      const h = roleOf(c);
      return h.roles.includes("messaging") && !h.roles.includes("network") && !h.roles.includes("compute");
    });
    const rest = commands.filter((c) => !brokerOnly.includes(c));
    const convergeOpts = { ctlNs: net!.ctlNs, dir: runDir };
    const onRun = (r: CommandRun) => log(`  wave ${r.wave} ${r.name}: ${r.status === 0 ? "ok" : `FAILED (exit ${r.status})`} ${r.summary ?? ""} ${(r.ms / 1000).toFixed(1)} s`);
    const c0 = Date.now();
    log(`converging the brokers (${brokerOnly.length} commands) while ${ctl.name} installs the control plane`);
    const [first, installed] = await Promise.all([
      phase("converge brokers", () => converge(brokerOnly, { ...convergeOpts, onRun })),
      phase("control plane install", () => installControlPlane(ctl, { repoUrl: net!.repoUrl, fleet, log, signal: opts.signal })),
    ]);
    if (opts.signal?.aborted) throw new Error("interrupted");
    report.convergence = { runs: [...first.runs], failed: first.failed?.name, skipped: first.skipped, ms: Date.now() - c0 };
    if (first.failed) throw new Error(`convergence stopped: ${first.failed.name} failed (exit ${first.failed.status})${first.failed.error ? `: ${first.failed.error}` : ""}`);
    const controlPlane: ControlPlane = await phase("control plane configure", () => configureControlPlane(ctl, { fleet, secrets: secrets.config, installed, log }));
    log(`converging the rest (${rest.length} commands)`);
    const second = await phase("converge rest", () => converge(rest, { ...convergeOpts, onRun }));
    report.convergence = { runs: [...first.runs, ...second.runs], failed: second.failed?.name, skipped: second.skipped, ms: Date.now() - c0 };
    if (opts.signal?.aborted) throw new Error("interrupted");
    if (second.failed) throw new Error(`convergence stopped: ${second.failed.name} failed (exit ${second.failed.status})${second.failed.error ? `: ${second.failed.error}` : ""}; not run: ${second.skipped.join(", ") || "none"}`);

    let scratchCount = 0;
    const lab: Lab = {
      dir,
      ctlNs: net!.ctlNs,
      ctlAddress: net!.ctlAddress,
      hosts,
      procs,
      fleet,
      evaluation,
      scratch: (name) => {
        const d = path.join(dir, "scratch", name);
        fs.rmSync(d, { recursive: true, force: true });
        fs.mkdirSync(d, { recursive: true });
        return d;
      },
      scratchHost: (host, name) => {
        const address = `${net!.ctlAddress.replace(/\.1$/, "")}.${200 + scratchCount++}`;
        const s = addScratchNamespace(net!, name, address);
        return { ...host, ns: s.ns, address: s.address, remove: s.remove };
      },
      host: (name) => {
        const h = hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no lab host ${name}`);
        return h;
      },
      hostsWithRole: (role) => hosts.filter((h) => h.roles.includes(role)),
      evaluateWith: (changes) => {
        let sf = base;
        for (const [p, v] of changes) sf = withFleetChange(sf, p, v);
        return evaluateInChild(LAB_STACK, sf, { preview: false });
      },
      commandsOf: (ev) => remoteCommands(ev.resources),
      converge: (cmds: RemoteCommand[]) => converge(cmds, { ...convergeOpts, all: commands }),
      reboot: async (h) => {
        const t0 = Date.now();
        await rebootHost((h as (typeof hosts)[number]).booted, runDir);
        const state = await waitRunning((h as (typeof hosts)[number]).booted, runDir);
        return { state, seconds: secs(Date.now() - t0) };
      },
      upgrade: { pkg: UPGRADE_PACKAGE, from: upgradeFrom, to: upgradeVersion },
      controlPlane: controlPlane.access,
      deviations: report.deviations,
      rootSysctlsBefore,
    };

    for (const check of checks) {
      if (opts.signal?.aborted) throw new Error("interrupted");
      const rec = new Recorder();
      const t0 = Date.now();
      log(`check ${check.id}: ${check.title}`);
      let error: string | undefined;
      try {
        await check.run(lab, rec);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      const r: CheckReport = { id: check.id, title: check.title, lesson: check.lesson, ms: Date.now() - t0, ok: !error && rec.ok, outcomes: rec.outcomes, error };
      report.checks.push(r);
      for (const o of rec.outcomes) log(`  ${o.ok ? "✔" : "✘"} ${o.negative ? "[negative control] " : ""}${o.what}${o.detail ? ` — ${o.detail}` : ""}`);
      if (error) log(`  ✘ error: ${error}`);
      else if (!rec.outcomes.length) log("  ✘ the check recorded nothing");
    }
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
  } finally {
    try {
      if (opts.holdSeconds && hosts.length && !opts.signal?.aborted) await hold(Math.min(opts.holdSeconds, 4 * 3600), hosts, runDir, log, opts.signal);
      report.teardown = await phase("teardown", () => teardown(dir, procs, hosts, inotify, !!opts.keepDir, log));
    } finally {
      lock.release();
    }
  }
  report.ms = Date.now() - started;
  report.ok = !report.error && report.teardown.ok && report.checks.length === checks.length && report.checks.every((c) => c.ok);
  return report;
}

/**
 * An exclusive lock: a directory made atomically, holding the owner's PID. A lock
 * whose owner is gone is taken over. Returns why it could not be taken, or a release.
 */
export function takeLock(lockDir: string): { release: () => void } | string {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, "pid"), String(process.pid));
      return { release: () => fs.rmSync(lockDir, { recursive: true, force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") return `cannot create the lab lock ${lockDir}: ${(e as Error).message}`;
      let owner = 0;
      try {
        owner = Number(fs.readFileSync(path.join(lockDir, "pid"), "utf8"));
      } catch {
        /* being written, or left half-made */
      }
      if (owner > 0 && owner !== process.pid && alive(owner)) return `another lab run (pid ${owner}) is using ${lockDir.replace(/\.lock$/, "")}`;
      fs.rmSync(lockDir, { recursive: true, force: true });
    }
  }
  return `cannot take the lab lock ${lockDir}`;
}

/** Takes the lock, waiting (bounded) while another lab run holds it; returns why it could not. */
export async function waitForLock(lockDir: string, waitMs: number, log: (l: string) => void, signal?: AbortSignal): Promise<{ release: () => void } | string> {
  const deadline = Date.now() + waitMs;
  let said = false;
  for (let i = 0; ; i++) {
    const lock = takeLock(lockDir);
    if (typeof lock !== "string" || !lock.startsWith("another lab run")) return lock;
    if (Date.now() >= deadline) return `${lock}, still after waiting ${Math.round(waitMs / 1000)} s: this run did not start (one lab per machine)`;
    if (signal?.aborted) return `${lock}; interrupted while waiting for it: this run did not start`;
    if (!said) log(`${lock}; waiting for it to finish (up to ${Math.round(waitMs / 1000)} s)`);
    said = true;
    await sleep(Math.min(5000, Math.max(100, deadline - Date.now())));
    if (i > 100_000) return lock;
  }
}

/** Keeps the hosts up for a look (`--hold`): prints how to enter each, waits (bounded, Ctrl-C ends it). */
async function hold(seconds: number, hosts: Array<{ name: string; booted: BootedHost }>, dir: string, log: (l: string) => void, signal?: AbortSignal): Promise<void> {
  log(`holding the hosts for ${seconds} s before teardown (Ctrl-C ends it); enter a host with:`);
  for (const h of hosts) {
    const pid = guestPid(h.booted, dir);
    if (pid) log(`  ${h.name}: nsenter -t ${pid} -a`);
  }
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, seconds * 1000);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** Powers every host off, ends every lab process, deletes namespaces and cgroups, restores the machine, and checks that nothing is left. */
export async function teardown(dir: string, procs: Processes, hosts: Array<{ name: string; booted: BootedHost }>, inotify: MachineChange | undefined, keepDir: boolean, log: (l: string) => void): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  const runDir = path.join(dir, "run");
  const t0 = Date.now();
  await Promise.all(hosts.map((h) => powerOff(h.booted, runDir, procs)));
  if (hosts.length) log(`hosts powered off in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const h of hosts) if (guestPid(h.booted, runDir) || nspawnPid(h.booted, runDir)) problems.push(`${h.name} still runs`);
  await procs.stopAll();
  problems.push(...(await destroyNetwork(LAB_PREFIX, procs)));
  for (const h of hosts) removeCgroups(LAB_PREFIX, h.name);
  const cg = leftoverCgroups(LAB_PREFIX, hosts.map((h) => h.name));
  if (cg.length) problems.push(`cgroups left: ${cg.join(" ")}`);
  const left = processesUsing(dir);
  if (left.length) problems.push(`processes still naming ${dir}: ${left.join(" ")}`);
  const ns = labNamespaces(LAB_PREFIX);
  if (ns.length) problems.push(`namespaces left: ${ns.join(" ")}`);
  const mounts = mountsUnder(dir);
  if (mounts.length) problems.push(`mounts left under ${dir}: ${mounts.join(" ")}`);
  const r = restore(inotify);
  if (r) problems.push(r);
  if (!keepDir || mounts.length) {
    if (!mounts.length) fs.rmSync(dir, { recursive: true, force: true });
    if (fs.existsSync(dir)) problems.push(`could not remove ${dir}`);
  } else {
    // Keys and secrets never stay behind, even when the directory is kept.
    fs.rmSync(path.join(runDir, "deployer"), { recursive: true, force: true });
    for (const h of hosts) for (const f of ["etc/ssh/ssh_host_ed25519_key", "root/.ssh"]) fs.rmSync(path.join(dir, "hosts", h.name, f), { recursive: true, force: true });
  }
  return { ok: problems.length === 0, problems };
}
