/**
 * `npm run preview -- [--stack prod] [--format text|md|json] [--out FILE]
 *                     [--compare GIT-REF | --compare-stack NAME]
 *                     [--policy-config FILE] [--boot-seconds N]`
 *
 * Offline preview and policy review of a stack — no cloud, no credentials, no
 * Pulumi CLI: evaluates index.ts with Pulumi.<stack>.yaml under Pulumi's mock
 * runtime, runs the policy pack exactly as the CLI does over the Analyzer
 * protocol, and prints what the stack would deploy, its capacity, its rollout
 * waves and the policy verdict.
 *
 * Exit codes: 0 clean (advisories allowed), 1 a mandatory policy violation,
 * 2 a config error or bad usage, 3 the preview itself failed (a bug or a
 * broken environment, e.g. the policy pack did not start).
 */
import * as fs from "fs";
import * as path from "path";
import { evaluate, listStacks, readStackFile, referencedStacks, PROJECT_DIR, PROGRAM_ENTRY, type StackFile } from "../review/evaluate";
import { offlineStackReferences } from "../review/offline";
import { PolicyPackRunner } from "../review/analyzer";
import { buildReport, cellReports, MARKER, type PreviewReport } from "../review/report";
import { formatJson, formatMarkdown, formatText } from "../review/reportFormat";
import { compareSnapshots, gitRefProblem, groupHostChanges, snapshotAtRef, snapshotFromEvaluation, snapshotOfStack } from "../review/compare";
import { IOPS_PER_BOOT } from "../facts/bootStorm";
import { parseCli, runCli, UsageError } from "./cli";

const USAGE = `usage: npm run preview -- [--stack NAME] [--format text|md|json] [--out FILE]
                           [--compare GIT-REF | --compare-stack NAME] [--policy-config FILE] [--boot-seconds N]`;

interface Options {
  stack: string;
  format: "text" | "md" | "json";
  out?: string;
  compare?: string;
  compareStack?: string;
  policyConfig?: Record<string, unknown>;
  bootSeconds: number;
}

/** The options, checked before anything is evaluated: every mistake is a usage error (exit 2). */
export function parseOptions(argv: string[]): Options {
  const v = parseCli(
    argv,
    {
      stack: { type: "string", default: "prod" },
      format: { type: "string", default: "text" },
      out: { type: "string" },
      compare: { type: "string" },
      "compare-stack": { type: "string" },
      "policy-config": { type: "string" },
      "boot-seconds": { type: "string", default: "90" },
    },
    USAGE,
  );
  const usage = (msg: string) => new UsageError(`${msg}\n${USAGE}`);
  if (v.format !== "text" && v.format !== "md" && v.format !== "json") throw usage(`--format must be text, md or json, got ${JSON.stringify(v.format)}`);
  const bootSeconds = Number(v["boot-seconds"]);
  if (!(bootSeconds > 0)) throw usage(`--boot-seconds must be a positive number, got ${JSON.stringify(v["boot-seconds"])}`);
  if (v.compare !== undefined && v["compare-stack"] !== undefined) throw usage("give either --compare or --compare-stack, not both");
  let policyConfig: Record<string, unknown> | undefined;
  if (v["policy-config"] !== undefined) {
    try {
      policyConfig = JSON.parse(fs.readFileSync(v["policy-config"], "utf8"));
    } catch (e) {
      throw usage(`--policy-config ${v["policy-config"]}: ${(e as Error).message}`);
    }
  }
  const stacks = listStacks();
  for (const name of [v.stack, v["compare-stack"]].filter((x): x is string => x !== undefined)) {
    if (!stacks.includes(name)) throw usage(`no stack ${JSON.stringify(name)}: stacks here are ${stacks.join(", ")}`);
  }
  if (v.compare !== undefined) {
    const problem = gitRefProblem(v.compare, PROJECT_DIR);
    if (problem) throw usage(`--compare ${v.compare}: ${problem}`);
  }
  return { stack: v.stack!, format: v.format, out: v.out, compare: v.compare, compareStack: v["compare-stack"], policyConfig, bootSeconds };
}

/** Progress on a terminal only; non-terminals (CI logs, pipes) stay quiet. */
function progress(): { say: (s: string) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  return {
    say: (s) => {
      if (tty) process.stderr.write(`\r\x1b[2K[${((Date.now() - started) / 1000).toFixed(1)} s] ${s}`);
    },
    done: () => {
      if (tty) process.stderr.write("\r\x1b[2K");
    },
  };
}

