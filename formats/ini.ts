/**
 * INI rendering (oslo.config / systemd style) and parsing.
 * Rendering is deterministic: sections and keys in the order given.
 */

export type IniValue = string | number | boolean | undefined;
export type IniSection = Array<[string, IniValue]>;
export type IniDoc = Array<[string, IniSection]>;

/** A float as oslo/Python writes it: always with a decimal point (2 → "2.0"). */
export function fmtFloat(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function fmt(v: Exclude<IniValue, undefined>): string {
  if (typeof v === "boolean") return v ? "true" : "false";
  return String(v);
}

/**
 * Renders sections; keys with undefined values are left out, so "unset" stays
 * unset (nova then uses its own default — which a policy can see).
 */
export function renderIni(doc: IniDoc, header?: string[], opts: { separator?: string } = {}): string {
  const sep = opts.separator ?? " = ";
  const out: string[] = [];
  if (header) out.push(...header.map((h) => `# ${h}`), "");
  for (const [section, entries] of doc) {
    const kept = entries.filter(([, v]) => v !== undefined);
    if (kept.length === 0) continue;
    out.push(`[${section}]`);
    for (const [k, v] of kept) {
      const s = fmt(v as Exclude<IniValue, undefined>);
      if (/[\n\r]/.test(s)) throw new Error(`INI value for ${section}.${k} contains a newline`);
      out.push(`${k}${sep}${s}`);
    }
    out.push("");
  }
  while (out.length && out[out.length - 1] === "") out.pop();
  return out.join("\n") + "\n";
}

/**
 * Parses INI text into section → key → values (every occurrence kept, as
 * systemd and oslo.config multi-valued options allow). Comments (# ;) and
 * blank lines are skipped; keys before any section go to "".
 */
export function parseIni(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section = "";
  const sec = (s: string) => out.get(s) ?? out.set(s, new Map()).get(s)!;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^\[([^\]]+)\]$/.exec(line);
    if (m) {
      section = m[1];
      sec(section);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const s = sec(section);
    (s.get(key) ?? s.set(key, []).get(key)!).push(value);
  }
  return out;
}

/** The last value of section.key (the one oslo.config and systemd use for single-valued keys). */
export function iniGet(ini: Map<string, Map<string, string[]>>, section: string, key: string): string | undefined {
  const v = ini.get(section)?.get(key);
  return v && v.length ? v[v.length - 1] : undefined;
}

/** All values of a key (systemd's After= and similar accumulate). */
export function iniGetAll(ini: Map<string, Map<string, string[]>>, section: string, key: string): string[] {
  return ini.get(section)?.get(key) ?? [];
}
