/**
 * Shared helpers for policy tests: one policy pack process per test file,
 * started exactly as the Pulumi CLI does (review/analyzer.ts), and ways to build
 * unsafe inputs from the real program's resources.
 */
import { parseDocument, renderDocument, type HostDocument } from "../../formats/document";
import { type Evaluation, type RegisteredResource } from "../../review/evaluate";
import { UNKNOWN } from "../../formats/pulumiWire";
import { PolicyPackRunner, type PolicyDiagnostic } from "../../review/analyzer";

export const PACK_DIR = "policy";

let runner: PolicyPackRunner | undefined;

export async function pack(): Promise<PolicyPackRunner> {
  runner ??= await PolicyPackRunner.start({ packDir: PACK_DIR });
  return runner;
}

export async function stopPack(): Promise<void> {
  await runner?.stop();
  runner = undefined;
}

/** Every diagnostic of a stack's resources (Analyze each, then AnalyzeStack), with the pack's current config. */
export async function diagnose(ev: Evaluation): Promise<PolicyDiagnostic[]> {
  if (ev.error) throw new Error(`the program failed: ${ev.error}`);
  return (await pack()).analyzeAll(ev.resources);
}

export function ofPolicy(ds: PolicyDiagnostic[], name: string): PolicyDiagnostic[] {
  return ds.filter((d) => d.policyName === name);
}

/** A copy of the evaluation with one resource's inputs changed. */
export function withResource(ev: Evaluation, name: string, change: (r: RegisteredResource) => RegisteredResource): Evaluation {
  let found = false;
  const resources = ev.resources.map((r) => {
    if (r.name !== name) return r;
    found = true;
    return change(structuredClone(r));
  });
  if (!found) throw new Error(`no resource named ${name}`);
  return { ...ev, resources };
}

/** Edits the host document a command ships (its stdin), keeping it well formed. */
export function editDocument(ev: Evaluation, command: string, edit: (d: HostDocument) => void): Evaluation {
  return withResource(ev, command, (r) => {
    const d = parseDocument(r.inputs.stdin as string);
    edit(d);
    r.inputs.stdin = renderDocument(d);
    return r;
  });
}

/** Replaces a file's content in a document. */
export function editFile(d: HostDocument, path: string, edit: (content: string) => string): void {
  const e = d.entries.find((x) => x.kind === "file" && x.file.path === path);
  if (!e || e.kind !== "file") throw new Error(`${d.host} has no ${path}`);
  e.file.content = edit(e.file.content);
}

/** Makes an input unknown, as `pulumi preview` sends it for values not known yet. */
export function unknown(ev: Evaluation, name: string, input: string): Evaluation {
  return withResource(ev, name, (r) => {
    r.inputs[input] = UNKNOWN;
    return r;
  });
}
