/**
 * Lesson L6 through a real reboot (lab check 7). On each compute host, before
 * the reboot: a live guest port (a tap that survives, as a guest's that
 * libvirt restarts would) and a stale one (its tap deleted: the guest is gone
 * but OVS keeps the row, ofport -1), both with the external ids os-vif sets.
 * Then `systemctl reboot` (nspawn exits 133; the lab boots the host again):
 *
 *  - boot: the stack's stale-port cleanup finished before libvirtd,
 *    nova-compute and the OVS agent started, and libvirtd started after Open
 *    vSwitch (journal of this boot, monotonic time);
 *  - shutdown: libvirt-guests and libvirtd stopped before Open vSwitch
 *    (journal of the previous boot);
 *  - the stale port is gone, the live one kept; every service is back.
 *
 * Negative control (first compute host). Debian 12's own units already order
 * libvirtd after Open vSwitch, through network.target (every OVS unit has
 * Before=network.target, libvirtd.service After=network.target), and the
 * stack's cleanup unit orders them too (After= the OVS units, Before=
 * libvirtd). So the stack's ordering is shown to hold on its own: a lab-only
 * copy of Debian's libvirtd.service without After=network.target, and two
 * lab-only delays that make the wrong order visible when nothing forbids it
 * (ovs-vswitchd 5 s slower to start, libvirtd 30 s slower to stop).
 *  - without the stack's files (the two drop-ins removed, the cleanup unit
 *    disabled and moved aside): after a reboot the journal shows libvirtd
 *    starting before ovs-vswitchd started, and ovs-vswitchd stopping before
 *    libvirtd stopped — the other order, at boot and at shutdown;
 *  - the stack's files put back byte for byte (the lab-only copy and delays
 *    kept): after a reboot libvirtd starts after Open vSwitch and stops before
 *    it again. Then the lab-only files are removed.
 */
import * as fs from "fs";
import * as path from "path";
import { CLEANUP_UNIT, OVS_UNITS, dropInPath, unitPath } from "../../facts/paths";
import type { Check, Lab, LabHost, Recorder } from "../types";
import { hostPath } from "../types";
import { unitStates } from "./booted";

interface JournalLine {
  t: number;
  text: string;
}

/** systemd's own lines of one boot (-b 0 or -b -1), with monotonic timestamps. */
function journal(host: LabHost, boot: "0" | "-1"): JournalLine[] {
  const r = host.exec(["journalctl", "-b", boot, "_PID=1", "-o", "short-monotonic", "--no-pager"], { timeoutMs: 60_000 });
  return r.stdout
    .split("\n")
    .map((l) => /^\[\s*([\d.]+)\]\s+\S+\s+systemd\[1\]:\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ t: Number(m[1]), text: m[2] }));
}

/** When systemd logged `verb` (Started/Finished/Stopped/Stopping/Starting) for the unit. */
function at(lines: JournalLine[], verb: string, unit: string): number | undefined {
  return lines.find((l) => l.text.startsWith(`${verb} ${unit}`))?.t;
}

const LIBVIRT = ["libvirtd.service", "libvirt-guests.service"];
const OVS_CORE = "ovs-vswitchd.service";
const ifaceIds = (port: string) => `external-ids:iface-id=lab-${port} external-ids:iface-status=active external-ids:attached-mac=fa:16:3e:00:00:0${port.slice(-1)} external-ids:vm-uuid=00000000-0000-0000-0000-00000000000${port.slice(-1)}`;

