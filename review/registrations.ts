/**
 * Whether two evaluations register exactly the same resources: the same URNs,
 * and for each the same type, parent, dependencies, secret outputs and inputs
 * (secrets compared by value). This is what the engine receives, so a change
 * that keeps it (a refactoring, a config file reorganized) changes nothing on
 * any host or in the cloud. Pure.
 */
import { isDeepStrictEqual } from "util";
import type { Evaluation, RegisteredResource } from "./evaluate";

function registration(r: RegisteredResource): Record<string, unknown> {
  return { type: r.type, custom: r.custom, parent: r.parent, dependencies: [...r.dependencies].sort(), additionalSecretOutputs: [...r.additionalSecretOutputs].sort(), inputs: r.inputs };
}

/** Differences between two evaluations' registrations, one line each (at most `max`); empty when identical. */
export function registrationDifferences(base: Evaluation, head: Evaluation, max = 20): string[] {
  const out: string[] = [];
  const a = new Map(base.resources.map((r) => [r.urn, r]));
  const b = new Map(head.resources.map((r) => [r.urn, r]));
  for (const urn of a.keys()) if (!b.has(urn)) out.push(`only before: ${urn}`);
  for (const urn of b.keys()) if (!a.has(urn)) out.push(`only after: ${urn}`);
  for (const [urn, ra] of a) {
    const rb = b.get(urn);
    if (!rb) continue;
    const x = registration(ra);
    const y = registration(rb);
    const fields = Object.keys(x).filter((k) => k !== "inputs" && !isDeepStrictEqual(x[k], y[k]));
    const inputs = [...new Set([...Object.keys(ra.inputs), ...Object.keys(rb.inputs)])].filter((k) => !isDeepStrictEqual(ra.inputs[k], rb.inputs[k]));
    if (fields.length || inputs.length) out.push(`changed: ${urn} (${[...fields, ...inputs.map((k) => `inputs.${k}`)].join(", ")})`);
  }
  if (!isDeepStrictEqual(base.outputs, head.outputs)) out.push("changed: the stack outputs");
  return out.length > max ? [...out.slice(0, max), `… and ${out.length - max} more`] : out;
}
