/**
 * Which part of a region a stack deploys (`vdi-fleet:part`):
 *
 *  - absent: the whole fleet in one stack (small fleets; the pr and lab stacks);
 *  - `{ kind: region }`: the region stack — brokers, network nodes, desktop
 *    flavors, tenant networks — and its `region` output that cell stacks read;
 *  - `{ kind: cell, cell: <name>, regionStack: <stack> }`: one cell — its
 *    compute hosts and aggregate — gated on the region stack (StackReference):
 *    its hosts converge only when the region stack was last deployed with the
 *    same region revision (stack/region.ts) as this checkout computes.
 *
 * All stacks of a split region name the same fleet file (`vdi-fleet:fleetFile`).
 */
import { z } from "zod";
import type { Fleet } from "./load";
import { problemsFromZod, showValue, type ConfigProblem } from "./problems";

export const PART_KEY = "vdi-fleet:part";

const stackName = z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+){0,2}$/, { error: "must be a stack name (prod-region) or <org>/<project>/<stack>" });

export const partSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("region") }),
  z.strictObject({ kind: z.literal("cell"), cell: z.string().min(1), regionStack: stackName }),
]);

export type StackPart = { kind: "fleet" } | z.output<typeof partSchema>;

/** Parses `vdi-fleet:part` (JSON text as Pulumi passes it) and checks it against the fleet. */
export function readPart(text: string | undefined, fleet: Fleet | undefined): { part: StackPart; problems: ConfigProblem[] } {
  if (text === undefined) return { part: { kind: "fleet" }, problems: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = text;
  }
  const parsed = partSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) return { part: { kind: "fleet" }, problems: problemsFromZod(PART_KEY, parsed.error.issues, raw) };
  const part = parsed.data;
  const problems: ConfigProblem[] = [];
  if (part.kind === "cell" && fleet && !fleet.cells.some((c) => c.name === part.cell)) {
    problems.push({
      path: `${PART_KEY}.cell`,
      value: showValue(part.cell),
      message: "no such cell in the fleet",
      fix: `use one of ${fleet.cells.map((c) => c.name).join(", ")}`,
    });
  }
  return { part, problems };
}

/** The last segment of a stack name: the stack file the offline tools evaluate for a reference. */
export function stackNameOf(ref: string): string {
  return ref.split("/").pop()!;
}
