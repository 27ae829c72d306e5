/**
 * The region revision: a hash of everything the region stack ships that cell
 * stacks rely on — the brokers' and network nodes' documents, the desktop
 * flavors, the tenant networks — computed from the fleet config alone (no
 * secrets). The region stack exports it; each cell stack computes it from its
 * own checkout and converges its hosts only when the two are equal, so a cell
 * never rolls out against brokers or networks of another commit.
 */
import { createHash } from "crypto";
import type { Fleet, HostSpec } from "./config/load";
import { renderHostDocument } from "../render/document";

/** Hosts the region stack converges: brokers and network nodes that are not compute hosts (those belong to their cell). */
export function regionHosts(fleet: Fleet): HostSpec[] {
  const seen = new Set<string>();
  const out: HostSpec[] = [];
  for (const h of [...fleet.messagingHosts, ...fleet.networkHosts]) {
    if (h.roles.includes("compute") || seen.has(h.name)) continue;
    seen.add(h.name);
    out.push(h);
  }
  return out;
}

export function regionRevision(fleet: Fleet): string {
  const hash = createHash("sha256");
  hash.update(`region ${fleet.spec.region}\n`);
  for (const h of regionHosts(fleet)) hash.update(`host ${h.name}\n${shippedToHost(renderHostDocument(fleet, h))}\n`);
  for (const c of fleet.cells) hash.update(`flavor ${c.workloadName} ${JSON.stringify(c.workload.flavor)}\n`);
  hash.update(`networking ${JSON.stringify(fleet.spec.networking)}\n`);
  return hash.digest("hex");
}

/**
 * A document without the facts that only review reads (a `fact` line without
 * `verify` never reaches the host): a cell's desktop count is such a fact on a
 * network node, and changing it must not stop the cells unless the tables the
 * node ships change with it.
 */
function shippedToHost(document: string): string {
  return document
    .split("\n")
    .filter((l) => !(l.startsWith("fact ") && !l.endsWith(" verify")))
    .join("\n");
}

/** What a region stack exports as `region`, and what cell stacks check. */
export interface RegionOutput {
  region: string;
  revision: string;
  cells: string[];
}

/**
 * The gate of a cell stack: why the region stack's `region` output does not fit
 * this checkout, or undefined when it does. The program stops with it before it
 * registers any resource of the cell (index.ts).
 */
export function regionProblem(r: Partial<RegionOutput> | undefined, want: { stackRef: string; expected: string; cell: string; region: string }): string | undefined {
  const first = `run \`pulumi up -s ${want.stackRef.split("/").pop()}\` from this commit first`;
  if (!r || typeof r.revision !== "string") return `region stack ${want.stackRef} has no \`region\` output: it is not a region stack of this project, or it was never deployed; ${first}`;
  if (r.region !== want.region) return `region stack ${want.stackRef} deploys region ${r.region}, this cell stack region ${want.region}: name the right regionStack in vdi-fleet:part`;
  if (!r.cells?.includes(want.cell)) return `region stack ${want.stackRef} has no cell ${want.cell} (it has ${(r.cells ?? []).join(", ") || "none"}); ${first}`;
  if (r.revision !== want.expected) {
    return (
      `region stack ${want.stackRef} was last deployed at region revision ${r.revision.slice(0, 12)}, this checkout computes ${want.expected.slice(0, 12)}: ` +
      `its brokers, network nodes, flavors or networks differ from what cell ${want.cell} expects; ${first}`
    );
  }
  return undefined;
}
