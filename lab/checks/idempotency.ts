/**
 * Idempotency and a settings change, judged by the hosts' systemd (lab checks
 * 4 and 5, and control-plane check 2's change):
 *
 *  1. The stack's commands a second time with the same documents: every
 *     converge reports zero changes and zero restarts, and on every host no
 *     service restarted — each service's MainPID and the moment it became
 *     active (ActiveEnterTimestampMonotonic) are unchanged.
 *  2. One cell's cpuAllocationRatio changed in the config, the program
 *     evaluated again and — as Pulumi would — only the commands whose inputs
 *     changed run: exactly that cell's converge commands, each rewriting only
 *     nova.conf, and on those hosts nova-compute is the only service whose
 *     MainPID changes (elsewhere nothing restarts). Placement then shows the
 *     new VCPU allocation_ratio for each of the cell's hosts.
 *  3. The original commands again: nova.conf back, nova-compute restarted once
 *     more, Placement back to the shipped ratio.
 */
import { NOVA_CONF } from "../../facts/paths";
import type { RemoteCommand } from "../converge";
import type { Check, Lab, LabHost, Recorder } from "../types";
import { pidText, restartedBetween, serviceStates, type UnitState } from "./booted";
import { novaValue, waitForRatio } from "./placement";

function sameInputs(a: RemoteCommand, b: RemoteCommand): boolean {
  return a.create === b.create && a.stdin === b.stdin && a.host === b.host && a.port === b.port && a.user === b.user && a.hostKey === b.hostKey && a.privateKey === b.privateKey;
}

function changedFiles(lines: string[]): string[] {
  return lines.filter((l) => /^vdi-apply: (changed|fixed-metadata) /.test(l)).map((l) => l.replace(/^vdi-apply: (changed|fixed-metadata) /, ""));
}

const snapshot = (hosts: LabHost[]) => new Map(hosts.map((h) => [h.name, serviceStates(h)]));

function judgeRestarts(rec: Recorder, label: string, hosts: LabHost[], before: Map<string, Map<string, UnitState>>, expect: (h: LabHost) => string[]): void {
  for (const h of hosts) {
    const after = serviceStates(h);
    const restarted = restartedBetween(before.get(h.name)!, after);
    const want = expect(h);
    const shown = [...new Set([...want, "nova-compute.service", "rabbitmq-server.service", "neutron-openvswitch-agent.service", "libvirtd.service"])].filter((u) => after.has(u));
    rec.expect(
      JSON.stringify(restarted) === JSON.stringify(want),
      `${label}: on ${h.name} ${want.length ? `only ${want.join(", ")} restarted` : "no service restarted"} (MainPID and start time)`,
      `restarted: ${restarted.join(", ") || "none"}; ${shown.map((u) => `${pidText(before.get(h.name)!.get(u))} → pid ${after.get(u)?.mainPid}`).join(", ")}`,
    );
  }
}

async function applyRatio(lab: Lab, rec: Recorder, cmds: RemoteCommand[], label: string, want: number, cellHosts: LabHost[]): Promise<void> {
  const others = lab.hosts.filter((h) => !cellHosts.includes(h) && !h.roles.includes("control"));
  const before = snapshot([...cellHosts, ...others]);
  const res = await lab.converge(cmds);
  for (const r of res.runs) {
    const files = changedFiles(r.lines);
    rec.expect(r.status === 0 && files.length === 1 && files[0] === NOVA_CONF, `${label}: ${r.name} rewrites only ${NOVA_CONF}`, `exit ${r.status}; changed: ${files.join(", ") || "nothing"}; ${r.summary ?? "no summary"}`);
  }
  judgeRestarts(rec, label, cellHosts, before, () => ["nova-compute.service"]);
  judgeRestarts(rec, label, others, before, () => []);
  for (const h of cellHosts) {
    rec.expect(Number(novaValue(h, "cpu_allocation_ratio")) === want, `${label}: ${h.name} nova.conf has cpu_allocation_ratio = ${want}`, `read ${novaValue(h, "cpu_allocation_ratio")}`);
    const inv = await waitForRatio(lab, h, "VCPU", want);
    rec.expect(inv?.get("VCPU")?.allocation_ratio === want, `${label}: Placement shows ${h.name}'s VCPU allocation_ratio ${want}`, `Placement: ${inv?.get("VCPU")?.allocation_ratio ?? "no inventory"}`);
  }
}

export const idempotencyCheck: Check = {
  id: "idempotency",
  title: "Same documents change nothing and restart nothing (MainPIDs); one cell's CPU ratio change rewrites only its nova.conf, restarts only nova-compute, and reaches Placement; and back",
  needs: [],
  async run(lab, rec) {
    const before = lab.commandsOf(lab.evaluation);
    const hosts = lab.hosts.filter((h) => !h.roles.includes("control"));

    // 1. The same documents again: nothing changes, nothing restarts.
    const pids = snapshot(hosts);
    const again = await lab.converge(before);
    for (const r of again.runs) {
      if (r.summary === undefined) rec.expect(r.status === 0, `re-run of ${r.name} succeeds`, `exit ${r.status}`);
      else rec.expect(r.status === 0 && r.changes === 0 && r.restarts === 0, `re-run of ${r.name} reports zero changes and zero restarts`, r.summary);
    }
    if (again.failed) return;
    judgeRestarts(rec, "re-run", hosts, pids, () => []);

    // 2. One ratio of one cell.
    const computes = lab.hostsWithRole("compute");
    const cell = lab.fleet.cells.find((c) => c.hosts.length > 0);
    if (!cell) throw new Error("the lab stack has no cell with compute hosts");
    const cellHosts = computes.filter((h) => h.cell === cell.name);
    const current = Number(novaValue(cellHosts[0], "cpu_allocation_ratio"));
    if (!(current > 0.2)) throw new Error(`${cellHosts[0].name}: no usable cpu_allocation_ratio in ${NOVA_CONF} (${current})`);
    const next = Math.round((current - 0.1) * 10) / 10;
    const cellIndex = lab.fleet.cells.indexOf(cell);
    const changedEv = await lab.evaluateWith([[`cells.${cellIndex}.overcommit.cpuAllocationRatio`, next]]);
    const after = lab.commandsOf(changedEv);
    const oldByName = new Map(before.map((c) => [c.name, c]));
    const changed = after.filter((c) => {
      const o = oldByName.get(c.name);
      return !o || !sameInputs(o, c);
    });
    const expected = cellHosts.map((h) => `${h.name}-converge`).sort();
    rec.expect(
      JSON.stringify(changed.map((c) => c.name).sort()) === JSON.stringify(expected),
      `cells[${cellIndex}] (${cell.name}) cpuAllocationRatio ${current} → ${next}: only the cell's converge commands change`,
      `changed: ${changed.map((c) => c.name).join(", ") || "none"} of ${after.length} commands`,
    );
    await applyRatio(lab, rec, changed, `ratio ${next}`, next, cellHosts);

    // 3. Back to the shipped config.
    const back = before.filter((c) => changed.some((x) => x.name === c.name));
    await applyRatio(lab, rec, back, `back to ${current}`, current, cellHosts);
  },
};
