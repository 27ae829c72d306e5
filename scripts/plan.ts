/**
 * `npm run plan -- [--stack <name>]`: evaluates index.ts with Pulumi.<stack>.yaml
 * under Pulumi's mock runtime (no cloud, no credentials, no Pulumi CLI) and
 * prints what the stack would deploy. Exits 1 on config errors, listing them all.
 */
import * as path from "path";
import { offlineStackReferences } from "../review/offline";
import { evaluate, listStacks, maxResourcesPerComputeHost, readStackFile, PROJECT_DIR } from "../review/evaluate";
import { plain } from "../formats/pulumiWire";
import { docFiles, docPackages } from "../formats/document";
import { shippedDocument, shippedHosts } from "../shipped/stack";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

async function main(): Promise<number> {
  const stack = arg("stack", "prod");
  if (!listStacks().includes(stack)) {
    console.error(`no stack "${stack}": stacks here are ${listStacks().join(", ")}`);
    return 2;
  }
  const started = Date.now();
  const stackFile = readStackFile(stack);
  let stackReferences: Record<string, Record<string, unknown>>;
  try {
    stackReferences = await offlineStackReferences(stackFile, { preview: true });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
  const ev = await evaluate({
    stack,
    stackFile,
    preview: true,
    stackReferences,
    load: () => require(path.join(PROJECT_DIR, "index")),
  });
  if (ev.error) {
    console.error(ev.error);
    return 1;
  }
  const byType = new Map<string, number>();
  for (const r of ev.resources) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
  const hosts = ev.resources.filter((r) => r.type === "vdi:compute:Host");
  const perHost = maxResourcesPerComputeHost(ev.resources);

  console.log(`Stack ${stack}: ${ev.resources.length} resources (evaluated under mocks in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  console.log("Resources by type:");
  for (const [t, n] of [...byType].sort()) console.log(`  ${String(n).padStart(5)}  ${t}`);
  console.log(`\nResources per compute host: ${perHost} (budget 4)\n`);

  console.log("Cells:");
  const aggregates = ev.resources.filter((r) => r.type === "openstack:compute/aggregateV2:AggregateV2");
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

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
