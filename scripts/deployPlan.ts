/**
 * `npm run -s deploy-plan -- --stack NAME [--format text|json|github]`: which stacks deploying
 * NAME means, in the form its config gives it (stack/deployPlan.ts) — the stack alone, or its
 * region stack first and then its cell stacks in parallel. `--format github` prints the lines
 * `form=…`, `first=…`, `cells=[…]` for $GITHUB_OUTPUT (deploy.yml's plan job).
 *
 * Exit codes: 0 a plan, 2 bad usage or a stack that cannot be deployed as configured (every
 * reason printed, each with its fix).
 */
import { PART_KEY } from "../stack/config/part";
import { FLEET_FILE_KEY } from "../stack/config/source";
import { deployPlan, type StackFacts } from "../stack/deployPlan";
import { fleetOf, listStacks, readStackFile, PROJECT_DIR } from "../review/evaluate";
import { parseCli, runCli, UsageError } from "./cli";

const USAGE = "usage: npm run -s deploy-plan -- --stack NAME [--format text|json|github]";
const FORMATS = ["text", "json", "github"] as const;

/** What the plan needs of one stack file; a file that cannot be read is a problem, not an exception. */
function factsOf(stack: string): StackFacts {
  try {
    const sf = readStackFile(stack, PROJECT_DIR);
    const partText = sf.config[PART_KEY];
    let part: StackFacts["part"];
    if (partText !== undefined) {
      try {
        part = JSON.parse(partText) as StackFacts["part"];
      } catch {
        part = { kind: partText };
      }
    }
    const fleet = fleetOf(sf);
    const cells = Array.isArray(fleet.cells) ? fleet.cells.map((c) => String((c as { name?: unknown })?.name)) : [];
    return { part, fleetFile: sf.config[FLEET_FILE_KEY], cells };
  } catch (e) {
    return { cells: [], problem: e instanceof Error ? e.message.split("\n")[0] : String(e) };
  }
}

async function main(argv: string[]): Promise<number> {
  const v = parseCli(argv, { stack: { type: "string" }, format: { type: "string", default: "text" } }, USAGE);
  if (v.stack === undefined) throw new UsageError(`--stack is required\n${USAGE}`);
  if (!(FORMATS as readonly string[]).includes(v.format!)) throw new UsageError(`--format ${v.format}: use one of ${FORMATS.join(", ")}\n${USAGE}`);
  const stacks = new Map(listStacks(PROJECT_DIR).map((s) => [s, factsOf(s)]));
  const plan = deployPlan(v.stack, stacks);
  if ("problems" in plan) {
    process.stderr.write(`cannot deploy ${v.stack} as configured:\n${plan.problems.map((p) => `  - ${p}`).join("\n")}\n`);
    return 2;
  }
  if (v.format === "json") process.stdout.write(`${JSON.stringify(plan)}\n`);
  else if (v.format === "github") process.stdout.write(`form=${plan.form}\nfirst=${plan.first}\ncells=${JSON.stringify(plan.cells)}\n`);
  else if (plan.form === "single") process.stdout.write(`${plan.first}: one stack, one pulumi up\n`);
  else process.stdout.write(`${plan.first} first (the region stack), then in parallel: ${plan.cells.join(", ")}\n`);
  return 0;
}

if (require.main === module) runCli(() => main(process.argv.slice(2)), 3);
