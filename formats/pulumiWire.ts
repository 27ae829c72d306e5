/**
 * Pulumi's wire format for resource inputs (sdk/nodejs/runtime/rpc.ts): the
 * key of special values, their signatures, the unknown marker, and unwrapping
 * secrets to plain values. Pure.
 */

/** The key of special values and their signatures. */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
export const OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4";
/** A value not known yet (preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The value with every secret (at any depth) replaced by `onSecret` of the secret's value. */
export function replaceSecrets(v: unknown, onSecret: (value: unknown) => unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => replaceSecrets(x, onSecret));
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SIG_KEY] === SECRET_SIG) return onSecret(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, replaceSecrets(x, onSecret)]));
  }
  return v;
}

/** Unwraps secrets to their values, recursively. */
export function plain(v: unknown): unknown {
  return replaceSecrets(v, plain);
}

/** Whether a wire value is (or contains at its top) a secret. */
export function isSecretValue(v: unknown): boolean {
  return !!v && typeof v === "object" && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}
