/**
 * `node -r ts-node/register/transpile-only lab/evaluateChild.ts`: reads
 * {stack, stackFile} as JSON on stdin, evaluates the program (index.ts) under
 * Pulumi's mock runtime in update mode and writes the Evaluation as JSON to
 * stdout. The lab runs each evaluation in a fresh process (the program's
 * modules and the SDK's runtime state are per process). The stack file holds
 * the lab's generated secrets: they travel only through this pipe.
 */
import * as path from "path";
import { evaluate, PROJECT_DIR, type StackFile } from "../lib/evaluate";

async function main(): Promise<void> {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { stack, stackFile } = JSON.parse(input) as { stack: string; stackFile: StackFile };
  const ev = await evaluate({ stack, stackFile, preview: false, load: () => require(path.join(PROJECT_DIR, "index")) });
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(ev), () => resolve()));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
