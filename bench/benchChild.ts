/**
 * One measurement of `npm run bench`, in a fresh process (so heap and RSS
 * belong to that measurement alone). Prints one JSON line on stdout.
 *
 *   --mode program  evaluate index.ts under mocks with the generated stack, then
 *                   render every host document outside Pulumi, then run the
 *                   policy pack over the Analyzer protocol, then the same
 *                   requests against bench/floor-pack (no policies)
 *   --mode floor    register the same number of bare resources of the same types
 *                   (and the same parent layout) through the same SDK and mocks
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as openstack from "@pulumi/openstack";
import { fleetOf, evaluate, maxResourcesPerComputeHost, PROJECT_DIR, type StackFile } from "../review/evaluate";
import { loadFleet } from "../stack/config/load";
import { renderHostDocument } from "../render/document";
import { PolicyPackRunner } from "../review/analyzer";
import { parseCli, runCli, UsageError } from "../scripts/cli";

const USAGE = "usage: benchChild.ts --mode program --stack-file FILE --types-out FILE | --mode floor --types FILE";

const rssMb = () => process.resourceUsage().maxRSS / 1024;

async function program(stackFile: StackFile, typesOut: string): Promise<Record<string, number>> {
  const t0 = process.hrtime.bigint();
  const ev = await evaluate({ stack: "bench", stackFile, preview: true, load: () => require(path.join(PROJECT_DIR, "index")) });
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
  const types: Record<string, number> = {};
  for (const r of ev.resources) types[r.type] = (types[r.type] ?? 0) + 1;
  fs.writeFileSync(typesOut, JSON.stringify(types));
  return { resources: ev.resources.length, computeHosts: computeHosts.length, resourcesPerComputeHost: perHost, evalMs, evalRssMb: evalRss, renderMs, documentBytes: bytes, packStartMs, policyMs, policyFloorMs, mandatoryViolations: violations };
}

/**
 * The same kinds of resource as the program — the same provider SDK classes for
 * custom resources, component resources of the same type tokens — in the same
 * numbers, with only their required inputs and no logic. Commands sit under
 * compute-host components as in the program.
 */
const BARE_CUSTOM: Record<string, (name: string, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource> = {
  "command:remote:Command": (n, o) => new command.remote.Command(n, { connection: { host: "192.0.2.1" }, create: "true" }, o),
  "openstack:compute/aggregateV2:AggregateV2": (n, o) => new openstack.compute.AggregateV2(n, {}, o),
  "openstack:compute/flavor:Flavor": (n, o) => new openstack.compute.Flavor(n, { ram: 1024, vcpus: 1, disk: 1 }, o),
  "openstack:networking/network:Network": (n, o) => new openstack.networking.Network(n, {}, o),
  "openstack:networking/subnet:Subnet": (n, o) => new openstack.networking.Subnet(n, { networkId: "n" }, o),
  "openstack:networking/router:Router": (n, o) => new openstack.networking.Router(n, {}, o),
  "openstack:networking/routerInterface:RouterInterface": (n, o) => new openstack.networking.RouterInterface(n, { routerId: "r" }, o),
};

async function floor(types: Record<string, number>): Promise<Record<string, number>> {
  class Bare extends pulumi.ComponentResource {
    constructor(type: string, name: string, opts?: pulumi.ComponentResourceOptions) {
      super(type, name, {}, opts);
      this.registerOutputs({});
    }
  }
  const t0 = process.hrtime.bigint();
  const ev = await evaluate({
    stack: "floor",
    stackFile: { config: {}, secretKeys: [] },
    preview: true,
    load: () => {
      const hosts: Bare[] = [];
      for (const [type, n] of Object.entries(types)) {
        if (type === "command:remote:Command") continue;
        for (let i = 0; i < n; i++) {
          if (type.startsWith("vdi:")) {
            const b = new Bare(type, `${type}-${i}`);
            if (type === "vdi:compute:Host") hosts.push(b);
          } else {
            const make = BARE_CUSTOM[type];
            if (!make) throw new Error(`the floor has no bare constructor for ${type}`);
            make(`${type}-${i}`);
          }
        }
      }
      const commands = types["command:remote:Command"] ?? 0;
      for (let i = 0; i < commands; i++) {
        BARE_CUSTOM["command:remote:Command"](`cmd-${i}`, hosts.length ? { parent: hosts[Math.floor(i / 2) % hosts.length] } : {});
      }
    },
  });
  const evalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (ev.error) throw new Error(ev.error);
  return { resources: ev.resources.length, evalMs, evalRssMb: rssMb() };
}

async function main(argv: string[]): Promise<number> {
  const v = parseCli(argv, { mode: { type: "string" }, "stack-file": { type: "string" }, "types-out": { type: "string" }, types: { type: "string" } }, USAGE);
  const need = (k: "stack-file" | "types-out" | "types"): string => {
    if (!v[k]) throw new UsageError(`--${k} is required with --mode ${v.mode}\n${USAGE}`);
    return v[k]!;
  };
  if (v.mode !== "program" && v.mode !== "floor") throw new UsageError(`--mode must be program or floor\n${USAGE}`);
  const out = v.mode === "program" ? await program(JSON.parse(fs.readFileSync(need("stack-file"), "utf8")), need("types-out")) : await floor(JSON.parse(fs.readFileSync(need("types"), "utf8")));
  process.stdout.write(JSON.stringify(out) + "\n");
  return 0;
}

runCli(() => main(process.argv.slice(2)), 1, "bench child failed: ");
