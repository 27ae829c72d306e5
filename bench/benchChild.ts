/**
 * One measurement of `npm run bench`, in a fresh process (so heap and RSS
 * belong to that measurement alone), run from the compiled code (bin/).
 * Prints one JSON line on stdout.
 *
 *   --mode program  (started as `pulumi up` starts a program: with
 *                   source-map-support registered) evaluate the program under
 *                   mocks with the generated stack,
 *                   write what it registered to the replay file, then render
 *                   every host document outside Pulumi, then run the policy
 *                   pack over the Analyzer protocol, then the same requests
 *                   against bench/floor-pack (no policies)
 *   --mode replay   (started as plain `node`) the replay floor: re-register the
 *                   resources of the replay file under the same mocks
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as readline from "readline";
import { fleetOf, evaluate, maxResourcesPerComputeHost, PROJECT_DIR, PROGRAM_ENTRY, type RegisteredResource, type StackFile } from "../review/evaluate";
import { loadFleet } from "../stack/config/load";
import { renderHostDocument } from "../render/document";
import { PolicyPackRunner } from "../review/analyzer";
import { parseCli, runCli, UsageError } from "../scripts/cli";
import { SECRET_SIG, SIG_KEY, UNKNOWN } from "../formats/pulumiWire";

const USAGE = "usage: benchChild.js --mode program --stack-file FILE --replay-out FILE | --mode replay --replay FILE";

const rssMb = () => process.resourceUsage().maxRSS / 1024;

async function program(stackFile: StackFile, replayOut: string): Promise<Record<string, number>> {
  const t0 = process.hrtime.bigint();
  const ev = await evaluate({ stack: "bench", stackFile, preview: true, load: () => require(PROGRAM_ENTRY) });
  const evalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const evalRss = rssMb();
  if (ev.error) throw new Error(ev.error);
  const computeHosts = ev.resources.filter((r) => r.type === "vdi:compute:Host");
  const perHost = maxResourcesPerComputeHost(ev.resources);

  // Rendering alone, outside Pulumi: config in, every host document out.
  const t1 = process.hrtime.bigint();
  // Relative paths in the config (keys, known_hosts) are the project's, as for the program.
  const loaded = loadFleet(fleetOf(stackFile), { readFile: (p) => fs.readFileSync(path.resolve(PROJECT_DIR, p), "utf8") });
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join("; "));
  let bytes = 0;
  for (const h of loaded.fleet.hosts) bytes += renderHostDocument(loaded.fleet, h).length;
  const renderMs = Number(process.hrtime.bigint() - t1) / 1e6;

  // Policy analysis through the protocol (the pack's own start-up is reported apart).
  const t2 = process.hrtime.bigint();
  const runner = await PolicyPackRunner.start({ packDir: path.join(PROJECT_DIR, "policy") });
  const packStartMs = Number(process.hrtime.bigint() - t2) / 1e6;
  let policyMs = 0;
  let violations = 0;
  try {
    const t3 = process.hrtime.bigint();
    violations = (await runner.analyzeAll(ev.resources)).filter((d) => d.enforcementLevel === "mandatory").length;
    policyMs = Number(process.hrtime.bigint() - t3) / 1e6;
  } finally {
    await runner.stop();
  }
  // The analyzer floor: the same requests to a pack without policies, measured after the
  // real pack (so the client is warm and the floor is not overstated).
  const floorRunner = await PolicyPackRunner.start({ packDir: path.join(PROJECT_DIR, "bench", "floor-pack") });
  let policyFloorMs = 0;
  try {
    const t4 = process.hrtime.bigint();
    await floorRunner.analyzeAll(ev.resources);
    policyFloorMs = Number(process.hrtime.bigint() - t4) / 1e6;
  } finally {
    await floorRunner.stop();
  }
  await writeReplay(replayOut, ev.resources);
  return { resources: ev.resources.length, computeHosts: computeHosts.length, resourcesPerComputeHost: perHost, evalMs, evalRssMb: evalRss, renderMs, documentBytes: bytes, packStartMs, policyMs, policyFloorMs, mandatoryViolations: violations };
}

/** One line of the replay file: a resource as the program registered it. */
type Recorded = Pick<RegisteredResource, "urn" | "type" | "name" | "custom" | "parent" | "dependencies" | "additionalSecretOutputs" | "inputs">;

