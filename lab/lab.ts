/**
 * The lab: converges lab hosts (network namespaces with their own sshd, on this
 * machine) with the stack's own commands, then proves each production lesson
 * against the real Debian software, and tears everything down.
 *
 *   1. prerequisites: root, Linux, the Debian packages the checks name (installed
 *      with apt-get when `install` is set);
 *   2. leftovers of an interrupted lab are removed (processes by recorded PID,
 *      namespaces by prefix, the lab directory);
 *   3. the program is evaluated under mocks with Pulumi.lab.yaml and the lab's own
 *      generated secrets (a fresh SSH key, random passwords);
 *   4. the topology is created from the hosts the commands connect to;
 *   5. the stack's remote commands run over SSH in dependency order (lab/converge);
 *   6. the checks run, each recording what it saw;
 *   7. teardown, also on failure and on SIGINT/SIGTERM: every process by PID, every
 *      namespace, the lab directory — and a scan that nothing was left.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { loadFleet } from "../stack/config/load";
import { PROJECT_DIR, fleetOf, readStackFile, withFleetChange } from "../review/evaluate";
import { evaluateInChild } from "../review/offline";
import { hostRootOf } from "../render/document";
import { PROJECT } from "../stack/readStack";
import { converge, remoteCommands, type CommandRun, type RemoteCommand } from "./converge";
import { createTopology, destroyTopology, labNamespaces, type Topology } from "./topology";
import { Processes, alive, must, run } from "./sys";
import { Recorder, type Check, type Lab, type LabHost } from "./types";

import { LAB_PREFIX, LAB_STACK } from "./stack";
export { LAB_PREFIX, LAB_STACK };

/** What the lab itself needs, besides what each check names. */
export const BASE_NEEDS: Check["needs"] = [
  { pkg: "openssh-server", path: "/usr/sbin/sshd" },
  { pkg: "openssh-client", path: "/usr/bin/ssh" },
  { pkg: "openssh-client", path: "/usr/bin/ssh-keygen" },
  { pkg: "iproute2", path: "/usr/sbin/ip" },
  { pkg: "iproute2", path: "/usr/bin/ss" },
  { pkg: "util-linux", path: "/usr/bin/unshare" },
  { pkg: "bash", path: "/bin/bash" },
];

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
  else if (typeof process.getuid === "function" && process.getuid() !== 0) blockers.push("the lab needs root (network namespaces, sshd, OVS, dnsmasq)");
  if (!fs.existsSync("/usr/bin/apt-get") || !fs.existsSync("/usr/bin/dpkg")) blockers.push("the lab needs a Debian or Ubuntu machine (apt-get and dpkg)");
  const missing = new Set<string>();
  for (const n of [...BASE_NEEDS, ...checks.flatMap((c) => c.needs)]) if (!fs.existsSync(n.path)) missing.add(n.pkg);
  return { ok: blockers.length === 0 && missing.size === 0, blockers, missing: [...missing].sort() };
}

