/**
 * `npm run plan -- [--stack <name>] [--same-as <git-ref>]`: evaluates index.ts
 * with Pulumi.<stack>.yaml under Pulumi's mock runtime (no cloud, no
 * credentials, no Pulumi CLI) and prints what the stack would deploy.
 *
 * `--same-as REF` instead checks that this working tree registers exactly what
 * the tree at REF registers — the same URNs, types, parents, dependencies and
 * inputs, in preview and in update mode — and lists any difference (exit 1).
 *
 * Exit codes (as npm run preview): 0 done (identical, with --same-as), 1 a
 * difference (--same-as), 2 a config error or bad usage, 3 the plan itself failed.
 */
import { offlineStackReferences, evaluateStackInChild } from "../review/offline";
import { evaluate, listStacks, maxResourcesPerComputeHost, readStackFile, PROJECT_DIR, PROGRAM_ENTRY, type StackFile } from "../review/evaluate";
import { gitRefProblem, withTreeAtRef } from "../review/compare";
import { registrationDifferences } from "../review/registrations";
import { plain } from "../formats/pulumiWire";
import { docFiles, docPackages } from "../formats/document";
import { shippedDocument, shippedHosts } from "../shipped/stack";
import { AGGREGATE, COMPUTE_HOST_TYPE } from "../shipped/naming";
import { parseCli, runCli, UsageError } from "./cli";

const USAGE = `usage: npm run plan -- [--stack NAME] [--same-as GIT-REF]`;

function options(argv: string[]): { stack: string; sameAs?: string } {
  const v = parseCli(argv, { stack: { type: "string", default: "prod" }, "same-as": { type: "string" } }, USAGE);
  const stacks = listStacks();
  if (!stacks.includes(v.stack!)) throw new UsageError(`no stack ${JSON.stringify(v.stack)}: stacks here are ${stacks.join(", ")}\n${USAGE}`);
  if (v["same-as"] !== undefined) {
    const problem = gitRefProblem(v["same-as"], PROJECT_DIR);
    if (problem) throw new UsageError(`--same-as ${v["same-as"]}: ${problem}\n${USAGE}`);
  }
  return { stack: v.stack!, sameAs: v["same-as"] };
}

async function sameAs(stack: string, ref: string): Promise<number> {
  const started = Date.now();
  let differences: string[] = [];
  let count = 0;
  let label = ref;
  for (const preview of [true, false]) {
    const head = await evaluateStackInChild(stack, { preview });
    const base = await withTreeAtRef(ref, PROJECT_DIR, async (tree, l) => {
      label = l;
      return evaluateStackInChild(stack, { preview, dir: tree, source: l });
    });
    count = head.resources.length;
    differences = differences.concat(registrationDifferences(base, head).map((d) => `${preview ? "preview" : "update"}: ${d}`));
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  if (!differences.length) {
    console.log(`Stack ${stack}: the working tree registers exactly what ${label} registers — ${count} resources with the same URNs, types, parents, dependencies and inputs, in preview and update mode (${took} s).`);
    return 0;
  }
  console.log(`Stack ${stack}: the working tree registers something else than ${label}:\n${differences.map((d) => `  ${d}`).join("\n")}`);
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const { stack, sameAs: ref } = options(argv);
  if (ref !== undefined) return sameAs(stack, ref);
  const started = Date.now();
  let stackFile: StackFile;
  try {
    stackFile = readStackFile(stack);
  } catch (e) {
    // A stack file that is not valid YAML is a config error, as the program's own (exit 2).
    console.error(e instanceof Error ? e.message : String(e));
    return 2;
  }
  let stackReferences: Record<string, Record<string, unknown>>;
  try {
    stackReferences = await offlineStackReferences(stackFile, { preview: true });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 2;
  }
  const ev = await evaluate({ stack, stackFile, preview: true, stackReferences, load: () => require(PROGRAM_ENTRY) });
  if (ev.error) {
    console.error(ev.error);
    return 2;
  }
  const byType = new Map<string, number>();
  for (const r of ev.resources) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
  const hosts = ev.resources.filter((r) => r.type === COMPUTE_HOST_TYPE);
  const perHost = maxResourcesPerComputeHost(ev.resources);

  console.log(`Stack ${stack}: ${ev.resources.length} resources (evaluated under mocks in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  console.log("Resources by type:");
  for (const [t, n] of [...byType].sort()) console.log(`  ${String(n).padStart(5)}  ${t}`);
  console.log(`\nResources per compute host: ${perHost} (budget 4)\n`);

  console.log("Cells:");
  const aggregates = ev.resources.filter((r) => r.type === AGGREGATE);
  for (const agg of aggregates.sort((a, b) => String(a.inputs.name).localeCompare(String(b.inputs.name)))) {
    const md = plain(agg.inputs.metadata) as Record<string, string>;
    const cellHosts = plain(agg.inputs.hosts) as string[];
    console.log(`  ${String(agg.inputs.name).padEnd(10)} zone ${String(agg.inputs.zone).padEnd(8)} ${String(cellHosts.length).padStart(4)} hosts  ${md["vdi:planned_desktops"].padStart(6)} desktops  workload ${md["vdi:workload"]}`);
  }

  const converged = shippedHosts(ev);
  if (converged.length) {
    const sample = shippedDocument(ev, hosts.length ? hosts[0].name : converged[0])!;
    console.log(`\nEach host gets one document; e.g. ${sample.host}:`);
    for (const p of docPackages(sample)) console.log(`  package ${p.name} = ${p.version}`);
    for (const f of docFiles(sample)) console.log(`  file    ${f.path}`);
  }
  console.log(`\n${converged.length} hosts would be converged; no policy was run (see README).`);
  return 0;
}

runCli(() => main(process.argv.slice(2)), 3, "plan failed: ");
