/**
 * Check 7 — idempotency. Runs the stack's commands a second time with the same
 * documents: every command must report zero changes and zero restarts. Then
 * changes one ratio of one cell in the config, re-evaluates the program and — as
 * Pulumi would — runs only the commands whose inputs changed: they must be
 * exactly the converge commands of that cell's compute hosts, and each must
 * rewrite only nova.conf. Finally the original commands are run again on those
 * hosts, which must change nova.conf back and nothing else.
 */
import * as fs from "fs";
import * as path from "path";
import { iniGet, parseIni } from "../../formats/ini";
import { fleetOf, readStackFile } from "../../review/evaluate";
import { LAB_STACK } from "../stack";
import type { RemoteCommand } from "../converge";
import type { Check, Lab, Recorder } from "../types";
import { NOVA_CONF } from "../../facts/paths";


function sameInputs(a: RemoteCommand, b: RemoteCommand): boolean {
  return a.create === b.create && a.stdin === b.stdin && a.host === b.host && a.port === b.port && a.user === b.user && a.hostKey === b.hostKey && a.privateKey === b.privateKey;
}

function cpuRatio(lab: Lab, host: string): number | undefined {
  const file = path.join(lab.host(host).root, NOVA_CONF);
  const v = iniGet(parseIni(fs.readFileSync(file, "utf8")), "DEFAULT", "cpu_allocation_ratio");
  return v === undefined ? undefined : Number(v);
}

function changedFiles(lines: string[]): string[] {
  return lines.filter((l) => /^vdi-apply: (changed|fixed-metadata) /.test(l)).map((l) => l.replace(/^vdi-apply: (changed|fixed-metadata) /, ""));
}

async function applyAndExpect(lab: Lab, rec: Recorder, cmds: RemoteCommand[], label: string, wantRatio: number, cellHosts: string[]): Promise<void> {
  const res = await lab.converge(cmds);
  for (const r of res.runs) {
    const files = changedFiles(r.lines);
    rec.expect(r.status === 0 && files.length === 1 && files[0] === NOVA_CONF, `${label}: ${r.name} rewrites only ${NOVA_CONF}`, `exit ${r.status}; changed: ${files.join(", ") || "nothing"}; ${r.summary ?? "no summary"}`);
  }
  for (const h of cellHosts) {
    const got = cpuRatio(lab, h);
    rec.expect(got === wantRatio, `${label}: ${h} nova.conf has cpu_allocation_ratio = ${wantRatio}`, `read ${got}`);
  }
}

export const idempotencyCheck: Check = {
  id: "idempotency",
  title: "Same documents change nothing; one cell's ratio change rewrites only that cell's nova.conf",
  needs: [],
  async run(lab, rec) {
    const before = lab.commandsOf(lab.evaluation);

    // 1. The same documents again: nothing changes, nothing restarts.
    const again = await lab.converge(before);
    for (const r of again.runs) {
      rec.expect(r.status === 0 && r.changes === 0 && r.restarts === 0, `re-run of ${r.name} reports zero changes and zero restarts`, r.summary ?? `exit ${r.status}, no summary line`);
    }
    if (again.failed) return;

    // 2. One ratio of one cell.
    const computes = lab.hostsWithRole("compute");
    const cells = [...new Set(computes.map((h) => h.cell).filter((c): c is string => !!c))];
    if (!cells.length) throw new Error("the lab stack has no cell with compute hosts");
    const cell = cells[0];
    const cellHosts = computes.filter((h) => h.cell === cell).map((h) => h.name);
    const current = cpuRatio(lab, cellHosts[0]);
    if (current === undefined || !(current > 0.2)) throw new Error(`${cellHosts[0]}: no usable cpu_allocation_ratio in ${NOVA_CONF} (${current})`);
    const next = Math.round((current - 0.1) * 10) / 10;
    const cellIndex = cellIndexOf(cell);
    const changedEv = await lab.evaluateWith([[`cells.${cellIndex}.overcommit.cpuAllocationRatio`, next]]);
    const after = lab.commandsOf(changedEv);
    const oldByName = new Map(before.map((c) => [c.name, c]));
    const changed = after.filter((c) => {
      const o = oldByName.get(c.name);
      return !o || !sameInputs(o, c);
    });
    const expected = cellHosts.map((h) => `${h}-converge`).sort();
    rec.expect(
      JSON.stringify(changed.map((c) => c.name).sort()) === JSON.stringify(expected),
      `cells[${cellIndex}] (${cell}) cpuAllocationRatio ${current} → ${next}: only the cell's converge commands change`,
      `changed: ${changed.map((c) => c.name).join(", ") || "none"} of ${after.length} commands`,
    );
    await applyAndExpect(lab, rec, changed, `ratio ${next}`, next, cellHosts);

    // 3. Back to the shipped config.
    const back = before.filter((c) => changed.some((x) => x.name === c.name));
    await applyAndExpect(lab, rec, back, `back to ${current}`, current, cellHosts);
  },
};

/** The index of a cell in the lab stack's `cells` list (the change is made by dotted path). */
function cellIndexOf(cell: string): number {
  const fleet = fleetOf(readStackFile(LAB_STACK)) as { cells?: Array<{ name: string }> };
  const i = (fleet.cells ?? []).findIndex((c) => c.name === cell);
  if (i < 0) throw new Error(`cell ${cell} not in Pulumi.${LAB_STACK}.yaml`);
  return i;
}
