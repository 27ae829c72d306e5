/**
 * Where a shipped setting came from in the config, for a violation's fix: "set
 * defaults.overcommit.ramAllocationRatio (fleets/common.yaml:61) ≤ 1.2" instead of "set
 * overcommit.ramAllocationRatio ≤ 1.2", so the user edits the line the value really came from.
 *
 * The program registers each cell's provenance (stack/config/provenance.ts) with the cell's
 * component, not with anything shipped. The engine analyzes a component before any of its
 * children (a child is registered only once its parent's registration, analysis included, has
 * returned its URN: pulumi/pulumi pkg/resource/deploy/step_generator.go), so when a host's command
 * is analyzed, the pack has seen its host's component and that one's cell. `remember` is called
 * for every analyzed resource (policy/allPolicies.ts wraps each resource policy) and keeps, for
 * components only, the parent and the provenance. Without them (a pack run on resources alone)
 * a fix reads as before: the judgement never depends on this, only the wording of the fix.
 */
import type { ResourceValidationArgs } from "@pulumi/policy";
import { CELL_TYPE, FLEET_TYPE } from "../../shipped/naming";
import { plainCopy } from "./define";
import { showSource, type Provenance } from "../../shipped/provenance";

const parentOf = new Map<string, string>();
const provenanceOf = new Map<string, Provenance>();

/**
 * Records a component's parent and its provenance (a cell's, the fleet's). Cheap. Each analysis of
 * the component replaces what an earlier one recorded: one pack process can judge several
 * evaluations (a preview, then the update; the offline tools), and the latest is the one whose
 * children follow.
 */
export function remember(args: Pick<ResourceValidationArgs, "type" | "urn" | "props"> & { opts?: { parent?: string } }): void {
  if (!args.type.startsWith("vdi:")) return;
  if (args.opts?.parent) parentOf.set(args.urn, args.opts.parent);
  else parentOf.delete(args.urn);
  if (args.type === CELL_TYPE || args.type === FLEET_TYPE) {
    const p = readProvenance(args.props);
    if (p) provenanceOf.set(args.urn, p);
    else provenanceOf.delete(args.urn);
  }
}

/** A cell's provenance from its component's properties (inputs in Analyze, outputs in AnalyzeStack). */
export function readProvenance(props: Record<string, unknown>): Provenance | undefined {
  try {
    const p = plainCopy<unknown>(props.provenance);
    return p && typeof p === "object" && !Array.isArray(p) ? (p as Provenance) : undefined;
  } catch {
    return undefined; // unknown during preview: no provenance, the plain fix
  }
}

/** The provenance of a resource's cell and fleet (its parent chain; the nearest wins), if the pack has seen them. */
export function provenanceFor(args: { opts?: { parent?: string } }): Provenance | undefined {
  let out: Provenance | undefined;
  let u = args.opts?.parent;
  for (let i = 0; u && i < 16; i++) {
    const p = provenanceOf.get(u);
    if (p) out = { ...p, ...out };
    u = parentOf.get(u);
  }
  return out;
}

/**
 * A fix with every setting it names ("overcommit.ramAllocationRatio",
 * "bootStorm.libvirtGuests.shutdownTimeoutSeconds", "rabbitmq.heartbeatSeconds",
 * "versionSets.bookworm-2026-10.aptSource.uri") replaced by where that setting was written; one
 * that is not written, by the nearest one that is (where to add it). Unchanged without provenance.
 */
export function locate(fix: string, provenance: Provenance | undefined): string {
  if (!provenance) return fix;
  return fix.replace(/\b(?:overcommit|bootStorm|rabbitmq|networking|versionSets|hardwareProfiles)(?:\.[A-Za-z0-9_-]+)+/g, (token) => {
    // The longest recorded key the token starts with ("overcommit.ksm" for "overcommit.ksm.enabled").
    for (let k = token; k.includes("."); k = k.slice(0, k.lastIndexOf("."))) {
      const s = provenance[k];
      if (s) return showSource(s, token.slice(k.length));
    }
    return token;
  });
}

/** A violation message ("<who>: <what>. Fix: <fix>.") with its fix located; other messages unchanged. */
export function locateMessage(message: string, provenance: Provenance | undefined): string {
  if (!provenance) return message;
  const i = message.indexOf(". Fix: ");
  return i < 0 ? message : message.slice(0, i + 7) + locate(message.slice(i + 7), provenance);
}

/** In stack validation: the provenance of each resource's cell and fleet (its parent chain; the nearest wins). */
export function stackProvenance(resources: ReadonlyArray<{ urn: string; type: string; props: Record<string, unknown>; parent?: { urn: string } }>): (urn: string) => Provenance | undefined {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  return (urn) => {
    let out: Provenance | undefined;
    let r = byUrn.get(urn);
    for (let i = 0; r && i < 16; i++) {
      if (r.type === CELL_TYPE || r.type === FLEET_TYPE) {
        const p = readProvenance(r.props);
        if (p) out = { ...p, ...out };
      }
      r = r.parent ? byUrn.get(r.parent.urn) : undefined;
    }
    return out;
  };
}
