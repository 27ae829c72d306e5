/**
 * The policy data files in data/: the deny list, the nova release table and
 * the tested-combinations matrix (L1). Loaded once, validated; a malformed
 * file stops the pack with a message naming the file and entry.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { compareDebVersions, isExactDebVersion } from "../../formats/dpkg";
import { KERNEL_PACKAGE, ROLE_PACKAGES, type Component } from "../../facts/packages";

export const DATA_DIR = path.join(__dirname, "..", "data");

function load(file: string): any {
  return YAML.parse(fs.readFileSync(path.join(DATA_DIR, file), "utf8"));
}

function bad(file: string, where: string, what: string): never {
  throw new Error(`data/${file}: ${where}: ${what}`);
}

export type Op = "<" | "<=" | "=" | ">=" | ">";
export interface Constraint {
  op: Op;
  version: string;
}

export function parseConstraint(s: unknown, file: string, where: string): Constraint {
  const m = typeof s === "string" ? /^(<=|>=|<|>|=)\s*(\S+)$/.exec(s.trim()) : null;
  if (!m || !isExactDebVersion(m[2])) bad(file, where, `expected "<op> <version>" with op one of < <= = >= >, got ${JSON.stringify(s)}`);
  return { op: m[1] as Op, version: m[2] };
}

export function satisfies(version: string, c: Constraint): boolean {
  const d = compareDebVersions(version, c.version);
  switch (c.op) {
    case "<":
      return d < 0;
    case "<=":
      return d <= 0;
    case "=":
      return d === 0;
    case ">=":
      return d >= 0;
    case ">":
      return d > 0;
  }
}

export interface DenyEntry {
  package: string;
  /** Compared with the upstream part of the version, or with the whole Debian version. */
  part: "upstream" | "version";
  constraint: Constraint;
  reason: string;
  source: string;
}

export interface Combination {
  id: string;
  versions: Partial<Record<Component, string>>;
  soak: { hours: number; simulatedUsers: number; failures: number; date: string; workload: string; report: string };
}

let denyList: DenyEntry[] | undefined;
let combinations: Combination[] | undefined;

export function loadDenyList(): DenyEntry[] {
  if (denyList) return denyList;
  const f = "deny-list.yaml";
  const raw = load(f);
  if (!raw || !Array.isArray(raw.entries)) bad(f, "top level", "expected `entries:` with a list");
  denyList = raw.entries.map((e: any, i: number) => {
    const where = `entries[${i}]`;
    if (!e || typeof e.package !== "string") bad(f, where, "needs `package`");
    if ((e.upstream === undefined) === (e.version === undefined)) bad(f, where, "needs exactly one of `upstream` or `version`");
    if (typeof e.reason !== "string" || typeof e.source !== "string") bad(f, where, "needs `reason` and `source`");
    const part = e.upstream !== undefined ? "upstream" : "version";
    return { package: e.package, part, constraint: parseConstraint(e[part], f, where), reason: e.reason, source: e.source };
  });
  return denyList!;
}

export const COMPONENTS: Component[] = ["kernel", "qemu", "libvirt", "openvswitch", "dnsmasq", "rabbitmq", "nova", "neutron"];

/** Debian package → version-set component, from the same table the program pins with. */
export const PACKAGE_COMPONENT: Record<string, Component> = Object.fromEntries(
  [KERNEL_PACKAGE, ...Object.values(ROLE_PACKAGES).flat()].map(([pkg, comp]) => [pkg, comp]),
);

export function loadCombinations(): Combination[] {
  if (combinations) return combinations;
  const f = "tested-combinations.yaml";
  const raw = load(f);
  if (!raw || !Array.isArray(raw.combinations)) bad(f, "top level", "expected `combinations:` with a list");
  combinations = raw.combinations.map((c: any, i: number) => {
    const where = `combinations[${i}]`;
    if (typeof c?.id !== "string") bad(f, where, "needs an `id`");
    if (!c.versions || typeof c.versions !== "object") bad(f, where, "needs `versions`");
    for (const [k, v] of Object.entries(c.versions)) {
      if (!COMPONENTS.includes(k as Component)) bad(f, `${where}.versions.${k}`, `unknown component; use ${COMPONENTS.join(", ")}`);
      if (!isExactDebVersion(String(v))) bad(f, `${where}.versions.${k}`, `not an exact Debian version: ${JSON.stringify(v)}`);
    }
    const s = c.soak ?? {};
    for (const k of ["hours", "simulatedUsers", "failures"]) if (typeof s[k] !== "number") bad(f, `${where}.soak`, `needs a number ${k}`);
    for (const k of ["date", "workload", "report"]) if (s[k] === undefined) bad(f, `${where}.soak`, `needs ${k}`);
    return {
      id: c.id,
      versions: Object.fromEntries(Object.entries(c.versions).map(([k, v]) => [k, String(v)])),
      soak: { hours: s.hours, simulatedUsers: s.simulatedUsers, failures: s.failures, date: String(s.date instanceof Date ? s.date.toISOString().slice(0, 10) : s.date), workload: String(s.workload), report: String(s.report) },
    };
  });
  return combinations!;
}
