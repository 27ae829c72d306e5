/**
 * What a stack ships, read from the resources it registered: each host's
 * commands and the documents they carry (the `stdin` of `<host>-converge` and
 * `<host>-credentials`), parsed once. The review tooling, the lab and the tests
 * read hosts through this one index; the policy pack reads single resources
 * through `./hosts` (the same parser and views).
 *
 * Works on any list of registered resources (an offline evaluation, a snapshot):
 * inputs in Pulumi's wire form are unwrapped (secrets become their values), so
 * callers must not print what they read from credentials documents.
 */
import { docFile, parseDocument, type HostDocument } from "../formats/document";
import { plain } from "../formats/pulumiWire";
import { hostCommand, type HostCommandKind } from "./naming";
import { hostViewOf, type ShippedHost } from "./hosts";

export interface ResourceLike {
  type: string;
  name: string;
  /** The registered inputs (wire form or plain). */
  inputs: unknown;
}

interface Index<R extends ResourceLike> {
  commands: Map<string, Partial<Record<HostCommandKind, R>>>;
  documents: Map<R, HostDocument>;
}

const indexes = new WeakMap<readonly ResourceLike[], Index<ResourceLike>>();

function indexOf<R extends ResourceLike>(resources: readonly R[]): Index<R> {
  let ix = indexes.get(resources) as Index<R> | undefined;
  if (!ix) {
    ix = { commands: new Map(), documents: new Map() };
    for (const r of resources) {
      const c = hostCommand(r);
      if (!c) continue;
      const e = ix.commands.get(c.host) ?? ix.commands.set(c.host, {}).get(c.host)!;
      e[c.kind] = r;
    }
    indexes.set(resources, ix as Index<ResourceLike>);
  }
  return ix;
}

/** The hosts a stack converges (those with a converge command), in registration order. */
export function shippedHosts<R extends ResourceLike>(stack: { resources: readonly R[] }): string[] {
  return [...indexOf(stack.resources).commands].filter(([, c]) => c.converge).map(([h]) => h);
}

/** A host's command of that kind, or undefined. */
export function hostCommandOf<R extends ResourceLike>(stack: { resources: readonly R[] }, host: string, kind: HostCommandKind = "converge"): R | undefined {
  return indexOf(stack.resources).commands.get(host)?.[kind];
}

/** The document text a host's command ships on stdin, or undefined when there is none. */
export function shippedText(stack: { resources: readonly ResourceLike[] }, host: string, kind: HostCommandKind = "converge"): string | undefined {
  const r = hostCommandOf(stack, host, kind);
  const inputs = r?.inputs;
  const stdin = inputs && typeof inputs === "object" ? plain((inputs as Record<string, unknown>).stdin) : undefined;
  return typeof stdin === "string" ? stdin : undefined;
}

/** The parsed document a host's command ships, or undefined; throws DocumentParseError when it is malformed. */
export function shippedDocument(stack: { resources: readonly ResourceLike[] }, host: string, kind: HostCommandKind = "converge"): HostDocument | undefined {
  const r = hostCommandOf(stack, host, kind);
  if (!r) return undefined;
  const ix = indexOf(stack.resources);
  let doc = ix.documents.get(r);
  if (!doc) {
    const text = shippedText(stack, host, kind);
    if (text === undefined) return undefined;
    doc = parseDocument(text);
    ix.documents.set(r, doc);
  }
  return doc;
}

/** The content of one file of a host's main document, or undefined. */
export function shippedFile(stack: { resources: readonly ResourceLike[] }, host: string, path: string): string | undefined {
  const doc = shippedDocument(stack, host);
  return doc ? docFile(doc, path)?.content : undefined;
}

/** The host view (facts, roles, packages, files) of a host's main document, or undefined. */
export function shippedHostView(stack: { resources: readonly ResourceLike[] }, host: string): ShippedHost | undefined {
  const doc = shippedDocument(stack, host);
  return doc ? hostViewOf(doc) : undefined;
}
