/**
 * YAML read with positions (the `yaml` package, YAML 1.2 core schema): the
 * value, and a tree of origins parallel to it (file, line and column of every
 * value), so messages can name the line to edit. A syntax error comes back
 * with its line, column and a snippet with a caret. Pure.
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
