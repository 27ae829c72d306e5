/** The host documents the program shipped, read from an evaluation's remote commands (what the checks compare hosts against). */
import { plain, type Evaluation } from "../lib/evaluate";
import { docFile, parseDocument, type HostDocument } from "../lib/document";
import { COMMAND_TYPE, hostCommandName, type HostCommandKind } from "../lib/naming";

/** The document text a host's `converge` (or `credentials`) command ships on stdin, or undefined when there is none. */
export function shippedText(ev: Evaluation, host: string, kind: HostCommandKind = "converge"): string | undefined {
  const r = ev.resources.find((x) => x.type === COMMAND_TYPE && x.name === hostCommandName(host, kind));
  const stdin = r ? (plain(r.inputs) as { stdin?: unknown }).stdin : undefined;
  return typeof stdin === "string" ? stdin : undefined;
}

/** The parsed document a host's command ships, or undefined. */
export function shippedDocument(ev: Evaluation, host: string, kind: HostCommandKind = "converge"): HostDocument | undefined {
  const text = shippedText(ev, host, kind);
  return text === undefined ? undefined : parseDocument(text);
}

/** The text of one file of a host's main document, or undefined. */
export function shippedFile(ev: Evaluation, host: string, file: string): string | undefined {
  const doc = shippedDocument(ev, host);
  return doc ? docFile(doc, file)?.content : undefined;
}
