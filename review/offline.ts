/**
 * The one way the review tooling and the lab evaluate a stack in a child
 * process: `review/evaluateChild.ts` runs `<dir>/index.ts` under Pulumi's mock
 * runtime in a fresh Node process (the program's modules and the SDK's runtime
 * state are per process) and returns the Evaluation over a pipe (a stack file
 * may hold the lab's secrets: they never touch the disk).
 *
 * A cell stack reads its region stack through a StackReference, so evaluating
 * it offline needs the region stack's outputs: they come from evaluating the
 * region stack's own Pulumi.<stack>.yaml first, exactly the outputs `pulumi up`
 * of that stack would export.
 */
import * as path from "path";
import { spawn } from "child_process";
import { PROJECT_DIR, readStackFile, referencedStacks, type Evaluation, type StackFile } from "./evaluate";

export interface ChildOptions {
  preview: boolean;
  /** The project directory to evaluate (default: this repository); another checkout must resolve the same node_modules. */
  dir?: string;
  stackReferences?: Record<string, Record<string, unknown>>;
  /** Kill the child after this long (default 300 s). */
  timeoutMs?: number;
  /** How the evaluated tree is named in messages (default: the stack file). */
  source?: string;
}

const seconds = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`);

/**
 * How the child runs. From the compiled tools (bin/), this project's own program is evaluated
 * compiled (bin/index.js), as Pulumi runs it; another tree (a git ref's, for --compare) and
 * everything under jest or ts-node are evaluated from their TypeScript through ts-node.
 */
function childArgs(dir: string | undefined): string[] {
  const compiled = __filename.endsWith(".js");
  const own = !dir || path.resolve(dir) === PROJECT_DIR;
  const child = path.join(__dirname, compiled ? "evaluateChild.js" : "evaluateChild.ts");
  return compiled && own ? [child] : ["-r", require.resolve("ts-node/register/transpile-only"), child];
}

/** Evaluates one stack in a fresh process; rejects with the program's message when it fails (config errors included). */
export function evaluateInChild(stack: string, stackFile: StackFile, opts: ChildOptions): Promise<Evaluation> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const what = opts.source ? `stack "${stack}" of ${opts.source}` : `Pulumi.${stack}.yaml`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs(opts.dir), {
      cwd: opts.dir ?? PROJECT_DIR,
      // This repository's compiler settings for its own script and the evaluated tree alike.
      env: { ...process.env, TS_NODE_PROJECT: path.join(PROJECT_DIR, "tsconfig.json") },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let err = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d) => {
      if (err.length < 1_000_000) err += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new Error(`evaluating ${what} timed out after ${seconds(timeoutMs)} (the evaluation was killed)`));
      if (code !== 0) return reject(new Error(`${what} does not evaluate:\n${err.trim() || (signal ? `killed by ${signal}` : `exit code ${code}`)}`));
      const ev = JSON.parse(Buffer.concat(out).toString("utf8")) as Evaluation;
      if (ev.error) return reject(new Error(`${what} does not evaluate:\n${ev.error}`));
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
export async function offlineStackReferences(sf: StackFile, opts: ChildOptions, seen: string[] = []): Promise<Record<string, Record<string, unknown>>> {
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

/** A stack of a project directory, with the stacks it references evaluated first, each in a fresh process. */
export async function evaluateStackInChild(stack: string, opts: ChildOptions & { stackFile?: StackFile }): Promise<Evaluation> {
  const stackFile = opts.stackFile ?? readStackFile(stack, opts.dir ?? PROJECT_DIR);
  const stackReferences = opts.stackReferences ?? (await offlineStackReferences(stackFile, opts));
  return evaluateInChild(stack, stackFile, { ...opts, stackReferences });
}
