/** Runs the real program (index.ts) under mocks with a stack's config, optionally modified. */
import { shippedText } from "../../shipped/stack";
import { evaluate, readStackFile, referencedStacks, withFleetChange, type Evaluation, type RegisteredResource, type StackFile } from "../../review/evaluate";

export type Change = [dottedPath: string, value: unknown];

/**
 * Evaluates a stack in this process (a fresh copy of the program). A cell stack's
 * region stack is evaluated first, as the offline tools do (review/offline.ts),
 * unless `stackReferences` gives its outputs.
 */
export async function runStack(
  stack: string,
  opts: { preview?: boolean; changes?: Change[]; stackFile?: StackFile; stackReferences?: Record<string, Record<string, unknown>> } = {},
): Promise<Evaluation> {
  let sf = opts.stackFile ?? readStackFile(stack);
  for (const [p, v] of opts.changes ?? []) sf = withFleetChange(sf, p, v);
  let refs = opts.stackReferences;
  if (!refs) {
    refs = {};
    for (const name of referencedStacks(sf)) refs[name] = (await runStack(name, { preview: opts.preview })).outputs ?? {};
  }
  return evaluate({
    stack,
    stackFile: sf,
    preview: opts.preview ?? false,
    stackReferences: refs,
    load: () => {
      let mod: unknown;
      jest.isolateModules(() => {
        mod = require("../../index");
      });
      return mod;
    },
  });
}

export function byType(ev: Evaluation, type: string): RegisteredResource[] {
  return ev.resources.filter((r) => r.type === type);
}

/** The main document a host's converge command ships. */
export function hostDocument(ev: Evaluation, host: string): string {
  const text = shippedText(ev, host);
  if (text === undefined) throw new Error(`no converge command for ${host}`);
  return text;
}
