/**
 * The lab (lab/lab.ts) as jest tests: one test per check, each against booted
 * Debian 12 hosts converged by the stack's own commands and the lab's control
 * plane. Needs root and the lab's Debian packages: without them the lab is
 * reported as skipped with the reason — except with CI=true, where a missing
 * prerequisite fails. `npm run test:lab` runs it (as root); `npm test` does
 * not. The convergence plan (which commands, in which order, with which pinned
 * keys) is tested without root in labPlan.test.ts.
 */
import * as fs from "fs";
import { ALL_CHECKS } from "../lab/checks";
import { ORDER } from "./helpers/labOrder";
import { LAB_DIR, prerequisites, runLab, type LabReport } from "../lab/lab";

const inCI = process.env.CI === "true" || process.env.CI === "1";
const pre = prerequisites(ALL_CHECKS);
const why = [...pre.blockers, ...(pre.missing.length ? [`missing Debian packages: ${pre.missing.join(" ")} (npm run lab installs them)`] : [])].join("; ");

if (!pre.ok && !inCI) {
  test.skip(`lab skipped: ${why}`, () => undefined);
} else {
  describe("lab (booted Debian 12 hosts and a control plane; root)", () => {
    let report: LabReport;
    const log: string[] = [];

    beforeAll(async () => {
      report = await runLab({ checks: ALL_CHECKS, install: false, log: (l) => log.push(l) });
      // The readable report, as `npm run lab` prints it.
      const checkSeconds = Object.fromEntries(report.checks.map((c) => [c.id, Number((c.ms / 1000).toFixed(1))]));
      process.stdout.write(`${log.join("\n")}\nlab: ${report.ok ? "passed" : "FAILED"} in ${(report.ms / 1000).toFixed(1)} s; phases ${JSON.stringify(report.phases)}; checks ${JSON.stringify(checkSeconds)}\n`);
    }, 75 * 60_000);

    test("prerequisites are present (in CI a missing one fails)", () => {
      expect({ blockers: report.prerequisites.blockers, missing: report.prerequisites.missing }).toEqual({ blockers: [], missing: [] });
    });

    test("the lab ran (it was not left out for another run holding the lock)", () => {
      expect(report.notRun ?? "").toBe("");
    });

    test("every command of the stack converged its booted host over SSH", () => {
      expect(report.error ?? "").toBe("");
      expect(report.convergence?.failed).toBeUndefined();
      expect(report.convergence?.runs.map((r) => [r.name, r.status])).toEqual(ORDER.map((n) => [n, 0]));
    });

    test.each(ALL_CHECKS.map((c) => [c.id, c.title]))("check %s: %s", (id) => {
      const c = report.checks.find((x) => x.id === id);
      expect(c).toBeDefined();
      expect(c!.error ?? "").toBe("");
      expect(c!.outcomes.filter((o) => !o.ok).map((o) => `${o.what}: ${o.detail ?? ""}`)).toEqual([]);
      expect(c!.outcomes.length).toBeGreaterThan(0);
    });

    test("teardown left nothing behind (hosts, processes, namespaces, cgroups, mounts, machine settings, the lab directory)", () => {
      expect(report.teardown.problems).toEqual([]);
      expect(fs.existsSync(LAB_DIR)).toBe(false);
    });
  });
}
