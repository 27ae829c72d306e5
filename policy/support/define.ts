/**
 * Helpers shared by the policies: thresholds with defaults from the policy's
 * configSchema (so the pack runs without config, and `--policy-pack-config`
 * overrides them), and violation messages that name the host, the file, the
 * value and the fix.
 */
import type { PolicyConfigSchema, ReportViolation } from "@pulumi/policy";

/** The policy's config: schema defaults overlaid with what the stack configured. */
export function settings<T>(schema: PolicyConfigSchema, args: { getConfig<C extends object>(): C }): T {
  const defaults = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, (v as { default?: unknown }).default]));
  return { ...defaults, ...(args.getConfig<Record<string, unknown>>() ?? {}) } as T;
}

/** "<who>: <what>. Fix: <fix>" — one sentence a reviewer can act on. */
export function violation(report: ReportViolation, who: string, what: string, fix: string, urn?: string): void {
  report(`${who}: ${what}. Fix: ${fix}.`, urn);
}

/**
 * A plain deep copy of a value from `args.props`. The SDK wraps props in a
 * proxy that throws on unknown values (preview) — reading through it here keeps
 * that — but array methods that build new arrays (map, filter, slice) trip over
 * the proxy's function wrapping, so policies copy before using them.
 */
export function plainCopy<T = unknown>(v: unknown): T {
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) out.push(plainCopy(v[i]));
    return out as T;
  }
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = plainCopy((v as Record<string, unknown>)[k]);
    return out as T;
  }
  return v as T;
}