/** Installs Debian packages (no recommends; daemons are not started by the lab's own run). */
export function installPackages(pkgs: string[], log: (l: string) => void): void {
  if (!pkgs.length) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log(`installing ${pkgs.join(" ")} (apt-get)`);
  const started = Date.now();
  const update = run("apt-get", ["update", "-q"], { env, timeoutMs: 300_000 });
  if (update.status !== 0) throw new Error(`apt-get update failed: ${update.stderr.trim().slice(-800)}`);
  must("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...pkgs], { env, timeoutMs: 600_000 });
  log(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export interface LabOptions {
  /** The checks to run, in order (lab/checks: ALL_CHECKS or selectChecks). */
  checks: Check[];
  /** The lab directory; the hostRoot of Pulumi.lab.yaml must be under it. Default /var/tmp/vdi-lab. */
  dir?: string;
  /** Install missing Debian packages with apt-get. */
  install?: boolean;
  /** Keep the lab directory (not processes or namespaces) after the run, for inspection. */
  keepDir?: boolean;
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
  ms: number;
  prerequisites: Prerequisites;
  hosts: LabHost[];
  convergence?: { runs: CommandRun[]; failed?: string; skipped: string[]; ms: number };
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

/** Removes what an interrupted lab left: its processes (by the PIDs it recorded, if still ours), namespaces, directory. */
export async function cleanLeftovers(dir: string, procs: Processes, log: (l: string) => void): Promise<void> {
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
  fs.rmSync(dir, { recursive: true, force: true });
}

function inLabNamespace(pid: number): boolean {
  for (const ns of labNamespaces(LAB_PREFIX)) if (run("ip", ["netns", "pids", ns]).stdout.split(/\s+/).includes(String(pid))) return true;
  return false;
}

export async function runLab(opts: LabOptions): Promise<LabReport> {
  const started = Date.now();
  const log = opts.log ?? ((l: string) => console.log(l));
  const dir = path.resolve(opts.dir ?? "/var/tmp/vdi-lab");
  const checks = opts.checks;
  let pre = prerequisites(checks);
  const report: LabReport = { ok: false, ms: 0, prerequisites: pre, hosts: [], checks: [], teardown: { ok: true, problems: [] } };
  if (pre.blockers.length) {
    report.error = pre.blockers.join("; ");
    return report;
  }
  if (pre.missing.length && opts.install) {
    installPackages(pre.missing, log);
    pre = report.prerequisites = prerequisites(checks);
  }
  if (!pre.ok) {
    report.error = `missing Debian packages: ${pre.missing.join(" ")} (npm run lab installs them; or apt-get install ${pre.missing.join(" ")})`;
    return report;
  }

  // One lab per machine: a second run would delete this one's namespaces and directory.
  const lock = takeLock(`${dir}.lock`);
  if (typeof lock === "string") {
    report.error = lock;
    return report;
  }
  const procs = new Processes(dir);
  // Ctrl-C: end every lab process at once (the running check then fails fast); teardown follows.
  opts.signal?.addEventListener("abort", () => void procs.stopAll());
  let topo: Topology | undefined;
  try {
    await cleanLeftovers(dir, procs, log);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const secrets = labSecrets(dir);
    let base = readStackFile(LAB_STACK);
    for (const [k, v] of Object.entries(secrets.config)) base = { ...base, config: { ...base.config, [`${PROJECT}:${k}`]: v } };

    // Hosts, roles and roots as the program sees them.
    const loaded = loadFleet(fleetOf(base), {
      readFile: (p) => (fs.existsSync(path.resolve(PROJECT_DIR, p)) ? fs.readFileSync(path.resolve(PROJECT_DIR, p), "utf8") : undefined),
    });
    if (!loaded.ok) throw new Error(`Pulumi.${LAB_STACK}.yaml: ${loaded.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
    const fleet = loaded.fleet;
    log(`evaluating the program with Pulumi.${LAB_STACK}.yaml under mocks`);
    const evaluation = await evaluateInChild(LAB_STACK, base, { preview: false });
    // This lab has no OpenStack control plane: the cells' host-discovery commands (nova-manage on
    // the control plane) are not run, and the report says so.
    const all = remoteCommands(evaluation.resources);
    const commands = all.filter((c) => !c.name.endsWith("-discover-hosts"));
    for (const c of all.filter((x) => !commands.includes(x))) log(`not run: ${c.name} (nova-manage on the control plane; this lab has none)`);

    const hostSpecs = fleet.hosts.map((h) => ({ spec: h, root: hostRootOf(fleet, h) }));
    for (const h of hostSpecs) {
      if (!h.root.startsWith(dir + "/")) throw new Error(`host ${h.spec.name}: hostRoot ${h.root} is not under the lab directory ${dir}; the lab writes nothing outside it`);
      if (!commands.some((c) => c.host === h.spec.address)) throw new Error(`host ${h.spec.name} (${h.spec.address}) has no command connecting to it`);
    }
    for (const c of commands) if (!hostSpecs.some((h) => h.spec.address === c.host)) throw new Error(`command ${c.name} connects to ${c.host}, which is not a lab host`);

    log(`creating ${hostSpecs.length} lab hosts (namespaces ${LAB_PREFIX}-*, sshd each) and the controller namespace`);
    topo = await createTopology({
      dir,
      prefix: LAB_PREFIX,
      hosts: hostSpecs.map((h) => ({ name: h.spec.name, address: h.spec.address, sshPort: h.spec.sshPort })),
      authorizedKey: secrets.publicKey,
      procs,
    });
    const hosts: LabHost[] = hostSpecs.map((h) => ({ name: h.spec.name, ns: topo!.ns.get(h.spec.name)!, address: h.spec.address, roles: [...h.spec.roles], cell: h.spec.cell, root: h.root }));
    report.hosts = hosts;

    const convergeOpts = { ctlNs: topo.ctlNs, dir };
    const c0 = Date.now();
    log(`converging: ${commands.length} commands`);
    const result = await converge(commands, { ...convergeOpts, onRun: (r) => log(`  wave ${r.wave} ${r.name}: ${r.status === 0 ? "ok" : `FAILED (exit ${r.status})`} ${r.summary ?? ""} ${(r.ms / 1000).toFixed(1)} s`) });
    if (opts.signal?.aborted) throw new Error("interrupted");
    report.convergence = { runs: result.runs, failed: result.failed?.name, skipped: result.skipped, ms: Date.now() - c0 };
    if (result.failed) throw new Error(`convergence stopped: ${result.failed.name} failed (exit ${result.failed.status})${result.failed.error ? `: ${result.failed.error}` : ""}; not run: ${result.skipped.join(", ") || "none"}`);

    const lab: Lab = {
      dir,
      ctlNs: topo.ctlNs,
      ctlAddress: topo.ctlAddress,
      hosts,
      procs,
      evaluation,
      scratch: (name) => {
        const d = path.join(dir, "scratch", name);
        fs.rmSync(d, { recursive: true, force: true });
        fs.mkdirSync(d, { recursive: true });
        return d;
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
      commandsOf: (ev) => remoteCommands(ev.resources).filter((c) => !c.name.endsWith("-discover-hosts")),
      converge: (cmds: RemoteCommand[]) => converge(cmds, convergeOpts),
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
      report.teardown = await teardown(dir, procs, topo, !!opts.keepDir);
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
      if (owner > 0 && owner !== process.pid && alive(owner)) return `another lab run (pid ${owner}) is using ${lockDir.replace(/\.lock$/, "")}; wait for it to finish (one lab per machine)`;
      fs.rmSync(lockDir, { recursive: true, force: true });
    }
  }
  return `cannot take the lab lock ${lockDir}`;
}

/** Ends every lab process by PID, deletes the namespaces and the lab directory, and checks that nothing is left. */
export async function teardown(dir: string, procs: Processes, topo: Topology | undefined, keepDir: boolean): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  await procs.stopAll();
  problems.push(...(await destroyTopology(LAB_PREFIX, procs, topo ? topo.sshd.values() : [])));
  const left = processesUsing(dir);
  if (left.length) problems.push(`processes still naming ${dir}: ${left.join(" ")}`);
  const ns = labNamespaces(LAB_PREFIX);
  if (ns.length) problems.push(`namespaces left: ${ns.join(" ")}`);
  if (!keepDir) {
    fs.rmSync(dir, { recursive: true, force: true });
    if (fs.existsSync(dir)) problems.push(`could not remove ${dir}`);
  } else {
    // Keys and secrets never stay behind, even when the directory is kept.
    fs.rmSync(path.join(dir, "deployer"), { recursive: true, force: true });
    fs.rmSync(path.join(dir, "sshd"), { recursive: true, force: true });
  }
  return { ok: problems.length === 0, problems };
}
