/**
 * What the booted-host checks share: a host's shipped documents, its units as
 * its own systemd reports them, and the services' process identities (MainPID
 * and start time) that tell whether a converge restarted something.
 */
import { parseDocument, type HostDocument } from "../../formats/document";
import { hostCommandName } from "../../shipped/naming";
import type { RemoteCommand } from "../converge";
import type { Lab, LabHost } from "../types";

/** The host's main document as the lab's evaluation shipped it (its converge command's stdin). */
export function mainDocument(lab: Lab, host: LabHost, commands: RemoteCommand[] = lab.commandsOf(lab.evaluation)): HostDocument | undefined {
  const c = commands.find((x) => x.name === hostCommandName(host.name, "converge"));
  return c ? parseDocument(c.stdin) : undefined;
}

export interface UnitState {
  id: string;
  activeState: string;
  subState: string;
  mainPid: number;
  /** ActiveEnterTimestampMonotonic: when the unit last became active (µs since boot); changes on every restart. */
  activeSince: string;
  result: string;
  /** "no" when a Condition*= of the unit did not hold at its last start (it was skipped, not failed); also "no" for a unit never started. */
  conditionResult: string;
  /** Whether systemd ever evaluated the unit's conditions (ConditionTimestampMonotonic > 0): the unit was started at least once. */
  everStarted: boolean;
  /** enabled, disabled, static, … */
  unitFileState: string;
}

const PROPS = ["Id", "ActiveState", "SubState", "MainPID", "ActiveEnterTimestampMonotonic", "Result", "ConditionResult", "ConditionTimestampMonotonic", "UnitFileState"];

/** The units' states from the host's systemd (`systemctl show`), in the order asked. */
export function unitStates(host: LabHost, units: string[]): UnitState[] {
  if (!units.length) return [];
  const r = host.exec(["systemctl", "show", ...PROPS.map((p) => `--property=${p}`), "--", ...units], { timeoutMs: 30_000 });
  const blocks = r.stdout.trim().split(/\n\n+/);
  return blocks.map((b, i) => {
    const kv = new Map(b.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string]));
    return {
      id: kv.get("Id") || units[i],
      activeState: kv.get("ActiveState") ?? "?",
      subState: kv.get("SubState") ?? "?",
      mainPid: Number(kv.get("MainPID") ?? 0),
      activeSince: kv.get("ActiveEnterTimestampMonotonic") ?? "",
      result: kv.get("Result") ?? "",
      conditionResult: kv.get("ConditionResult") ?? "",
      everStarted: Number(kv.get("ConditionTimestampMonotonic") ?? 0) > 0,
      unitFileState: kv.get("UnitFileState") ?? "",
    };
  });
}

/** Every loaded service of the host (name → state), but the SSH logins' user managers: what "no service restarted" is judged on. */
export function serviceStates(host: LabHost): Map<string, UnitState> {
  const list = host.exec(["systemctl", "list-units", "--type=service", "--all", "--plain", "--no-legend", "--no-pager"], { timeoutMs: 30_000 });
  const names = list.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n && n.endsWith(".service"))
    // logind starts and stops root's user manager around every SSH login of the deployer: not a host service
    .filter((n) => !/^user(-runtime-dir)?@\d+\.service$/.test(n));
  return new Map(unitStates(host, names).map((s) => [s.id, s]));
}

/** Services whose process identity changed between two snapshots (restarted, started or stopped). */
export function restartedBetween(before: Map<string, UnitState>, after: Map<string, UnitState>): string[] {
  const out: string[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    if (!b) {
      if (a.activeState === "active") out.push(id);
      continue;
    }
    if (b.mainPid !== a.mainPid || b.activeSince !== a.activeSince || b.activeState !== a.activeState) out.push(id);
  }
  return out.sort();
}

/** "nova-compute.service pid 1234" for the report. */
export function pidText(s: UnitState | undefined): string {
  return s ? `${s.id.replace(/\.service$/, "")} ${s.activeState}${s.mainPid ? ` pid ${s.mainPid}` : ""}` : "(unknown)";
}

/** The services a host's roles run (Debian's units), and the stack's own units from its document. */
export function roleServices(host: LabHost, doc: HostDocument | undefined): string[] {
  const r = host.roles;
  const out: string[] = [];
  if (r.includes("messaging")) out.push("rabbitmq-server.service");
  if (r.includes("network")) out.push("ovsdb-server.service", "ovs-vswitchd.service", "neutron-openvswitch-agent.service", "neutron-dhcp-agent.service", "neutron-l3-agent.service", "neutron-metadata-agent.service");
  if (r.includes("compute")) out.push("ovsdb-server.service", "ovs-vswitchd.service", "libvirtd.service", "nova-compute.service", "neutron-openvswitch-agent.service");
  for (const e of doc?.entries ?? []) if ((e.kind === "start" || e.kind === "enable") && !out.includes(e.unit)) out.push(e.unit);
  return [...new Set(out)];
}

/** The sysctl keys and values of the document's files that `sysctl --system` applies (files with the sysctl action). */
export function shippedSysctls(doc: HostDocument): Map<string, { value: string; file: string }> {
  const out = new Map<string, { value: string; file: string }>();
  for (const e of doc.entries) {
    if (e.kind !== "file" || !e.file.actions.some((a) => a.kind === "sysctl")) continue;
    for (const line of e.file.content.split("\n")) {
      const m = /^\s*([a-z0-9_.-]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m && !line.trim().startsWith("#")) out.set(m[1], { value: m[2], file: e.file.path });
    }
  }
  return out;
}
