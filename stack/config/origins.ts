/**
 * The layering rule that lets a stack take shared sections from another file
 * (`extends: <file>` in a fleet mapping): the mapping is laid over the mapping
 * of that file. Mappings merge key by key, recursively; anything else — a
 * number, a string, a list — is replaced as a whole by the extending side's
 * value. So a stack states only what differs, and a list (cells, hosts,
 * tenantNetworks) is always one file's own. A base may itself extend another
 * file; a cycle is an error. The origin of every value (formats/yaml.ts)
 * follows the side it came from, so problems name the line to edit.
 *
 * Pure apart from the `readFile` callback.
 */
import { indentSnippet, originAt, readYaml, type Origin, type OriginTree } from "../../formats/yaml";

export type { Origin, OriginTree };

const isMapping = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);

/** `over` laid over `base` by the layering rule, with the origins of whichever side each value came from. */
export function layer(base: { value: unknown; origins?: OriginTree }, over: { value: unknown; origins?: OriginTree }): { value: unknown; origins?: OriginTree } {
  if (!isMapping(base.value) || !isMapping(over.value)) return over;
  const value: Record<string, unknown> = {};
  const children = new Map<string | number, OriginTree>();
  const keys = [...Object.keys(base.value), ...Object.keys(over.value).filter((k) => !(k in (base.value as object)))];
  for (const k of keys) {
    const b = { value: base.value[k], origins: base.origins?.children?.get(k) };
    const o = { value: over.value[k], origins: over.origins?.children?.get(k) };
    const m = !(k in over.value) ? b : !(k in base.value) ? o : layer(b, o);
    value[k] = m.value;
    if (m.origins) children.set(k, m.origins);
  }
  const at = over.origins?.at ?? base.origins?.at;
  return { value, origins: at ? { at, children } : undefined };
}

/** The key a fleet mapping names its base file with. */
export const EXTENDS_KEY = "extends";

export interface Layered {
  value?: unknown;
  origins?: OriginTree;
  /** Every file read, the extending one first. */
  files: string[];
  problems: Array<{ path: PropertyKey[]; origin?: Origin; value: unknown; message: string; fix: string }>;
}

/**
 * Resolves `extends` in a fleet mapping: reads each base (relative to the
 * project, through `readFile`) and lays the mapping over it. `extends` itself
 * is removed from the result. Problems name the file and line of the
 * `extends` that cannot be followed.
 */
export function resolveExtends(top: { value: unknown; origins?: OriginTree; file?: string }, readFile: (file: string) => string | undefined, maxDepth = 8): Layered {
  const files: string[] = top.file ? [top.file] : [];
  const problems: Layered["problems"] = [];
  const resolve = (cur: { value: unknown; origins?: OriginTree }, chain: string[]): { value: unknown; origins?: OriginTree } => {
    if (!isMapping(cur.value) || !(EXTENDS_KEY in cur.value)) return cur;
    const { [EXTENDS_KEY]: ref, ...rest } = cur.value;
    const own = { value: rest, origins: cur.origins && { ...cur.origins, children: new Map([...(cur.origins.children ?? [])].filter(([k]) => k !== EXTENDS_KEY)) } };
    const origin = originAt(cur.origins, [EXTENDS_KEY]);
    const bad = (message: string, fix: string) => {
      problems.push({ path: [EXTENDS_KEY], origin, value: ref, message, fix });
      return own;
    };
    if (typeof ref !== "string" || ref === "") return bad("must name a YAML file of the project", "write extends: fleets/common.yaml");
    if (ref.startsWith("/") || ref.split(/[\\/]/).includes("..")) return bad("must be a path inside the project", "use a relative path such as fleets/common.yaml");
    if (chain.includes(ref)) return bad(`files extend each other: ${[...chain, ref].join(" → ")}`, "remove the extends that closes the cycle");
    if (chain.length >= maxDepth) return bad(`more than ${maxDepth} levels of extends`, "flatten the chain of base files");
    const text = readFile(ref);
    if (text === undefined) return bad("no such file in the project", `create ${ref} or correct the path`);
    const read = readYaml(ref, text);
    if (read.error) {
      problems.push({ path: [], origin: read.error.origin, value: undefined, message: `not valid YAML: ${indentSnippet(read.error.message)}`, fix: "correct the YAML at that line" });
      return own;
    }
    if (!isMapping(read.value)) return bad("does not hold a mapping (the fleet's sections)", `write the shared sections of the fleet config as a mapping in ${ref}`);
    files.push(ref);
    const base = resolve({ value: read.value, origins: read.origins }, [...chain, ref]);
    return layer(base, own);
  };
  const out = resolve(top, top.file ? [top.file] : []);
  return { value: out.value, origins: out.origins, files, problems };
}