function makePorts(host: LabHost): string {
  const script = [
    "set -e",
    "for p in taplive1 tapstale1; do ip tuntap add dev $p mode tap; ip link set $p up; done",
    `ovs-vsctl -- --may-exist add-port br-int taplive1 -- set Interface taplive1 ${ifaceIds("taplive1")}`,
    `ovs-vsctl -- --may-exist add-port br-int tapstale1 -- set Interface tapstale1 ${ifaceIds("tapstale1")}`,
    // The guest behind tapstale1 is gone (its tap with it); OVS keeps the row.
    "ip link del tapstale1",
    "sleep 1",
    "ovs-vsctl --columns=name,ofport list Interface taplive1 tapstale1 | tr -s ' ' | paste -sd ' '",
  ].join("\n");
  const r = host.sh(script, { timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`${host.name}: making the guest ports failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function order(rec: Recorder, host: LabHost, label: string, before: number | undefined, after: number | undefined, what: string, negative = false): boolean {
  return rec.expect(before !== undefined && after !== undefined && before < after, `${host.name} ${label}: ${what}`, `${before ?? "absent"} < ${after ?? "absent"} (s since boot)`, negative);
}

async function rebootAndJudge(lab: Lab, rec: Recorder, host: LabHost): Promise<void> {
  const made = makePorts(host);
  const r = await lab.reboot(host);
  if (!rec.expect(r.state === "running", `${host.name}: back to running after the reboot`, `${r.state} after ${r.seconds} s`)) return;
  const boot = journal(host, "0");
  const down = journal(host, "-1");
  const cleanupDone = at(boot, "Finished", CLEANUP_UNIT);
  // A Type=simple unit (Debian's neutron-openvswitch-agent) is logged only as "Started", when its process was forked.
  const startOf = (u: string) => at(boot, "Starting", u) ?? at(boot, "Started", u);
  for (const u of ["libvirtd.service", "nova-compute.service", "neutron-openvswitch-agent.service"]) order(rec, host, "boot", cleanupDone, startOf(u), `the stale-port cleanup finished before ${u} started`);
  order(rec, host, "boot", at(boot, "Started", OVS_CORE), at(boot, "Starting", "libvirtd.service"), `libvirtd started after Open vSwitch (${OVS_CORE})`);
  for (const u of LIBVIRT) {
    const stopped = at(down, "Stopped", u);
    if (u === "libvirt-guests.service" && stopped === undefined) continue; // not started (no guests to handle), nothing to order
    order(rec, host, "shutdown", stopped, at(down, "Stopping", OVS_CORE), `${u} stopped before Open vSwitch stopped`);
  }
  const ports = host.exec(["ovs-vsctl", "list-ports", "br-int"]).stdout.split("\n").filter(Boolean);
  const cleanupLog = host.exec(["journalctl", "-b", "0", "-u", CLEANUP_UNIT, "--no-pager", "-o", "cat"]).stdout.trim().split("\n").filter((l) => !/^(Starting|Finished|Started)/.test(l)).join(" | ");
  rec.expect(!ports.includes("tapstale1") && ports.includes("taplive1"), `${host.name}: the stale guest port is gone after the reboot, the live one kept`, `before: ${made}; after: br-int ports ${ports.join(", ") || "none"}; cleanup said: ${cleanupLog || "(nothing)"}`);
  const states = unitStates(host, ["libvirtd.service", "nova-compute.service", "neutron-openvswitch-agent.service", OVS_CORE]);
  rec.expect(states.every((s) => s.activeState === "active"), `${host.name}: its services are back after the reboot`, states.map((s) => `${s.id}=${s.activeState} pid ${s.mainPid}`).join(", "));
  host.sh("ovs-vsctl --if-exists del-port br-int taplive1; ip link del taplive1 2>/dev/null; true");
}

/** Lab-only files that take away Debian's own ordering and make a wrong order visible (never part of the stack). */
function labOnlyFiles(host: LabHost): Array<[string, string]> {
  const debian = fs.readFileSync(hostPath(host, "/lib/systemd/system/libvirtd.service"), "utf8");
  const header = "# vdi lab negative control: not part of the stack\n";
  return [
    ["/etc/systemd/system/libvirtd.service", header + debian.split("\n").filter((l) => l.trim() !== "After=network.target").join("\n")],
    ["/etc/systemd/system/ovs-vswitchd.service.d/90-vdi-lab-slow-start.conf", `${header}[Service]\nExecStartPre=/bin/sleep 5\n`],
    // 30 s: at shutdown Open vSwitch also waits for the OVS agent to stop (5–12 s measured), so a shorter delay could hide the wrong order.
    ["/etc/systemd/system/libvirtd.service.d/90-vdi-lab-slow-stop.conf", `${header}[Service]\nExecStopPost=/bin/sleep 30\n`],
  ];
}

/** The boot and shutdown order of libvirtd against ovs-vswitchd in the journal of the last reboot. */
function libvirtOrder(host: LabHost): { bootFirst?: "libvirtd" | "ovs"; downFirst?: "libvirtd" | "ovs"; detail: string } {
  const boot = journal(host, "0");
  const down = journal(host, "-1");
  const libvirtStart = at(boot, "Starting", "libvirtd.service");
  const ovsStarted = at(boot, "Started", OVS_CORE);
  const libvirtStopped = at(down, "Stopped", "libvirtd.service");
  const ovsStopping = at(down, "Stopping", OVS_CORE);
  const first = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : a < b ? "libvirtd" : "ovs");
  return {
    bootFirst: first(libvirtStart, ovsStarted),
    downFirst: first(libvirtStopped, ovsStopping),
    detail: `boot: libvirtd starting at ${libvirtStart ?? "?"}, ${OVS_CORE} started at ${ovsStarted ?? "?"}; shutdown: libvirtd stopped at ${libvirtStopped ?? "?"}, ${OVS_CORE} stopping at ${ovsStopping ?? "?"} (s since boot)`,
  };
}

async function negativeControl(lab: Lab, rec: Recorder, h: LabHost): Promise<void> {
  const stackFiles = [...LIBVIRT.map((u) => dropInPath(u)), unitPath(CLEANUP_UNIT)];
  const saved = stackFiles.map((p) => (fs.existsSync(hostPath(h, p)) ? fs.readFileSync(hostPath(h, p)) : undefined));
  if (!rec.expect(saved.every(Boolean), `${h.name}: the stack's files ${stackFiles.join(", ")} are there`)) return;
  const labOnly = labOnlyFiles(h);
  const removeLabOnly = () => {
    for (const [p] of labOnly) fs.rmSync(hostPath(h, p), { force: true });
    const dir = hostPath(h, "/etc/systemd/system/ovs-vswitchd.service.d");
    if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  };
  try {
    for (const [p, text] of labOnly) {
      fs.mkdirSync(path.dirname(hostPath(h, p)), { recursive: true });
      fs.writeFileSync(hostPath(h, p), text);
    }
    try {
      const off = h.exec(["systemctl", "disable", CLEANUP_UNIT]);
      for (const p of stackFiles) fs.renameSync(hostPath(h, p), `${hostPath(h, p)}.lab-aside`);
      h.exec(["systemctl", "daemon-reload"]);
      if (!rec.expect(off.status === 0, `${h.name}: the stack's drop-ins removed and ${CLEANUP_UNIT} disabled and moved aside`, off.stderr.trim())) return;
      const r = await lab.reboot(h);
      const o = libvirtOrder(h);
      rec.expect(r.state === "running" && o.bootFirst === "libvirtd" && o.downFirst === "ovs", `without the stack's files (and without Debian's network.target ordering), ${h.name} rebooted: libvirtd started before Open vSwitch and stopped after it`, `${r.state} after ${r.seconds} s; ${o.detail}`, true);
    } finally {
      stackFiles.forEach((p, i) => {
        fs.rmSync(`${hostPath(h, p)}.lab-aside`, { force: true });
        fs.writeFileSync(hostPath(h, p), saved[i]!);
      });
      h.exec(["systemctl", "daemon-reload"]);
      const on = h.exec(["systemctl", "enable", CLEANUP_UNIT]);
      if (on.status !== 0) rec.fail(`${h.name}: ${CLEANUP_UNIT} enabled again`, on.stderr.trim());
    }
    const back = await lab.reboot(h);
    const o = libvirtOrder(h);
    rec.expect(back.state === "running" && o.bootFirst === "ovs" && o.downFirst === "libvirtd", `the stack's files put back byte for byte (the lab-only copy and delays kept), ${h.name} rebooted: libvirtd started after Open vSwitch and stopped before it`, `${back.state} after ${back.seconds} s; ${o.detail}`);
  } finally {
    removeLabOnly();
    h.exec(["systemctl", "daemon-reload"]);
  }
  const after = h.exec(["systemctl", "show", "-p", "After", "--value", "libvirtd.service"]).stdout.split(/\s+/);
  const states = unitStates(h, ["libvirtd.service", CLEANUP_UNIT, OVS_CORE]);
  rec.expect(
    OVS_UNITS.every((u) => after.includes(u)) && after.includes("network.target") && states.every((s) => s.activeState === "active"),
    `${h.name}: the lab-only files removed; libvirtd is Debian's unit with the stack's drop-ins again`,
    `After includes ${[...OVS_UNITS, "network.target"].filter((u) => after.includes(u)).join(" ")}; ${states.map((s) => `${s.id}=${s.activeState}`).join(", ")}`,
  );
}

export const rebootCheck: Check = {
  id: "reboot",
  lesson: "L6",
  title: "A reboot: stale guest ports cleaned before libvirtd, nova-compute and the OVS agent start; libvirt after Open vSwitch at boot and before it at shutdown",
  needs: [],
  async run(lab, rec) {
    const computes = lab.hostsWithRole("compute");
    if (!computes.length) throw new Error("no compute host in the lab");
    for (const h of computes) await rebootAndJudge(lab, rec, h);

    await negativeControl(lab, rec, computes[0]);
  },
};