/** Writes the registered resources, one JSON line each, in registration order. */
async function writeReplay(file: string, resources: RegisteredResource[]): Promise<void> {
  const out = fs.createWriteStream(file);
  for (const r of resources) {
    const rec: Recorded = { urn: r.urn, type: r.type, name: r.name, custom: r.custom, parent: r.parent, dependencies: r.dependencies, additionalSecretOutputs: r.additionalSecretOutputs, inputs: r.inputs };
    if (!out.write(JSON.stringify(rec) + "\n")) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** Reads the replay file line by line (its text is never held whole, so the floor's memory is the resources'). */
async function readReplay(file: string): Promise<Recorded[]> {
  const out: Recorded[] = [];
  for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) if (line) out.push(JSON.parse(line) as Recorded);
  return out;
}

/**
 * The replay floor: plain Node re-registers exactly the resources the program
 * registered — the same types, names, parents, inputs (secrets as secrets; an
 * unknown as the id of a resource it depends on, unknown in a preview as it was
 * for the program) and dependencies — with the SDK's generic classes and no
 * logic, under the same mocks, in a fresh plain Node process (no source-map
 * support, V8's own stack traces: it does not take the program's stack-trace
 * setting, stack/stackTraces.ts, which is part of what the program costs).
 */
class Custom extends pulumi.CustomResource {}
class Component extends pulumi.ComponentResource {
  constructor(type: string, name: string, inputs: pulumi.Inputs, opts: pulumi.ComponentResourceOptions) {
    super(type, name, inputs, opts);
    this.registerOutputs({});
  }
}

async function replay(recorded: Recorded[]): Promise<Record<string, number>> {
  const t0 = process.hrtime.bigint();
  const ev = await evaluate({
    stack: "replay",
    stackFile: { config: {}, secretKeys: [] },
    preview: true,
    load: () => {
      const byUrn = new Map<string, pulumi.Resource>();
      for (const r of recorded) {
        if (r.type.startsWith("pulumi:")) continue; // the stack and providers: the SDK registers its own
        const deps = r.dependencies.map((u) => byUrn.get(u)).filter((d): d is pulumi.Resource => !!d);
        const idOfDep = deps.find((d): d is pulumi.CustomResource => d instanceof pulumi.CustomResource);
        const value = (v: unknown): unknown => {
          if (v === UNKNOWN) return idOfDep ? idOfDep.id : pulumi.output(pulumi.unknown);
          if (Array.isArray(v)) return v.map(value);
          if (v && typeof v === "object") {
            const o = v as Record<string, unknown>;
            if (o[SIG_KEY] === SECRET_SIG) return pulumi.secret(value(o.value));
            return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, value(x)]));
          }
          return v;
        };
        const inputs = value(r.inputs) as pulumi.Inputs;
        const parent = byUrn.get(r.parent);
        byUrn.set(r.urn, r.custom ? new Custom(r.type, r.name, inputs, { parent, dependsOn: deps, additionalSecretOutputs: r.additionalSecretOutputs }) : new Component(r.type, r.name, inputs, { parent, dependsOn: deps }));
      }
    },
  });
  const evalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (ev.error) throw new Error(ev.error);
  if (ev.resources.length !== recorded.length) throw new Error(`the replay registered ${ev.resources.length} resources, the program ${recorded.length}`);
  return { resources: ev.resources.length, evalMs, evalRssMb: rssMb() };
}

async function main(argv: string[]): Promise<number> {
  const v = parseCli(argv, { mode: { type: "string" }, "stack-file": { type: "string" }, "replay-out": { type: "string" }, replay: { type: "string" } }, USAGE);
  const need = (k: "stack-file" | "replay-out" | "replay"): string => {
    if (!v[k]) throw new UsageError(`--${k} is required with --mode ${v.mode}\n${USAGE}`);
    return v[k]!;
  };
  if (v.mode !== "program" && v.mode !== "replay") throw new UsageError(`--mode must be program or replay\n${USAGE}`);
  // The floor is plain Node: V8's own stack traces, not the setting runCli and the program use.
  if (v.mode === "replay") (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
  const out = v.mode === "program" ? await program(JSON.parse(fs.readFileSync(need("stack-file"), "utf8")), need("replay-out")) : await replay(await readReplay(need("replay")));
  process.stdout.write(JSON.stringify(out) + "\n");
  return 0;
}

runCli(() => main(process.argv.slice(2)), 1, "bench child failed: ");
