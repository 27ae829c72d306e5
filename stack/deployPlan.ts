/**
 * What deploying a stack means, in the form its config gives it (README, "Deploying"):
 *
 *  - a whole-fleet stack (no `vdi-fleet:part`, e.g. prod): that stack, in one `pulumi up`;
 *  - a region stack (`part: { kind: region }`, e.g. prod-region): the region stack first, then
 *    every cell stack whose `regionStack` names it, in parallel. Every cell of the fleet must have
 *    exactly one such stack reading the same fleet file: a cell without one would never be
 *    deployed, two would converge the same hosts;
 *  - a cell stack is not a starting point: its region stack is.
 *
 * Pure: the stack files are read by the caller (scripts/deployPlan.ts).
 */
import { FLEET_FILE_KEY } from "./config/source";
import { PART_KEY, stackNameOf } from "./config/part";

export interface DeployPlan {
  form: "single" | "split";
  /** The stack deployed first (alone): the whole-fleet stack, or the region stack. */
  first: string;
  /** The cell stacks deployed after it, in parallel (split form), sorted. */
  cells: string[];
}

/** What the plan needs of one stack file: its part and fleet file as written, and its fleet's cell names. */
export interface StackFacts {
  part?: { kind?: unknown; cell?: unknown; regionStack?: unknown };
  fleetFile?: string;
  cells: string[];
  /** Why the stack file could not be read (then nothing else is known of it). */
  problem?: string;
}

/** A stack file's problem, prefixed with its name unless it already names it. */
const fileProblem = (stack: string, problem: string) => (problem.includes(`Pulumi.${stack}.yaml`) ? problem : `Pulumi.${stack}.yaml: ${problem}`);

/** The plan for deploying `stack`, or every reason it cannot be deployed (each with its fix). */
export function deployPlan(stack: string, stacks: Map<string, StackFacts>): DeployPlan | { problems: string[] } {
  const me = stacks.get(stack);
  if (!me) return { problems: [`no stack file Pulumi.${stack}.yaml: stacks here are ${[...stacks.keys()].sort().join(", ")}`] };
  if (me.problem) return { problems: [fileProblem(stack, me.problem)] };
  const kind = me.part?.kind;
  if (kind === undefined) return { form: "single", first: stack, cells: [] };
  if (kind === "cell") {
    const region = typeof me.part?.regionStack === "string" ? stackNameOf(me.part.regionStack) : "its region stack";
    return { problems: [`Pulumi.${stack}.yaml is a cell stack (${PART_KEY}.kind: cell): deploy its region stack instead (${region}), which deploys its cells after it`] };
  }
  if (kind !== "region") return { problems: [`Pulumi.${stack}.yaml: ${PART_KEY}.kind is ${JSON.stringify(kind)}, neither region nor cell: correct it (npm run preview -- --stack ${stack} names the problem)`] };

  const problems: string[] = [];
  const byCell = new Map<string, string[]>();
  for (const [name, s] of [...stacks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name === stack) continue;
    if (s.problem) {
      // It may be one of this region's cells: deploying without knowing would skip a cell silently.
      problems.push(`${fileProblem(name, s.problem)} (it cannot be told whether it is a cell stack of ${stack}): correct it`);
      continue;
    }
    if (s.part?.kind !== "cell" || typeof s.part.regionStack !== "string" || stackNameOf(s.part.regionStack) !== stack) continue;
    const cell = String(s.part.cell);
    if (s.fleetFile !== me.fleetFile) {
      problems.push(`Pulumi.${name}.yaml names the fleet file ${s.fleetFile ?? "(none: an inline fleet)"}, its region stack ${stack} ${me.fleetFile ?? "(none: an inline fleet)"}: every stack of a split region reads the same fleet file (${FLEET_FILE_KEY}); set it to ${me.fleetFile ?? "the region's fleet file"}`);
    }
    (byCell.get(cell) ?? byCell.set(cell, []).get(cell)!).push(name);
  }
  for (const cell of me.cells) {
    const list = byCell.get(cell) ?? [];
    if (list.length === 0) problems.push(`cell ${cell} of ${me.fleetFile ?? `Pulumi.${stack}.yaml`} has no cell stack naming ${stack} as its regionStack, so it would never be deployed: add Pulumi.${stack.replace(/-region$/, "")}-${cell}.yaml with ${PART_KEY}: { kind: cell, cell: ${cell}, regionStack: ${stack} }`);
    if (list.length > 1) problems.push(`cell ${cell} has ${list.length} cell stacks (${list.map((n) => `Pulumi.${n}.yaml`).join(", ")}): they would converge the same hosts; keep one`);
  }
  for (const [cell, list] of byCell) {
    if (!me.cells.includes(cell)) problems.push(`${list.map((n) => `Pulumi.${n}.yaml`).join(", ")} deploys cell ${cell}, which ${me.fleetFile ?? `the fleet of ${stack}`} does not have: remove the stack file or correct ${PART_KEY}.cell`);
  }
  if (problems.length) return { problems };
  return { form: "split", first: stack, cells: [...byCell.values()].flat().sort() };
}
