/**
 * The lab (lab/lab.ts) as jest tests: one test per check, each against the real
 * Debian software, after the lab hosts were converged by the stack's own
 * commands. Needs root and the lab's Debian packages: without them the lab is
 * reported as skipped with the reason — except with CI=true, where a missing
 * prerequisite fails. The convergence plan (which commands, in which order,
 * with which pinned keys) is tested without root.
 */
import * as fs from "fs";
import * as path from "path";
import { parseKnownHosts } from "../formats/knownHosts";
import { PROJECT_DIR } from "../review/evaluate";
import { ALL_CHECKS } from "../lab/checks";
import { prerequisites, runLab, type LabReport } from "../lab/lab";
import { remoteCommands, waves } from "../lab/converge";
import { runStack } from "./helpers/program";

const inCI = process.env.CI === "true" || process.env.CI === "1";
const pre = prerequisites(ALL_CHECKS);
const why = [...pre.blockers, ...(pre.missing.length ? [`missing Debian packages: ${pre.missing.join(" ")} (npm run lab installs them)`] : [])].join("; ");

describe("lab convergence plan (no root needed)", () => {
  test("the lab stack's commands run canary first, each host's credentials after its main document, and pin the inventory's host keys", async () => {
    const ev = await runStack("lab");
    expect(ev.error).toBeUndefined();
    const cmds = remoteCommands(ev.resources);
    expect(waves(cmds).map((w) => w.map((c) => c.name))).toEqual([
      ["lab-ctl-converge"],
      ["lab-ctl-credentials"],
      ["lab-cmp-1-converge"],
      ["lab-cmp-1-credentials"],
      ["lab-cmp-2-converge"],
      ["lab-cmp-2-credentials"],
    ]);
    const known = parseKnownHosts(fs.readFileSync(path.join(PROJECT_DIR, "inventory", "lab.known_hosts"), "utf8"));
    for (const c of cmds) {
      const entry = known.entries.find((k) => k.patterns.includes(c.host));
      expect(entry).toBeDefined();
      expect(c.hostKey).toBe(`${entry!.keyType} ${entry!.key}`);
    }
    expect(cmds.filter((c) => c.quiet).map((c) => c.name)).toEqual(["lab-ctl-credentials", "lab-cmp-1-credentials", "lab-cmp-2-credentials"]);
  });

  test("a dependency cycle is refused", () => {
    const base = { urn: "", host: "h", port: 22, user: "root", privateKey: "k", hostKey: "ssh-ed25519 AAAA", perDialTimeout: 1, create: "true", stdin: "", quiet: false };
    expect(() => waves([{ ...base, name: "a", after: ["b"] }, { ...base, name: "b", after: ["a"] }])).toThrow(/dependency cycle/);
  });
});

if (!pre.ok && !inCI) {
  test.skip(`lab skipped: ${why}`, () => undefined);
} else {
  describe("lab (real software; root)", () => {
    let report: LabReport;
    const log: string[] = [];

    beforeAll(async () => {
      report = await runLab({ checks: ALL_CHECKS, install: false, log: (l) => log.push(l) });
      // The readable report, as `npm run lab` prints it.
      process.stdout.write(`${log.join("\n")}\nlab: ${report.ok ? "passed" : "FAILED"} in ${(report.ms / 1000).toFixed(1)} s\n`);
    }, 15 * 60_000);

    test("prerequisites are present (in CI a missing one fails)", () => {
      expect({ blockers: report.prerequisites.blockers, missing: report.prerequisites.missing }).toEqual({ blockers: [], missing: [] });
    });

    test("every command of the stack converged its host over SSH", () => {
      expect(report.error ?? "").toBe("");
      expect(report.convergence?.failed).toBeUndefined();
      expect(report.convergence?.runs.map((r) => [r.name, r.status])).toEqual(
        ["lab-ctl-converge", "lab-ctl-credentials", "lab-cmp-1-converge", "lab-cmp-1-credentials", "lab-cmp-2-converge", "lab-cmp-2-credentials"].map((n) => [n, 0]),
      );
    });

    test.each(ALL_CHECKS.map((c) => [c.id, c.title]))("check %s: %s", (id) => {
      const c = report.checks.find((x) => x.id === id);
      expect(c).toBeDefined();
      expect(c!.error ?? "").toBe("");
      expect(c!.outcomes.filter((o) => !o.ok).map((o) => `${o.what}: ${o.detail ?? ""}`)).toEqual([]);
      expect(c!.outcomes.length).toBeGreaterThan(0);
    });

    test("teardown left nothing behind (processes, namespaces, lab directory)", () => {
      expect(report.teardown.problems).toEqual([]);
      expect(fs.existsSync("/var/tmp/vdi-lab")).toBe(false);
    });
  });
}
