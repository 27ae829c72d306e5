/**
 * `node bin/review/evaluateChild.js` (this project, compiled) or
 * `node -r ts-node/register/transpile-only review/evaluateChild.ts`: reads
 * {stack, stackFile, preview, dir?, stackReferences?} as JSON on stdin,
 * evaluates <dir>/index.ts (default: this project) under Pulumi's mock runtime
 * and writes the Evaluation (resources and outputs) as JSON to stdout. Used by
 * review/offline.ts: each evaluation gets a fresh process (the program's modules
 * and the SDK's runtime state are per process). The stack file may hold
 * secrets (the lab's): they travel only through this pipe.
 */
import * as path from "path";
import { evaluate, PROGRAM_ENTRY, PROJECT_DIR, type StackFile } from "./evaluate";
import { nativeStackTraces } from "../stack/stackTraces";

interface Request {
  stack: string;
  stackFile: StackFile;
  preview: boolean;
  dir?: string;
  stackReferences?: Record<string, Record<string, unknown>>;
}

async function main(): Promise<void> {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const req = JSON.parse(input) as Request;
  const dir = path.resolve(req.dir ?? PROJECT_DIR);
  // Compiled, this project's program is bin/index.js; otherwise the tree's index.ts (through ts-node).
  const entry = dir === PROJECT_DIR ? PROGRAM_ENTRY : path.join(dir, "index");
  // A failing program is reported by its message: no trace here needs source maps (stack/stackTraces.ts).
  nativeStackTraces(true);
  const ev = await evaluate({ stack: req.stack, stackFile: req.stackFile, preview: req.preview, stackReferences: req.stackReferences, load: () => require(entry) });
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(ev), () => resolve()));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
