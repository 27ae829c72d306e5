/**
 * Offline evaluation across stacks: a cell stack reads its region stack through
 * a StackReference, so evaluating it offline needs the region stack's outputs.
 * They come from evaluating the region stack's own Pulumi.<stack>.yaml (in a
 * fresh process, under the same mocks), exactly the outputs `pulumi up` of that
 * stack would export.
 */
import * as path from "path";
import { spawn } from "child_process";
import { PROJECT_DIR, readStackFile, referencedStacks, type Evaluation, type StackFile } from "./evaluate";

/** Evaluates a stack in a fresh process (scripts/evaluateChild.ts); rejects with the program's message when it fails. */
export function evaluateInChild(stack: string, stackFile: StackFile, opts: { preview: boolean; dir?: string; stackReferences?: Record<string, Record<string, unknown>> }): Promise<Evaluation> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), path.join(PROJECT_DIR, "review", "evaluateChild.ts")], {
      cwd: PROJECT_DIR,
      env: { ...process.env, TS_NODE_PROJECT: path.join(PROJECT_DIR, "tsconfig.json") },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`evaluating Pulumi.${stack}.yaml failed: ${err.trim() || `exit ${code}`}`));
      const ev = JSON.parse(out) as Evaluation;
      if (ev.error) return reject(new Error(`the program failed on Pulumi.${stack}.yaml: ${ev.error}`));
      resolve(ev);
    });
    child.stdin.end(JSON.stringify({ stack, stackFile, preview: opts.preview, dir: opts.dir, stackReferences: opts.stackReferences }));
  });
}

/**
 * The outputs of every stack `sf` references (recursively), each from an
 * offline evaluation of that stack's file in `dir`. Throws when a referenced
 * stack has no file here or fails to evaluate.
 */
export async function offlineStackReferences(sf: StackFile, opts: { preview: boolean; dir?: string }, seen: string[] = []): Promise<Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const name of referencedStacks(sf)) {
    if (seen.includes(name)) throw new Error(`stack references form a cycle: ${[...seen, name].join(" → ")}`);
    let refFile: StackFile;
    try {
      refFile = readStackFile(name, opts.dir ?? PROJECT_DIR);
    } catch (e) {
      throw new Error(`the stack references stack ${name}, which has no stack file here (${e instanceof Error ? e.message : String(e)})`);
    }
    const refs = await offlineStackReferences(refFile, opts, [...seen, name]);
    const ev = await evaluateInChild(name, refFile, { ...opts, stackReferences: refs });
    out[name] = ev.outputs ?? {};
  }
  return out;
}
