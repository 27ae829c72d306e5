/**
 * Config problems: each names the exact config path, the bad value and the fix.
 * All problems are collected and reported at once.
 */
import type { z } from "zod";
import { originAt, showOrigin, type Origin, type OriginTree } from "../../formats/yaml";

export interface ConfigProblem {
  /** e.g. "vdi-fleet:fleet.cells[1](cell-b).overcommit.ramAllocationRatio" */
  path: string;
  /** The file and line the value was written at (or where to add a missing one), when known. */
  at?: Origin;
  /** The offending value, already rendered for display (truncated); empty when there is none to show (a YAML syntax error). */
  value: string;
  message: string;
  fix: string;
}

export class FleetConfigError extends Error {
  constructor(public readonly problems: ConfigProblem[]) {
    super(formatProblems(problems));
    this.name = "FleetConfigError";
  }
}

export function formatProblems(problems: ConfigProblem[]): string {
  const n = problems.length;
  const lines = problems.map((p, i) => `  ${i + 1}. ${locate(p)}${p.value ? ` = ${p.value}` : ""}: ${p.message}. Fix: ${p.fix}`);
  return `fleet config has ${n} problem${n === 1 ? "" : "s"}:\n${lines.join("\n")}`;
}

/**
 * "fleets/common.yaml:58: defaults.overcommit.cpuAllocationRatio": the file and line to edit,
 * then the path inside the fleet mapping (its root, "vdi-fleet:fleet." or "<file>:", is left out:
 * the line already names the file, which may be a base the stack extends).
 */
export function locate(p: ConfigProblem): string {
  if (!p.at) return p.path;
  const inFleet = p.path.replace(/^[A-Za-z0-9_-]+:[A-Za-z0-9_]+\.|^[^\s:]+\.ya?ml:/, "");
  // A problem with the whole file or mapping (a YAML syntax error) has no path inside it.
  const whole = inFleet === "" || /^[A-Za-z0-9_-]+:[A-Za-z0-9_]+$|\.ya?ml$/.test(inFleet);
  return whole ? showOrigin(p.at) : `${showOrigin(p.at)}: ${inFleet}`;
}

export function showValue(v: unknown): string {
  if (v === undefined) return "(missing)";
  let s: string;
  try {
    s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Renders a path, naming list elements that have a `name` (cells[1](cell-b)). */
export function showPath(root: string, path: ReadonlyArray<PropertyKey>, data: unknown): string {
  let out = root;
  let cur: unknown = data;
  for (const seg of path) {
    if (typeof seg === "number") {
      out += `[${seg}]`;
      cur = Array.isArray(cur) ? cur[seg] : undefined;
      const nm = cur && typeof cur === "object" ? (cur as Record<string, unknown>).name : undefined;
      if (typeof nm === "string") out += `(${nm.length > 40 ? `${nm.slice(0, 37)}...` : nm})`;
    } else {
      const k = String(seg);
      // A root ending in ":" is a file ("fleets/prod.yaml:cells[1]"), else a config key ("vdi-fleet:fleet.cells[1]").
      const dot = out.endsWith(":") ? "" : ".";
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${dot}${k}` : `[${JSON.stringify(k)}]`;
      cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[k] : undefined;
    }
  }
  return out;
}

/** The value at `path` in parsed config data, or undefined. */
export function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg as never];
  }
  return cur;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a number";
  return `a ${typeof v}`;
}

/** Turns zod issues into problems with a fix for each, located at the line each value came from. */
export function problemsFromZod(root: string, issues: z.core.$ZodIssue[], data: unknown, origins?: OriginTree): ConfigProblem[] {
  const located: ConfigProblem[] = [];
  for (const iss of issues) {
    const out: ConfigProblem[] = [];
    const at = (path: ReadonlyArray<PropertyKey>) => originAt(origins, path);
    if (iss.code === "unrecognized_keys") {
      for (const k of iss.keys) {
        located.push({
          path: showPath(root, [...iss.path, k], data),
          at: at([...iss.path, k]),
          value: showValue(valueAt(data, [...iss.path, k])),
          message: `unknown key "${k}"`,
          fix: "remove it or correct its spelling (see README, Configuration)",
        });
      }
      continue;
    }
    const input = "input" in iss ? iss.input : valueAt(data, iss.path);
    const path = showPath(root, iss.path, data);
    const value = showValue(input);
    switch (iss.code) {
      case "invalid_type": {
        const names: Record<string, string> = { int: "an integer", number: "a number", array: "a list", object: "a mapping", record: "a mapping", string: "a string", boolean: "true or false" };
        const expected = names[iss.expected] ?? `a ${iss.expected}`;
        if (input === undefined) {
          const key = iss.path.length ? String(iss.path[iss.path.length - 1]) : "it";
          out.push({ path, value, message: `required (${expected})`, fix: `add ${key} with ${expected}` });
        } else if (typeof input === "string" && (iss.expected === "number" || iss.expected === "int") && input.trim() !== "" && !Number.isNaN(Number(input))) {
          out.push({ path, value, message: `expected ${expected}, got a string`, fix: `write it without quotes: ${Number(input)}` });
        } else {
          out.push({ path, value, message: `expected ${expected}, got ${typeName(input)}`, fix: `give ${expected}` });
        }
        break;
      }
      case "too_small":
        if (iss.origin === "string") {
          out.push({ path, value, message: Number(iss.minimum) <= 1 ? "must not be empty" : `needs at least ${iss.minimum} characters`, fix: "give a value" });
          break;
        }
        out.push({
          path,
          value,
          message: Array.isArray(input) ? `needs at least ${iss.minimum} entr${Number(iss.minimum) === 1 ? "y" : "ies"}` : `must be ${iss.inclusive ? "≥" : ">"} ${iss.minimum}`,
          fix: Array.isArray(input) ? `add entries` : `use a value ${iss.inclusive ? "≥" : ">"} ${iss.minimum}`,
        });
        break;
      case "too_big":
        out.push({ path, value, message: `must be ${iss.inclusive ? "≤" : "<"} ${iss.maximum}`, fix: `use a value ${iss.inclusive ? "≤" : "<"} ${iss.maximum}` });
        break;
      case "invalid_value":
        out.push({
          path,
          value,
          message: `not one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}`,
          fix: `use one of ${iss.values.map((v) => String(v)).join(", ")}`,
        });
        break;
      case "invalid_key": {
        const inner = iss.issues?.[0]?.message;
        out.push({ path, value, message: `not a valid name${inner ? `: it ${inner}` : ""}`, fix: "rename it: lower-case letters, digits and '-', e.g. epyc-512g" });
        break;
      }
      case "invalid_union":
        out.push({ path, value, message: "not an accepted value", fix: "see README, Configuration, for the accepted forms" });
        break;
      default:
        out.push({ path, value, message: iss.message, fix: fixFromMessage(iss.message) });
    }
    const where = at(iss.path);
    located.push(...out.map((p) => (where ? { ...p, at: where } : p)));
  }
  return located;
}

function fixFromMessage(msg: string): string {
  if (/^must /.test(msg)) return `make it so: it ${msg}`;
  if (/ranges, operators|not a version|not a Debian version|colon|non-empty|spaces/.test(msg)) {
    return "give the exact Debian version as `apt-cache policy <package>` prints it, e.g. 2.90-4~deb12u2";
  }
  return "correct the value";
}
