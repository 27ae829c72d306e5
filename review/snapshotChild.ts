/**
 * `node -r ts-node/register/transpile-only scripts/snapshot.ts --dir <project> --stack <name> [--source <label>] [--out <file>]`
 *
 * Evaluates <dir>/index.ts with <dir>/Pulumi.<stack>.yaml under Pulumi's mock
 * runtime in preview mode and writes its desired-state snapshot (lib/compare:
 * plain inputs, secrets replaced by short hashes) as JSON to --out (default:
 * stdout). <dir> may be another checkout of this project (snapshotAtRef runs
 * this on a git ref's tree); it must resolve the same node_modules.
 * Exits 1 with the program's message (no stack trace) when it fails, 2 on bad arguments.
 */
import * as fs from "fs";
import * as path from "path";
import { evaluate, readStackFile, PROJECT_DIR } from "./evaluate";
import { snapshotFromEvaluation } from "./compare";
import { offlineStackReferences } from "./offline";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : undefined;
}

async function main(): Promise<number> {
  const dir = path.resolve(arg("dir") ?? PROJECT_DIR);
  const stack = arg("stack");
  if (!stack) {
    console.error("usage: snapshot.ts --dir <project> --stack <name> [--source <label>] [--out <file>]");
    return 2;
  }
  const source = arg("source") ?? (dir === PROJECT_DIR ? "working tree" : dir);
  const out = arg("out");
  let stackFile;
  try {
    stackFile = readStackFile(stack, dir);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
  let stackReferences: Record<string, Record<string, unknown>>;
  try {
    stackReferences = await offlineStackReferences(stackFile, { preview: true, dir });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
  const ev = await evaluate({ stack, stackFile, preview: true, stackReferences, load: () => require(path.join(dir, "index")) });
  if (ev.error) {
    console.error(ev.error);
    return 1;
  }
  const json = JSON.stringify(snapshotFromEvaluation(ev, source));
  if (out) fs.writeFileSync(out, json);
  // process.exit would cut a piped stdout short: wait until it is flushed.
  else await new Promise<void>((resolve) => process.stdout.write(json + "\n", () => resolve()));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
