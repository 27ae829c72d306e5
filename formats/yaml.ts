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

/** The line holding `offset`, and a caret under column `col`, as the yaml package prints its snippets. */
function snippet(text: string, offset: number, col: number): string {
  const start = text.lastIndexOf("\n", offset - 1) + 1;
  const end = text.indexOf("\n", offset);
  return `${text.slice(start, end < 0 ? text.length : end)}\n${" ".repeat(col - 1)}^\n`;
}

/**
 * Where the collection or quoted string that the yaml package found unclosed was opened. The
 * package reports where it noticed (for `key: [a` the next line, or the end of the file), which is
 * not the line to fix. Scans the text before that point: brackets outside quoted strings and
 * comments, and quotes that start a scalar (at the start of a line's content or after `[{,:-?`).
 * Undefined for any other error, or when the scan finds no opener (then the package's own place).
 */
export function unclosedOpener(text: string, message: string, upTo: number): { offset: number; what: string } | undefined {
  const bracket = /must be sufficiently indented and end with an? ([\]}])/.exec(message)?.[1];
  const quote = /^Missing closing ("|')quote/.exec(message)?.[1];
  if (!bracket && !quote) return undefined;
  const open: Array<{ ch: string; offset: number }> = [];
  let inQuote: { ch: string; offset: number } | undefined;
  let prev = "\n"; // the last character that is not a space or tab on the current line ("\n": none yet)
  for (let i = 0; i < Math.min(upTo, text.length); i++) {
    const c = text[i];
    if (inQuote) {
      if (inQuote.ch === '"' && c === "\\") i++;
      else if (c === inQuote.ch) {
        if (c === "'" && text[i + 1] === "'") i++;
        else inQuote = undefined;
      }
      continue;
    }
    if (c === "\n") {
      prev = "\n";
      continue;
    }
    if (c === " " || c === "\t") continue;
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl - 1;
      continue;
    }
    if ((c === '"' || c === "'") && (prev === "\n" || "[{,:-?".includes(prev))) inQuote = { ch: c, offset: i };
    else if (c === "[" || c === "{") open.push({ ch: c, offset: i });
    else if ((c === "]" || c === "}") && open.length && open[open.length - 1].ch === (c === "]" ? "[" : "{")) open.pop();
    prev = c;
  }
  if (quote) return inQuote && inQuote.ch === quote ? { offset: inQuote.offset, what: `a ${quote === '"' ? "double" : "single"}-quoted string that is never closed` } : undefined;
  const want = bracket === "]" ? "[" : "{";
  const last = [...open].reverse().find((o) => o.ch === want);
  return last ? { offset: last.offset, what: `a ${want} that is never closed` } : undefined;
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
    const opened = unclosedOpener(text, err.message, err.pos[0]);
    if (opened) {
      const p = lineCounter.linePos(opened.offset);
      return { error: { message: `${opened.what} at line ${p.line}, column ${p.col}:\n\n${snippet(text, opened.offset, p.col)}`, origin: { file, line: p.line, col: p.col } } };
    }
    const lp = err.linePos?.[0];
    return { error: { message: err.message, origin: { file, line: lp?.line ?? 1, col: lp?.col ?? 1 } } };
  }
  const contents = doc.contents as Node | null;
  return { value: doc.toJS(), origins: originTree(contents, contents?.range ? pos(contents.range[0]) : { file, line: 1, col: 1 }, pos) };
}
