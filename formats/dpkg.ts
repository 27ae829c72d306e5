/**
 * Debian version strings, compared by dpkg's rules (deb-version(7)):
 * [epoch:]upstream_version[-debian_revision], with "~" sorting before
 * everything (even the end of the string), letters before non-letters.
 * `dpkg --compare-versions` is the reference; test/dpkg.test.ts checks
 * this implementation against it when dpkg is installed.
 */

/** An exact Debian version: no operators, wildcards, ranges or words like "latest". */
const VERSION_RE = /^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$/;

export interface DebVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Parses an exact Debian version, or returns an explanation of why it is not one. */
export function parseDebVersion(v: string): DebVersion | string {
  if (typeof v !== "string" || v.length === 0) return "a version must be a non-empty string";
  if (/^(latest|newest|stable|current|any|\*)$/i.test(v.trim())) return `"${v}" is not a version`;
  if (/[<>=*^|,]/.test(v) || /(^|[.:-])[xX](?=[.-]|$)/.test(v)) {
    return "ranges, operators and wildcards are not allowed; give the exact dpkg version";
  }
  if (/\s/.test(v)) return "a version must not contain spaces";
  const m = VERSION_RE.exec(v);
  if (!m) return "not a Debian version ([epoch:]upstream[-revision], upstream starting with a digit)";
  const epoch = m[1] === undefined ? 0 : Number(m[1]);
  const upstream = m[2];
  const revision = m[3] ?? "";
  // A colon in the upstream part is only allowed with an explicit epoch; a hyphen only with a revision.
  if (m[1] === undefined && upstream.includes(":")) return "a colon needs an epoch before it";
  if (!m[3] && upstream.includes("-")) return "not a Debian version";
  return { epoch, upstream, revision };
}

export function isExactDebVersion(v: unknown): v is string {
  return typeof v === "string" && typeof parseDebVersion(v) !== "string";
}

function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === "~") return -1;
  if (/[0-9]/.test(c)) return 0;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp on one part (upstream or revision). */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/[0-9]/.test(a[i])) || (j < b.length && !/[0-9]/.test(b[j]))) {
      const ac = order(i < a.length && !/[0-9]/.test(a[i]) ? a[i] : undefined);
      const bc = order(j < b.length && !/[0-9]/.test(b[j]) ? b[j] : undefined);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (i < a.length && /[0-9]/.test(a[i]) && j < b.length && /[0-9]/.test(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /[0-9]/.test(a[i])) return 1;
    if (j < b.length && /[0-9]/.test(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Returns <0, 0 or >0 like `dpkg --compare-versions a lt|eq|gt b`. Throws on a non-version. */
export function compareDebVersions(a: string, b: string): number {
  const pa = parseDebVersion(a);
  const pb = parseDebVersion(b);
  if (typeof pa === "string") throw new Error(`not a Debian version: ${JSON.stringify(a)} (${pa})`);
  if (typeof pb === "string") throw new Error(`not a Debian version: ${JSON.stringify(b)} (${pb})`);
  if (pa.epoch !== pb.epoch) return pa.epoch - pb.epoch;
  const u = compareFragment(pa.upstream, pb.upstream);
  if (u !== 0) return u;
  return compareFragment(pa.revision, pb.revision);
}

/** The upstream version without epoch and Debian revision, e.g. "2:26.2.2-1~deb12u5" → "26.2.2". */
export function upstreamOf(v: string): string {
  const p = parseDebVersion(v);
  if (typeof p === "string") throw new Error(`not a Debian version: ${JSON.stringify(v)}`);
  return p.upstream;
}
