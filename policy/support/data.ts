/**
 * The pack's data files in policy/data/: the deny list and the
 * tested-combinations matrix (L1). Loaded once and validated with zod; a
 * malformed file stops the pack with a message naming the file, the line and
 * the entry.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { compareDebVersions, isExactDebVersion } from "../../formats/dpkg";
import { originAt, readYaml, showOrigin } from "../../formats/yaml";
import { COMPONENTS, type Component } from "../../facts/packages";

/**
 * The pack's root: the nearest directory up from here with PulumiPolicy.yaml (policy/ here; the
 * package root when packed, where this file is compiled under dist/). Compiled into the project's
 * bin/ (bin/policy/support/), the pack it was compiled from: <project>/policy.
 */
function packRoot(from: string): string {
  for (let dir = from, i = 0; i < 8; i++, dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "PulumiPolicy.yaml"))) return dir;
    if (path.basename(dir) === "bin" && fs.existsSync(path.join(dir, "..", "policy", "PulumiPolicy.yaml"))) return path.join(dir, "..", "policy");
  }
  throw new Error(`no PulumiPolicy.yaml above ${from}: the pack's data files cannot be found`);
}

/** The pack's data directory, policy/data. */
export const DATA_DIR = path.join(packRoot(__dirname), "data");

export type Op = "<" | "<=" | "=" | ">=" | ">";
export interface Constraint {
  op: Op;
  version: string;
}

const exact = z.string().refine(isExactDebVersion, { error: "not an exact Debian version (write it as apt-cache policy prints it, quoted if YAML would read a number)" });

const constraint = z
  .string()
  .regex(/^(<=|>=|<|>|=)\s*\S+$/, { error: 'expected "<op> <version>" with op one of < <= = >= >' })
  .transform((s, ctx): Constraint => {
    const [, op, version] = /^(<=|>=|<|>|=)\s*(\S+)$/.exec(s.trim())!;
    if (!isExactDebVersion(version)) ctx.addIssue({ code: "custom", message: `${JSON.stringify(version)} is not an exact Debian version` });
    return { op: op as Op, version };
  });

const denyFile = z.strictObject({
  entries: z.array(
    z
      .strictObject({
        package: z.string().min(1),
        /** Compared with the upstream part of the Debian version (every Debian revision of it matches). */
        upstream: constraint.optional(),
        /** Compared with the whole Debian version. */
        version: constraint.optional(),
        reason: z.string().min(1),
        source: z.string().min(1),
      })
      .refine((e) => (e.upstream === undefined) !== (e.version === undefined), { error: "needs exactly one of upstream or version" }),
  ),
});

const combinationsFile = z.strictObject({
  combinations: z.array(
    z.strictObject({
      id: z.string().min(1),
      versions: z.partialRecord(z.enum(COMPONENTS), exact),
      soak: z.strictObject({
        hours: z.number().min(0),
        simulatedUsers: z.number().int().min(0),
        failures: z.number().int().min(0),
        date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: "must be a date like 2026-10-19" }),
        workload: z.string().min(1),
        report: z.string().min(1),
      }),
    }),
  ),
});

/** Validates a data file's text; throws one message listing every problem at its file and line. */
function parse<T>(rel: string, text: string, schema: z.ZodType<T>): T {
  const read = readYaml(rel, text);
  if (read.error) throw new Error(`${showOrigin(read.error.origin)}: not valid YAML: ${read.error.message}`);
  const parsed = schema.safeParse(read.value);
  if (parsed.success) return parsed.data;
  const line = (p: PropertyKey[], message: string) => {
    const where = p.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("").replace(/^\./, "") || "(top level)";
    const at = originAt(read.origins, p);
    return `  ${at ? `${showOrigin(at)}: ` : ""}${where}: ${message}`;
  };
  const lines = parsed.error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys.map((k) => line([...i.path, k], "unknown key")) : [line(i.path, i.message)]));
  throw new Error(`${rel} is malformed:\n${lines.join("\n")}`);
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

const read = (file: string) => fs.readFileSync(path.join(DATA_DIR, file), "utf8");

/** The deny list from a deny-list.yaml text (`rel` names it in messages). */
export function parseDenyList(text: string, rel = "policy/data/deny-list.yaml"): DenyEntry[] {
  return parse(rel, text, denyFile).entries.map((e) => ({
    package: e.package,
    part: e.upstream ? ("upstream" as const) : ("version" as const),
    constraint: (e.upstream ?? e.version)!,
    reason: e.reason,
    source: e.source,
  }));
}

/** The tested combinations from a tested-combinations.yaml text. */
export function parseCombinations(text: string, rel = "policy/data/tested-combinations.yaml"): Combination[] {
  return parse(rel, text, combinationsFile).combinations;
}

export function loadDenyList(): DenyEntry[] {
  denyList ??= parseDenyList(read("deny-list.yaml"));
  return denyList;
}

export function loadCombinations(): Combination[] {
  combinations ??= parseCombinations(read("tested-combinations.yaml"));
  return combinations;
}
