/**
 * vdi-fleet: an OpenStack cloud-desktop fleet, converged over SSH.
 * Config: Pulumi.<stack>.yaml (`vdi-fleet:fleet` or `vdi-fleet:fleetFile`, and
 * `vdi-fleet:part` for a region split into stacks; see README); secrets via
 * `pulumi config set --secret` or the stack's ESC environment.
 *
 * The program is an async function (Pulumi calls it; its result is the stack's
 * outputs) so that a cell stack can read its region stack and stop before it
 * registers anything when the region stack is not at this checkout's revision.
 */
import * as pulumi from "@pulumi/pulumi";
import { Fleet } from "./components/fleet";
import { regionProblem, regionRevision, type RegionOutput } from "./stack/region";
import { readStack } from "./stack/readStack";
import { nativeStackTraces } from "./stack/stackTraces";
import { staleBuildProblem } from "./stack/freshBuild";
import { PROJECT_DIR } from "./stack/projectDir";

// Pulumi runs the compiled program (Pulumi.yaml `main: bin/`, built by `npm ci` and `npm run build`).
nativeStackTraces();

export = async () => {
  const stale = __filename.endsWith(".js") ? staleBuildProblem(PROJECT_DIR) : undefined;
  if (stale) throw new pulumi.RunError(stale);
  const { fleet, part, ssh, secrets } = readStack();

  if (part.kind === "cell") {
    const stackRef = part.regionStack.includes("/") ? part.regionStack : `${pulumi.getOrganization()}/${pulumi.getProject()}/${part.regionStack}`;
    const ref = new pulumi.StackReference("vdi-region", { name: stackRef });
    const { value } = await ref.getOutputDetails("region");
    const problem = regionProblem(value as Partial<RegionOutput> | undefined, { stackRef, expected: regionRevision(fleet), cell: part.cell, region: fleet.spec.region });
    if (problem) throw new pulumi.RunError(problem);
  }

  const vdi = new Fleet("vdi", { fleet, part, ssh, secrets });

  const deployedCells = part.kind === "region" ? [] : part.kind === "cell" ? fleet.cells.filter((c) => c.name === part.cell) : fleet.cells;
  // Compute hosts belong to their cell's stack; brokers and network nodes to the region stack.
  const deployedHosts = fleet.hosts.filter((h) =>
    part.kind === "fleet" ? true : h.roles.includes("compute") ? part.kind === "cell" && h.cell === part.cell : part.kind === "region",
  );

  return {
    /** Region and whole-fleet stacks: what cell stacks check through their StackReference (stack/region.ts). */
    region: vdi.region,
    /** Which part of the region this stack deploys. */
    stackPart: part.kind === "cell" ? { kind: part.kind, cell: part.cell, regionStack: part.regionStack } : { kind: part.kind },
    /** What the stack deploys, without anything secret. */
    summary: {
      region: fleet.spec.region,
      cells: deployedCells.map((c) => ({ name: c.name, availabilityZone: c.availabilityZone, workload: c.workloadName, desktops: c.desktops, hosts: c.hosts.length })),
      computeHosts: deployedHosts.filter((h) => h.roles.includes("compute")).length,
      networkHosts: deployedHosts.filter((h) => h.roles.includes("network")).length,
      messagingHosts: deployedHosts.filter((h) => h.roles.includes("messaging")).length,
    },
    rolloutWaves: vdi.cells.map((c) => ({ cell: c.aggregate.name, waves: c.waves.length })),
  };
};
