/**
 * Reading what a host is shipped, one resource at a time (as the policy pack
 * sees resources): the host document in the `stdin` of its remote command
 * (formats/document.ts), parsed once and cached, and views of it (facts,
 * roles, packages, files; nova.conf of compute hosts). Policies judge these
 * shipped values, never a copy of the config. `./stack` reads whole stacks.
 *
 * Accessing `props.stdin` of a resource whose stdin is unknown (preview)
 * throws the SDK's UnknownValueError, which the SDK reports as "can't run
 * policy during preview" — never catch it here.
 */
import { DocumentParseError, docEnabled, docFacts, docFiles, docPackages, parseDocument, type DocFile, type HostDocument } from "../formats/document";
import { iniGet, parseIni } from "../formats/ini";
import { novaRelease, type NovaRelease, type RatioKind } from "../facts/nova";

import { COMMAND_TYPE } from "./naming";
import { NOVA_CONF } from "../facts/paths";
export const HEADER = "vdi-host-document ";

const cache = new Map<string, HostDocument | DocumentParseError>();

/** The parsed document shipped by a resource, undefined when it ships none; a parse error when malformed. */
export function shippedDocument(type: string, props: Record<string, unknown>): HostDocument | DocumentParseError | undefined {
  if (type !== COMMAND_TYPE) return undefined;
  const stdin = props.stdin;
  if (typeof stdin !== "string" || !stdin.startsWith(HEADER)) return undefined;
  let doc = cache.get(stdin);
  if (!doc) {
    try {
      doc = parseDocument(stdin);
    } catch (e) {
      doc = e instanceof DocumentParseError ? e : new DocumentParseError(String(e));
    }
    if (cache.size > 4096) cache.clear();
    cache.set(stdin, doc);
  }
  return doc;
}

export interface ShippedHost {
  name: string;
  doc: HostDocument;
  facts: Record<string, string>;
  roles: string[];
  packages: Array<{ name: string; version: string }>;
  enabled: string[];
  file(path: string): DocFile | undefined;
  files(): DocFile[];
}

// Views derived from a document, built once per document (documents are cached per stdin),
// not once per policy: every host policy asks for them on every command.
const hostViews = new WeakMap<HostDocument, ShippedHost | null>();
const computeViews = new WeakMap<HostDocument, ComputeView | null>();

/** The host behind a resource's main document (the one with facts), if any. */
export function shippedHost(type: string, props: Record<string, unknown>): ShippedHost | undefined {
  const d = shippedDocument(type, props);
  if (!d || d instanceof DocumentParseError) return undefined;
  return hostViewOf(d);
}

/** The host view of a main document (one with facts), built once per document; undefined for other documents. */
export function hostViewOf(d: HostDocument): ShippedHost | undefined {
  let view = hostViews.get(d);
  if (view === undefined) {
    view = hostView(d);
    hostViews.set(d, view);
  }
  return view ?? undefined;
}

function hostView(d: HostDocument): ShippedHost | null {
  const facts = docFacts(d);
  if (!facts.roles) return null;
  const files = docFiles(d);
  const byPath = new Map(files.map((f) => [f.path, f]));
  return {
    name: d.host,
    doc: d,
    facts,
    roles: facts.roles.split(","),
    packages: docPackages(d),
    enabled: docEnabled(d),
    file: (p) => byPath.get(p),
    files: () => files,
  };
}


export interface ComputeView extends ShippedHost {
  nova: Map<string, Map<string, string[]>>;
  /** The nova release from the pinned nova-compute version (undefined when unknown). */
  release?: NovaRelease;
  novaVersion?: string;
}

/** A compute host (ships nova.conf), with its nova.conf parsed. */
export function computeHost(type: string, props: Record<string, unknown>): ComputeView | undefined {
  const h = shippedHost(type, props);
  if (!h) return undefined;
  let view = computeViews.get(h.doc);
  if (view === undefined) {
    const f = h.file(NOVA_CONF);
    const novaVersion = h.packages.find((p) => p.name === "nova-compute")?.version;
    view = f ? { ...h, nova: parseIni(f.content), novaVersion, release: novaVersion ? novaRelease(novaVersion) : undefined } : null;
    computeViews.set(h.doc, view);
  }
  return view ?? undefined;
}

/** A nova option as a number; undefined when unset; NaN when not a number. */
export function novaNumber(h: ComputeView, section: string, key: string): number | undefined {
  const v = iniGet(h.nova, section, key);
  if (v === undefined || v === "") return undefined;
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v.trim()) ? Number(v) : NaN;
}

export function novaBool(h: ComputeView, section: string, key: string): boolean | undefined {
  const v = iniGet(h.nova, section, key)?.toLowerCase();
  if (v === undefined) return undefined;
  return ["true", "1", "yes", "on"].includes(v);
}

export type { RatioKind };

/** The ratio nova applies: the explicit one, else initial_*, else the release's initial default. */
export function effectiveRatio(h: ComputeView, kind: RatioKind): number | undefined {
  const explicit = novaNumber(h, "DEFAULT", `${kind}_allocation_ratio`);
  if (explicit !== undefined && explicit !== 0) return explicit;
  const initial = novaNumber(h, "DEFAULT", `initial_${kind}_allocation_ratio`);
  if (initial !== undefined) return initial;
  return h.release?.initial[kind];
}

export function factNumber(h: ShippedHost, key: string): number | undefined {
  const v = h.facts[key];
  return v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : undefined;
}

/** Simple KEY=VALUE / key = value parsing (sysctl.d, /etc/default, rabbitmq.conf). */
export function keyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (m) out.set(m[1], m[2].replace(/^"(.*)"$/, "$1"));
  }
  return out;
}

/** "cmp-a-001 (cell cell-a)" */
export function who(h: ShippedHost): string {
  return h.facts.cell ? `${h.name} (cell ${h.facts.cell})` : h.name;
}

/** The config path of the host's hardware profile, for a fix: "hardwareProfiles.epyc-512g" (the pack then locates it). */
export function profile(h: ShippedHost): string {
  return h.facts.hardware_profile ? `hardwareProfiles.${h.facts.hardware_profile}` : "the host's hardware profile (hardwareProfiles.<profile>)";
}