function emit(o: Options, text: string): void {
  if (o.out) fs.writeFileSync(o.out, text);
  else process.stdout.write(text);
}

function configErrorReport(o: Options, message: string): string {
  if (o.format === "json") return JSON.stringify({ schemaVersion: 1, stack: o.stack, error: message, verdict: { ok: false, exitCode: 2, text: `✘ ${o.stack}: the stack config is invalid` } }, null, 2) + "\n";
  if (o.format === "md") return [MARKER, `## ❌ Offline preview: \`${o.stack}\``, "", "**The stack config is invalid; nothing was evaluated.**", "", "```", message, "```", ""].join("\n");
  return `${message}\n`;
}

/**
 * A config error: the message on stderr, once; the report says it too when it goes somewhere else
 * (a file, or Markdown or JSON on stdout). Exit code 2.
 */
function configError(o: Options, message: string): number {
  process.stderr.write(`${message}\n`);
  if (o.out || o.format !== "text") emit(o, configErrorReport(o, message));
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  const p = progress();
  let stackFile: StackFile;
  try {
    stackFile = readStackFile(o.stack);
  } catch (e) {
    return configError(o, e instanceof Error ? e.message : String(e));
  }
  const t0 = Date.now();
  // A cell stack reads its region stack (StackReference): evaluate that stack's file first.
  let stackReferences: Record<string, Record<string, unknown>>;
  try {
    if (referencedStacks(stackFile).length) p.say(`evaluating ${referencedStacks(stackFile).join(", ")} (referenced by ${o.stack}) under mocks…`);
    stackReferences = await offlineStackReferences(stackFile, { preview: true });
  } catch (e) {
    p.done();
    return configError(o, e instanceof Error ? e.message : String(e));
  }
  p.say(`evaluating ${o.stack} under mocks…`);
  const ev = await evaluate({
    stack: o.stack,
    stackFile,
    preview: true,
    stackReferences,
    load: () => require(PROGRAM_ENTRY),
    onProgress: (n) => p.say(`evaluating ${o.stack} under mocks: ${n} resources`),
  });
  const evaluationSeconds = (Date.now() - t0) / 1000;
  if (ev.error) {
    p.done();
    return configError(o, ev.error);
  }

  p.say("starting the policy pack…");
  const runner = await PolicyPackRunner.start({ packDir: path.join(PROJECT_DIR, "policy"), stack: { stack: o.stack, ...stackFile }, config: o.policyConfig as never });
  let report: PreviewReport;
  try {
    const info = await runner.info();
    p.say(`analyzing ${ev.resources.length} resources with ${info.policies.length} policies…`);
    const diagnostics = await runner.analyzeAll(ev.resources);
    let changes;
    let changeGroups;
    let base;
    if (o.compare || o.compareStack) {
      p.say(`evaluating ${o.compare ? `${o.stack} at ${o.compare}` : `stack ${o.compareStack}`} for the comparison…`);
      // Both sides are preview-mode evaluations, so unknown outputs compare equal.
      const head = snapshotFromEvaluation(ev, o.compare ? "working tree" : `stack ${o.stack}`);
      base = o.compare ? await snapshotAtRef({ ref: o.compare, stack: o.stack, projectDir: PROJECT_DIR }) : await snapshotOfStack({ stack: o.compareStack!, projectDir: PROJECT_DIR });
      changes = compareSnapshots(base, head);
      changeGroups = groupHostChanges(changes, head);
    }
    const iopsPerBoot = Number(runner.effectiveConfig["boot-storm-limits"]?.properties.iopsPerBoot ?? IOPS_PER_BOOT);
    // The compared side's cells, computed as the preview computes its own (same policy figures).
    const baseCells = base && cellReports(base.resources.map((r) => ({ type: r.type, urn: r.urn, props: (r.inputs ?? {}) as Record<string, unknown> })), { iopsPerBoot, bootSecondsPerDesktop: o.bootSeconds });
    report = buildReport({ stack: o.stack, evaluation: ev, evaluationSeconds, diagnostics, pack: { name: info.name, version: info.version }, bootSecondsPerDesktop: o.bootSeconds, iopsPerBoot, changes, changeGroups, baseCells });
  } finally {
    await runner.stop();
    p.done();
  }
  emit(o, o.format === "json" ? formatJson(report) : o.format === "md" ? formatMarkdown(report) : formatText(report));
  if (o.out || o.format !== "text") process.stderr.write(`${report.verdict.text}\n`);
  return report.verdict.exitCode;
}

if (require.main === module) runCli(() => main(process.argv.slice(2)), 3, "preview failed: ");
