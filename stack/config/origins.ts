/**
 * Where each value of the fleet config came from: YAML read with positions
 * (the `yaml` package), a tree of origins parallel to the value, and the
 * layering rule that lets a stack take shared sections from another file.
 *
 * Layering (`extends: <file>` in a fleet mapping): the mapping is laid over the
 * mapping of that file. Mappings merge key by key, recursively; anything else —
 * a number, a string, a list — is replaced as a whole by the extending side's
 * value. So a stack states only what differs, and a list (cells, hosts,
 * tenantNetworks) is always one file's own. A base may itself extend another
 * file; a cycle is an error.
 *
 * Pure apart from the `readFile` callback.
 */
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from "yaml";

export interface Origin {
  /** File, relative to the project. */
  file: string;
  line: number;
  col: number;
}

/** The origin of a value and of each of its keys or items. */
export interface OriginTree {
  at: Origin;
  children?: Map<string | number, OriginTree>;
}

export type PathKey = PropertyKey;

/** The origin of the value at `path`, or of its nearest ancestor that has one. */
export function originAt(tree: OriginTree | undefined, path: ReadonlyArray<PathKey>): Origin | undefined {
  let cur = tree;
  let found = tree?.at;
  for (const seg of path) {
    const next = cur?.children?.get(typeof seg === "number" ? seg : String(seg));
    if (!next) break;
    cur = next;
    found = next.at;
  }
  return found;
}

export const showOrigin = (o: Origin): string => `${o.file}:${o.line}`;

/** The yaml package's message ("… at line 3, column 1:\n\n<line>\n^") with its snippet indented under a listed problem. */
export function indentSnippet(message: string): string {
  return message.trimEnd().replace(/\n/g, "\n       ");
}

export interface YamlRead {
  value?: unknown;
  origins?: OriginTree;
  /** The first syntax error: message with line, column and a snippet with a caret. */
  error?: { message: string; origin: Origin };
}

function originTree(node: Node | null | undefined, at: Origin, pos: (offset: number) => Origin): OriginTree {
  const t: OriginTree = { at };
  if (!node || isScalar(node) || isAlias(node)) return t;
  if (isMap(node)) {
    t.children = new Map();
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      // A key's line is where the value is written (or where to add what is missing under it).
      const keyAt = item.key && (item.key as Node).range ? pos((item.key as Node).range![0]) : at;
      t.children.set(key, originTree(item.value as Node | null, keyAt, pos));
    }
  } else if (isSeq(node)) {
    t.children = new Map();
    node.items.forEach((item, i) => {
      const n = item as Node | null;
      t.children!.set(i, originTree(n, n?.range ? pos(n.range[0]) : at, pos));
    });
  }
  return t;
}

/** Parses YAML text, keeping the origin of every value. Never throws. */
export function readYaml(file: string, text: string): YamlRead {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const pos = (offset: number): Origin => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  const err = doc.errors[0];
  if (err) {
    const lp = err.linePos?.[0];
    return { error: { message: err.message, origin: { file, line: lp?.line ?? 1, col: lp?.col ?? 1 } } };
  }
  const contents = doc.contents as Node | null;
  return { value: doc.toJS(), origins: originTree(contents, contents?.range ? pos(contents.range[0]) : { file, line: 1, col: 1 }, pos) };
}

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
  problems: Array<{ path: PathKey[]; origin?: Origin; value: unknown; message: string; fix: string }>;
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
