/** What the lab's checks get: the running lab, and a recorder for what they saw. */
import * as path from "path";
import type { Evaluation } from "../review/evaluate";
import type { Fleet } from "../stack/config/load";
import type { Processes, RunResult } from "./sys";
import type { CommandRun, RemoteCommand } from "./converge";

export interface LabHost {
  /** The host name (Pulumi.lab.yaml), e.g. "lab-cmp-1". */
  name: string;
  /** Its network namespace (the one its systemd-nspawn runs in). */
  ns: string;
  address: string;
  /** Its roles in the stack; the lab's control plane host has ["control"]. */
  roles: string[];
  /** Its cell (compute hosts), as in the stack config. */
  cell?: string;
  /** The host's root file system on this machine: the files the stack wrote are here. */
  root: string;
  /** Runs a command inside the booted host (all its namespaces, as its root), without SSH. */
  exec(cmd: string[], opts?: { input?: string; timeoutMs?: number }): RunResult;
  /** Runs a bash script inside the booted host. */
  sh(script: string, opts?: { timeoutMs?: number }): RunResult;
  /** `sh` without blocking the event loop (long steps that run beside the convergence). */
  shAsync(script: string, opts?: { timeoutMs?: number }): Promise<RunResult>;
}

export interface Lab {
  /** The lab directory; everything the lab writes is under it. */
  dir: string;
  /** The controller namespace: where the deployer (and every client) runs. */
  ctlNs: string;
  /** The controller namespace's address on the lab network. */
  ctlAddress: string;
  hosts: LabHost[];
  procs: Processes;
  /** The lab stack's fleet, as the program loaded it. */
  fleet: Fleet;
  /** The evaluation of the program (Pulumi.lab.yaml, under mocks) whose commands converged the hosts. */
  evaluation: Evaluation;
  /** A fresh scratch directory under the lab directory for one check. */
  scratch(name: string): string;
  /**
   * A stand-in for `host` in a namespace of its own on the lab network (its files are the booted
   * host's): for checks that run the stack's daemons by hand, beside the booted host's own. Call
   * `remove` when done (teardown removes it too).
   */
  scratchHost(host: LabHost, name: string): LabHost & { remove: () => void };
  host(name: string): LabHost;
  hostsWithRole(role: string): LabHost[];
  /** Evaluates the program again with the lab's stack file (same secrets) changed at dotted fleet paths. */
  evaluateWith(changes: Array<[dottedPath: string, value: unknown]>): Promise<Evaluation>;
  /** The remote commands of an evaluation (lab/converge). */
  commandsOf(ev: Evaluation): RemoteCommand[];
  /** Runs commands over SSH in dependency order, as the convergence did. */
  converge(commands: RemoteCommand[]): Promise<{ runs: CommandRun[]; failed?: CommandRun; skipped: string[] }>;
  /** Reboots a host (systemctl reboot inside; the launcher boots it again); resolves when it is running again. */
  reboot(host: LabHost): Promise<{ state: string; seconds: number }>;
  /** The newer build of a pinned package in the lab's repository (the upgrade check's target). */
  upgrade: { pkg: string; from: string; to: string };
  /** The lab's control plane (lab-only; lab/booted/controlPlane). */
  controlPlane: ControlPlaneAccess;
  /** Container deviations the checks found and explain (printed in the report). */
  deviations: string[];
  /** The root namespace's values of every sysctl key the stack ships, read before any host booted. */
  rootSysctlsBefore: Map<string, string>;
}

/** How checks use the lab's control plane. */
export interface ControlPlaneAccess {
  host: LabHost;
  /** Runs `openstack <args> -f json` as the lab's admin on the control plane host; parsed JSON, or throws with the CLI's error. */
  openstack<T = unknown>(args: string[]): T;
  /** Same, returning the raw result (for negative controls that expect a refusal). */
  openstackRaw(args: string[]): RunResult;
}

export interface Outcome {
  ok: boolean;
  what: string;
  detail?: string;
  /** A negative control: the unsafe setting was shown to fail. */
  negative?: boolean;
}

/** Collects what a check saw; a check passes when every recorded outcome is ok. */
export class Recorder {
  readonly outcomes: Outcome[] = [];
  pass(what: string, detail?: string, negative = false): void {
    this.outcomes.push({ ok: true, what, detail, negative });
  }
  fail(what: string, detail?: string, negative = false): void {
    this.outcomes.push({ ok: false, what, detail, negative });
  }
  /** Records `what` as passed when `cond` holds, failed otherwise (with `detail` either way). */
  expect(cond: boolean, what: string, detail?: string, negative = false): boolean {
    (cond ? this.pass : this.fail).call(this, what, detail, negative);
    return cond;
  }
  get ok(): boolean {
    return this.outcomes.length > 0 && this.outcomes.every((o) => o.ok);
  }
}

export interface Check {
  /** Short id used by `npm run lab -- --only <id>` and the jest test names. */
  id: string;
  title: string;
  /** The production lesson (docs/lessons.md) it proves, if any. */
  lesson?: string;
  /** Debian packages (binaries checked by path) it needs. */
  needs: { pkg: string; path: string }[];
  /** Runs the check; must stop every process and remove every device it made, also when it throws. */
  run(lab: Lab, rec: Recorder): Promise<void>;
}

/** The lab's first host with `role`; when there is none, the failure is recorded (naming the hosts there are). */
export function firstHostWithRole(lab: Lab, role: string, rec: Recorder): LabHost | undefined {
  const host = lab.hostsWithRole(role)[0];
  if (!host) rec.fail(`a ${role} host exists in the lab`, `hosts: ${lab.hosts.map((h) => `${h.name}[${h.roles.join(",")}]`).join(" ")}`);
  return host;
}

/** Where a host's file (an absolute path on the host) is on this machine: under the host's root. */
export function hostPath(host: LabHost, file: string): string {
  return path.join(host.root, file.slice(1));
}
