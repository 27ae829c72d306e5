/**
 * `npm run bench` works end to end at the smallest size. Benchmarks are not
 * timed tests: no time or memory is asserted here, only that the script
 * measures, writes its table and checks its budgets.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkBudgets, type Row } from "../bench/bench";

test("the benchmark runs at 50 hosts and writes its JSON and Markdown", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-bench-test-"));
  try {
    // The compiled benchmark, as `npm run bench` runs it (npm test built bin/ before jest).
    const r = spawnSync(process.execPath, ["bin/bench/bench.js", "--sizes", "50", "--out-dir", out], {
      cwd: path.join(__dirname, ".."),
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(r.stderr).not.toContain("failed");
    expect(r.status).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(out, "bench.json"), "utf8"));
    expect(json.rows).toHaveLength(1);
    expect(json.rows[0]).toMatchObject({ hosts: 50, resourcesPerComputeHost: 3, mandatoryViolations: 0 });
    expect(json.rows[0].resources).toBeGreaterThan(150);
    // The replay floor re-registered exactly what the program registered.
    expect(json.rows[0].floorSeconds).toBeGreaterThan(0);
    // The analyzer floor was measured: a pack without policies, sent the same requests.
    expect(json.rows[0].policyFloorSeconds).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, "bench.md"), "utf8")).toContain("| 50 |");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 300_000);

test("budgets are checked as the issue states them", () => {
  const row = (hosts: number, o: Partial<Row>): Row => ({
    hosts,
    resources: hosts * 3,
    resourcesPerComputeHost: 3,
    evalSeconds: 1,
    evalRssMb: 100,
    floorSeconds: 1,
    floorRssMb: 100,
    timeVsFloor: 1,
    memoryVsFloor: 1,
    msPerHost: 10,
    policySeconds: 0.1,
    policyFloorSeconds: 0.05,
    policiesVsAnalyzerFloor: 0.5,
    packStartSeconds: 2,
    renderSeconds: 0.1,
    mandatoryViolations: 0,
    ...o,
  });
  expect(checkBudgets([row(200, {}), row(2000, {})], 100)).toEqual([]);
  expect(checkBudgets([row(200, {}), row(2000, { timeVsFloor: 1.6, memoryVsFloor: 1.51, policiesVsAnalyzerFloor: 1.1, msPerHost: 12.6, resourcesPerComputeHost: 5 })], 301)).toHaveLength(6);
  // Without the 2,000-host size only the per-size budgets apply.
  expect(checkBudgets([row(50, { timeVsFloor: 9 })], 999)).toEqual([]);
});
