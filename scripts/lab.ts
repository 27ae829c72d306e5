/**
 * `npm run lab [-- --only nova,ovs] [--no-install] [--keep-dir] [--hold <s>] [--json <file>]`
 * `npm run lab -- --install-only`: install the Debian packages the lab needs, and exit.
 *
 * Runs the lab (lab/lab.ts) on this machine: root and Debian/Ubuntu required.
 * Installs the Debian packages it needs (unless --no-install), converges the lab
 * hosts with the stack's own commands, runs the checks, prints a report and
 * tears everything down — also on failure and on Ctrl-C.
 * Exit codes: 0 every check passed; 1 a check failed or the lab could not run;
 * 2 usage; 130 interrupted.
 */
import * as fs from "fs";
import { ALL_CHECKS, selectChecks } from "../lab/checks";
import { installPackages, prerequisites, runLab, type LabReport } from "../lab/lab";
import { parseCli, runCli, UsageError } from "./cli";

const USAGE = `usage: npm run lab -- [--only <check,...>] [--no-install] [--keep-dir] [--hold <seconds>] [--json <file>]
       npm run lab -- --install-only     (install the lab's Debian packages and exit)
  --hold <seconds>   keep the booted hosts running that long after the checks (Ctrl-C ends it), printing how to enter each
checks: ${ALL_CHECKS.map((c) => c.id).join(", ")}`;

export function formatSummary(r: LabReport): string {
  const lines: string[] = ["", "Lab summary"];
  if (r.convergence) {
    const n = r.convergence.runs.length;
    lines.push(`  convergence: ${r.convergence.failed ? `FAILED at ${r.convergence.failed}` : `${n} commands ok`} in ${(r.convergence.ms / 1000).toFixed(1)} s`);
  }
  for (const c of r.checks) {
    const neg = c.outcomes.filter((o) => o.negative).length;
    const bad = c.outcomes.filter((o) => !o.ok).length;
    lines.push(
      `  ${c.ok ? "✔" : "✘"} ${c.id.padEnd(12)} ${(c.lesson ?? "").padEnd(3)} ${String(c.outcomes.length - bad).padStart(2)}/${c.outcomes.length} outcomes ok, ${neg} negative control(s)  ${(c.ms / 1000).toFixed(1)} s${c.error ? `  error: ${c.error}` : ""}`,
    );
  }
  if (r.deviations.length) lines.push("  how the lab's hosts differ from production hosts:", ...[...new Set(r.deviations)].map((d) => `    - ${d}`));
  if (r.machineChanges.length) lines.push(`  machine settings changed for the run and restored: ${r.machineChanges.map((c) => `${c.what} ${c.from} → ${c.to}`).join(", ")}`);
  if (Object.keys(r.phases).length) lines.push(`  phases: ${Object.entries(r.phases).map(([k, v]) => `${k} ${v} s`).join(", ")}`);
  lines.push(`  teardown: ${r.teardown.ok ? "nothing left behind" : r.teardown.problems.join("; ")}`);
  if (r.error) lines.push(`  error: ${r.error}`);
  lines.push(`  ${r.ok ? "PASSED" : "FAILED"} in ${(r.ms / 1000).toFixed(1)} s`);
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const v = parseCli(argv, { only: { type: "string" }, "no-install": { type: "boolean" }, "keep-dir": { type: "boolean" }, json: { type: "string" }, hold: { type: "string" }, "install-only": { type: "boolean" } }, USAGE);
  const only = v.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = (only ?? []).filter((id) => !ALL_CHECKS.some((c) => c.id === id));
  if (unknown.length) throw new UsageError(`unknown check ${unknown.join(", ")}\n${USAGE}`);
  if (v["install-only"]) {
    const pre = prerequisites(ALL_CHECKS);
    if (pre.blockers.length) {
      console.error(`lab: ${pre.blockers.join("; ")}`);
      return 1;
    }
    installPackages(pre.missing, (l) => console.log(`lab: ${l}`));
    const after = prerequisites(ALL_CHECKS);
    if (!after.ok) {
      console.error(`lab: still missing after install: ${after.missing.join(" ")}`);
      return 1;
    }
    console.log("lab: every prerequisite is present");
    return 0;
  }
  let holdSeconds: number | undefined;
  if (v.hold !== undefined) {
    holdSeconds = Number(v.hold);
    if (!Number.isInteger(holdSeconds) || holdSeconds < 1 || holdSeconds > 4 * 3600) throw new UsageError(`--hold ${v.hold}: give whole seconds from 1 to 14400\n${USAGE}`);
  }
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping the lab and tearing it down…`);
    controller.abort();
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  const report = await runLab({ checks: selectChecks(only), install: !v["no-install"], keepDir: !!v["keep-dir"], holdSeconds, signal: controller.signal });
  console.log(formatSummary(report));
  if (v.json) fs.writeFileSync(v.json, JSON.stringify(report, null, 2) + "\n");
  if (interrupted) return 130;
  return report.ok ? 0 : 1;
}

runCli(() => main(process.argv.slice(2)), 1);
