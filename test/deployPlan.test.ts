/**
 * Which stacks deploying a stack means (stack/deployPlan.ts, `npm run deploy-plan`, deploy.yml's
 * plan job): the stack alone, or its region stack and then every cell stack, each cell exactly once.
 */
import { deployPlan, type StackFacts } from "../stack/deployPlan";

const CELLS = ["cell-a", "cell-b"];
const region: StackFacts = { part: { kind: "region" }, fleetFile: "fleets/prod.yaml", cells: CELLS };
const cell = (c: string, over: Partial<StackFacts> = {}): StackFacts => ({ part: { kind: "cell", cell: c, regionStack: "prod-region" }, fleetFile: "fleets/prod.yaml", cells: CELLS, ...over });
const stacks = (extra: Record<string, StackFacts> = {}) =>
  new Map<string, StackFacts>(
    Object.entries({
      prod: { fleetFile: "fleets/prod.yaml", cells: CELLS },
      pr: { cells: ["pr"] },
      "prod-region": region,
      "prod-cell-a": cell("cell-a"),
      "prod-cell-b": cell("cell-b", { part: { kind: "cell", cell: "cell-b", regionStack: "acme/vdi-fleet/prod-region" } }),
      ...extra,
    }),
  );

test("a whole-fleet stack is one stack; a region stack is itself, then every cell stack naming it", () => {
  expect(deployPlan("prod", stacks())).toEqual({ form: "single", first: "prod", cells: [] });
  expect(deployPlan("prod-region", stacks())).toEqual({ form: "split", first: "prod-region", cells: ["prod-cell-a", "prod-cell-b"] });
});

test("every reason a split region cannot be deployed as configured, at once, each with its fix", () => {
  const s = stacks({
    "prod-cell-b": cell("cell-b", { fleetFile: "fleets/other.yaml" }),
    "prod-cell-b2": cell("cell-b"),
    "prod-cell-z": cell("cell-z"),
    broken: { cells: [], problem: "Pulumi.broken.yaml is not valid YAML" },
  });
  s.set("prod-region", { ...region, cells: [...CELLS, "cell-c"] });
  const r = deployPlan("prod-region", s) as { problems: string[] };
  expect(r.problems).toEqual([
    "Pulumi.broken.yaml is not valid YAML (it cannot be told whether it is a cell stack of prod-region): correct it",
    "Pulumi.prod-cell-b.yaml names the fleet file fleets/other.yaml, its region stack prod-region fleets/prod.yaml: every stack of a split region reads the same fleet file (vdi-fleet:fleetFile); set it to fleets/prod.yaml",
    "cell cell-b has 2 cell stacks (Pulumi.prod-cell-b.yaml, Pulumi.prod-cell-b2.yaml): they would converge the same hosts; keep one",
    "cell cell-c of fleets/prod.yaml has no cell stack naming prod-region as its regionStack, so it would never be deployed: add Pulumi.prod-cell-c.yaml with vdi-fleet:part: { kind: cell, cell: cell-c, regionStack: prod-region }",
    "Pulumi.prod-cell-z.yaml deploys cell cell-z, which fleets/prod.yaml does not have: remove the stack file or correct vdi-fleet:part.cell",
  ]);
});

test("a cell stack, an unknown stack and an unreadable stack are not deployable, and say what is", () => {
  expect(deployPlan("prod-cell-a", stacks())).toEqual({ problems: ["Pulumi.prod-cell-a.yaml is a cell stack (vdi-fleet:part.kind: cell): deploy its region stack instead (prod-region), which deploys its cells after it"] });
  expect(deployPlan("nope", stacks())).toEqual({ problems: ["no stack file Pulumi.nope.yaml: stacks here are pr, prod, prod-cell-a, prod-cell-b, prod-region"] });
  expect(deployPlan("x", new Map([["x", { cells: [], problem: "bad" }]]))).toEqual({ problems: ["Pulumi.x.yaml: bad"] });
});
