/**
 * Desired-state comparison for the offline preview (`--compare <git-ref>`,
 * `--compare-stack <name>`): what a change does to every host's shipped
 * documents and to the OpenStack resources, without any Pulumi state.
 *
 *  - A *snapshot* is one evaluation of the program (under mocks, in preview
 *    mode) reduced to each resource's plain inputs. Every Pulumi secret is
 *    replaced by `{"[secret]": <first 12 hex of sha256 of its JSON>}`, so a
 *    changed secret is detectable but its value never reaches a snapshot, a
 *    change set or a report.
 *  - `snapshotAtRef` evaluates the program as it is at a git ref, in a child
 *    process (review/offline.ts) on an extracted copy of that commit's tree.
 *  - `compareSnapshots` turns two snapshots into a ChangeSet: hosts added and
 *    removed, each changed host's files (unified diffs), packages, units and
 *    facts, and every other (openstack:*) resource's changed inputs.
 *
 * Both snapshots of a comparison should come from the same evaluation mode
 * (preview): unknown outputs then line up, and unknown on both sides is equal.
 */
import { execFile, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { COMMAND_TYPE } from "../shipped/naming";
import { hostCommandOf, shippedHosts } from "../shipped/stack";
import { parseDocument, type DocEntry, type DocFile, type FileAction, type HostDocument } from "../formats/document";
import { PROJECT_DIR, readStackFile, type Evaluation, type StackFile } from "./evaluate";
import { evaluateStackInChild } from "./offline";
import { plain, replaceSecrets, UNKNOWN } from "../formats/pulumiWire";

// ---------------------------------------------------------------- snapshots

export interface SnapshotResource {
  urn: string;
  type: string;
  name: string;
  /** Plain inputs; every secret replaced by {"[secret]": "<12 hex>"}. */
  inputs: unknown;
}

export interface StackSnapshot {
  stack: string;
  /** Where the desired state comes from, e.g. "working tree" or "origin/main (abc1234)". */
  source: string;
  resources: SnapshotResource[];
}

const SECRET_KEY = "[secret]";

/** JSON with object keys sorted, so equal values hash equally whatever their key order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** The redacted form of a secret: a short hash of its (canonical) JSON. */
export function secretPlaceholder(value: unknown): { "[secret]": string } {
  const hash = createHash("sha256").update(canonicalJson(plain(value))).digest("hex").slice(0, 12);
  return { [SECRET_KEY]: hash };
}

/** Plain inputs with every secret (at any depth) replaced by its placeholder. */
export function redactSecrets(v: unknown): unknown {
  return replaceSecrets(v, secretPlaceholder);
}

function isRedacted(v: unknown): v is { "[secret]": string } {
  return !!v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as Record<string, unknown>)[SECRET_KEY] === "string";
}

/** A snapshot of an evaluation. Throws the program's error if it failed. */
export function snapshotFromEvaluation(ev: Evaluation, source: string): StackSnapshot {
  if (ev.error) throw new Error(ev.error);
  return {
    stack: ev.stack,
    source,
    resources: ev.resources.map((r) => ({ urn: r.urn, type: r.type, name: r.name, inputs: redactSecrets(r.inputs) })),
  };
}

// ------------------------------------------------------------ snapshotAtRef

const run = promisify(execFile);

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run("git", args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" });
  return stdout.trim();
}

function errorText(e: unknown): string {
  const o = e as { stderr?: string; message?: string };
  return (o?.stderr || o?.message || String(e)).trim();
}

/**
 * Evaluates `<dir>/index.ts` with `<dir>/Pulumi.<stack>.yaml` in a child process
 * (review/offline.ts, preview mode) and returns its snapshot. `dir` needs a
 * node_modules (snapshotAtRef links this repository's). Rejects with the
 * program's message when it fails, or after `timeoutMs` (the child is killed).
 */
export async function snapshotOfDir(opts: { dir: string; stack: string; source: string; timeoutMs?: number }): Promise<StackSnapshot> {
  let stackFile: StackFile;
  try {
    stackFile = readStackFile(opts.stack, opts.dir);
  } catch (e) {
    throw new Error(`stack "${opts.stack}" of ${opts.source} does not evaluate:\n${errorText(e)}`);
  }
  const ev = await evaluateStackInChild(opts.stack, { stackFile, dir: opts.dir, preview: true, timeoutMs: opts.timeoutMs ?? 120_000, source: opts.source });
  return snapshotFromEvaluation(ev, opts.source);
}

/**
 * The desired state of another stack of a project directory (default: this
 * repository's working tree), for `--compare-stack`: evaluated in a child
 * process, so the caller's own evaluation is not disturbed. Source "stack <name>".
 */
export async function snapshotOfStack(opts: { stack: string; projectDir?: string; timeoutMs?: number }): Promise<StackSnapshot> {
  const dir = path.resolve(opts.projectDir ?? PROJECT_DIR);
  if (!/^[A-Za-z0-9._-]+$/.test(opts.stack)) throw new Error(`bad stack name ${JSON.stringify(opts.stack)}`);
  return snapshotOfDir({ dir, stack: opts.stack, source: `stack ${opts.stack}`, timeoutMs: opts.timeoutMs });
}

/**
 * The desired state of `stack` as it is at a git `ref` (a branch, tag, sha,
 * "HEAD~1", "origin/main"...): that commit's tree is extracted into a temporary
 * directory, this repository's node_modules linked into it, and its index.ts
 * evaluated in a child process with its own Pulumi.<stack>.yaml. If the ref
 * has no such stack file, the snapshot has no resources (everything is added).
 */
/** The commit a git ref names in `projectDir`, or why it names none (a bad name, no such ref, not a commit, not a repository). */
export function resolveGitRef(ref: string, projectDir: string): { sha: string } | { problem: string } {
  if (!ref || ref.startsWith("-") || /[\s\0]/.test(ref)) return { problem: `bad git ref ${JSON.stringify(ref)}` };
  const r = spawnSync("git", ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { cwd: projectDir, encoding: "utf8" });
  const sha = (r.stdout ?? "").trim();
  if (r.error || r.status !== 0 || !/^[0-9a-f]{40,64}$/.test(sha)) {
    const detail = (r.stderr ?? "").trim() || r.error?.message;
    return { problem: `git ref "${ref}" does not exist (or is not a commit) in ${projectDir}${detail ? `: ${detail}` : ""}` };
  }
  return { sha };
}

/** Why `ref` cannot be compared against, or undefined (checked before any evaluation). */
export function gitRefProblem(ref: string, projectDir: string): string | undefined {
  const r = resolveGitRef(ref, projectDir);
  return "problem" in r ? r.problem : undefined;
}

/**
 * Runs `fn` on the project's tree as it is at a git ref: that commit's tree is extracted into a
 * temporary directory with this repository's node_modules linked in (the ref's code resolves the
 * same packages, and the same @pulumi/pulumi instance), and removed afterwards.
 */
export async function withTreeAtRef<T>(ref: string, projectDir: string, fn: (tree: string, label: string) => Promise<T>): Promise<T> {
  const resolved = resolveGitRef(ref, projectDir);
  if ("problem" in resolved) throw new Error(resolved.problem);
  const sha = resolved.sha;
  const label = `${ref} (${sha.slice(0, 7)})`;
  // The project may live in a subdirectory of its repository.
  const prefix = (await git(projectDir, ["rev-parse", "--show-prefix"])).replace(/\/$/, "");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-compare-"));
  const tree = path.join(tmp, "tree");
  try {
    fs.mkdirSync(tree);
    const tar = path.join(tmp, "tree.tar");
    try {
      await git(projectDir, ["archive", "--format=tar", "-o", tar, prefix ? `${sha}:${prefix}` : sha]);
    } catch (e) {
      throw new Error(`cannot extract ${label}${prefix ? ` (${prefix}/)` : ""}: ${errorText(e)}`);
    }
    await run("tar", ["-x", "-f", tar, "-C", tree]);
    fs.rmSync(tar);
    const modules = path.join(tree, "node_modules");
    if (!fs.existsSync(modules)) fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), modules, "dir");
    return await fn(tree, label);
  } finally {
    try {
      const modules = path.join(tree, "node_modules");
      if (fs.lstatSync(modules).isSymbolicLink()) fs.unlinkSync(modules);
    } catch {
      // no link
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export async function snapshotAtRef(opts: { ref: string; stack: string; projectDir?: string; timeoutMs?: number }): Promise<StackSnapshot> {
  const projectDir = path.resolve(opts.projectDir ?? PROJECT_DIR);
  const { ref, stack } = opts;
  if (!/^[A-Za-z0-9._-]+$/.test(stack)) throw new Error(`bad stack name ${JSON.stringify(stack)}`);
  return withTreeAtRef(ref, projectDir, async (tree, label) => {
    if (!fs.existsSync(path.join(tree, `Pulumi.${stack}.yaml`))) {
      return { stack, source: `${label}, which has no Pulumi.${stack}.yaml (stack "${stack}" did not exist: everything is new)`, resources: [] };
    }
    return snapshotOfDir({ dir: tree, stack, source: label, timeoutMs: opts.timeoutMs });
  });
}

// --------------------------------------------------------------- change sets

export interface FileChange {
  path: string;
  kind: "added" | "removed" | "changed";
  /** Unified diff of the content; mode/owner/action changes as a first "# ..." line. */
  diff: string;
}

export interface HostChange {
  host: string;
  files: FileChange[];
  packages: Array<{ name: string; from?: string; to?: string }>;
  /** enable/start/needs entries; a needs entry's unit is "<unit> <path>", as in the document. */
  units: Array<{ kind: string; unit: string; change: "added" | "removed" }>;
  facts: Array<{ key: string; from?: string; to?: string }>;
  /**
   * The units converging from the base document to the head document restarts, by the apply
   * script's own rules (host/apply.sh, "Action phase"): a file whose content changes (or that is
   * new) restarts the units its restart actions name; a package whose pinned version changes
   * restarts the units its package line names. In order of first trigger, each once. A unit the
   * host defers (its "needs" path missing) is not restarted there; that is known only on the host.
   */
  restarts: string[];
  /** The (secret) credentials document changed; its content is never shown. */
  credentialsChanged: boolean;
  /**
   * Other inputs of the host's commands that changed, sorted: "connection"
   * (address, port, host key or SSH key; secret, so not shown), "create" (the
   * apply script, host/apply.sh), "logging"... Any of these re-runs the host's commands.
   */
  commandChanges: string[];
}

export interface ResourceChange {
  type: string;
  name: string;
  kind: "added" | "removed" | "changed";
  /** Changed key paths ("metadata.vdi:planned_desktops", "allocationPools.0.end"); secrets as {"[secret]": hash}. */
  changes: Array<{ key: string; from?: unknown; to?: unknown }>;
}

export interface ChangeSet {
  base: string;
  head: string;
  hostsAdded: string[];
  hostsRemoved: string[];
  hosts: HostChange[];
  resources: ResourceChange[];
  /** What converging the changed hosts restarts, per unit (HostChange.restarts, summed up). */
  restarts: Array<{ unit: string; hosts: string[] }>;
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface HostCommands {
  converge?: SnapshotResource;
  credentials?: SnapshotResource;
}

/** Each converged host's commands (shipped/stack.ts: the one index of a stack's host commands). */
function hostsOf(s: StackSnapshot): Map<string, HostCommands> {
  return new Map(shippedHosts(s).map((h) => [h, { converge: hostCommandOf(s, h, "converge"), credentials: hostCommandOf(s, h, "credentials") }]));
}

function inputsOf(r: SnapshotResource | undefined): Record<string, unknown> {
  const i = r?.inputs;
  return i && typeof i === "object" && !Array.isArray(i) ? (i as Record<string, unknown>) : {};
}

type ParsedDoc = { ok: true; doc: HostDocument } | { ok: false; text: string };

function parseHostDoc(stdin: unknown): ParsedDoc {
  if (typeof stdin !== "string") return { ok: false, text: isRedacted(stdin) ? `(secret document ${stdin[SECRET_KEY]})\n` : `${canonicalJson(stdin)}\n` };
  try {
    return { ok: true, doc: parseDocument(stdin) };
  } catch {
    return { ok: false, text: stdin };
  }
}

function actionText(a: FileAction): string {
  switch (a.kind) {
    case "restart":
      return `restart=${a.unit}`;
    case "exec":
      return a.path ? `exec=${a.path}` : "exec";
    case "post":
      return `post=${a.path}`;
    default:
      return a.kind;
  }
}

const actionsText = (f: DocFile) => (f.actions.length ? f.actions.map(actionText).join(",") : "-");
const diffPath = (p: string) => p.replace(/^\/+/, "");

function fileChange(base: DocFile | undefined, head: DocFile | undefined): FileChange | undefined {
  if (!base && head) return { path: head.path, kind: "added", diff: unifiedDiff("", head.content, "/dev/null", `b/${diffPath(head.path)}`) };
  if (base && !head) return { path: base.path, kind: "removed", diff: unifiedDiff(base.content, "", `a/${diffPath(base.path)}`, "/dev/null") };
  if (!base || !head) return undefined;
  const notes: string[] = [];
  if (base.mode !== head.mode) notes.push(`mode ${base.mode} -> ${head.mode}`);
  if (base.owner !== head.owner || base.group !== head.group) notes.push(`owner ${base.owner}:${base.group} -> ${head.owner}:${head.group}`);
  if (actionsText(base) !== actionsText(head)) notes.push(`actions ${actionsText(base)} -> ${actionsText(head)}`);
  const content = base.content === head.content ? "" : unifiedDiff(base.content, head.content, `a/${diffPath(base.path)}`, `b/${diffPath(head.path)}`);
  if (!notes.length && !content) return undefined;
  return { path: head.path, kind: "changed", diff: (notes.length ? `# ${notes.join("; ")}\n` : "") + content };
}

function files(doc: HostDocument): DocFile[] {
  return doc.entries.flatMap((e) => (e.kind === "file" ? [e.file] : []));
}

function unitKey(e: DocEntry): string | undefined {
  if (e.kind === "enable" || e.kind === "start") return `${e.kind}\u0000${e.unit}`;
  if (e.kind === "needs") return `needs\u0000${e.unit} ${e.path}`;
  return undefined;
}

function compareHost(host: string, base: HostCommands, head: HostCommands): HostChange | undefined {
  const bi = inputsOf(base.converge);
  const hi = inputsOf(head.converge);
  const ci = inputsOf(base.credentials);
  const di = inputsOf(head.credentials);
  const credentialsChanged = canonicalJson(ci.stdin) !== canonicalJson(di.stdin);
  const commandChanges = new Set<string>();
  for (const [a, b] of [
    [bi, hi],
    [ci, di],
  ] as const) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (k !== "stdin" && canonicalJson(a[k]) !== canonicalJson(b[k])) commandChanges.add(k);
    }
  }
  if (!!base.credentials !== !!head.credentials) commandChanges.add("credentials command");
  const change: HostChange = { host, files: [], packages: [], units: [], facts: [], restarts: [], credentialsChanged, commandChanges: [...commandChanges].sort(byCodeUnits) };

  if (bi.stdin !== hi.stdin && canonicalJson(bi.stdin) !== canonicalJson(hi.stdin)) {
    const b = parseHostDoc(bi.stdin);
    const h = parseHostDoc(hi.stdin);
    if (!b.ok || !h.ok) {
      // Not a (current-format) host document on one side: show the whole text.
      const bt = b.ok ? (bi.stdin as string) : b.text;
      const ht = h.ok ? (hi.stdin as string) : h.text;
      change.files.push({ path: "(document)", kind: "changed", diff: unifiedDiff(bt, ht, "a/(document)", "b/(document)") });
    } else {
      const bd = b.doc;
      const hd = h.doc;
      if (bd.root !== hd.root) change.facts.push({ key: "(document root)", from: bd.root, to: hd.root });
      // Files, by path, in the head document's order; then files only the base had.
      const bf = new Map(files(bd).map((f) => [f.path, f]));
      const hf = new Map(files(hd).map((f) => [f.path, f]));
      for (const f of files(hd)) {
        const c = fileChange(bf.get(f.path), f);
        if (c) change.files.push(c);
      }
      for (const f of files(bd)) if (!hf.has(f.path)) change.files.push(fileChange(f, undefined)!);
      // Packages, by name.
      const pkgs = (d: HostDocument) => new Map(d.entries.flatMap((e) => (e.kind === "package" ? [[e.name, e.version] as const] : [])));
      const bp = pkgs(bd);
      const hp = pkgs(hd);
      for (const [name, v] of hp) if (bp.get(name) !== v) change.packages.push({ name, from: bp.get(name), to: v });
      for (const [name, v] of bp) if (!hp.has(name)) change.packages.push({ name, from: v });
      // enable / start / needs.
      const units = (d: HostDocument) => d.entries.map(unitKey).filter((k): k is string => !!k);
      const bu = new Set(units(bd));
      const hu = new Set(units(hd));
      const unit = (k: string, c: "added" | "removed") => {
        const [kind, u] = k.split("\u0000");
        return { kind, unit: u, change: c };
      };
      for (const k of units(hd)) if (!bu.has(k)) change.units.push(unit(k, "added"));
      for (const k of units(bd)) if (!hu.has(k)) change.units.push(unit(k, "removed"));
      // Facts ("verify" ones carry the word, as in the document).
      const facts = (d: HostDocument) => new Map(d.entries.flatMap((e) => (e.kind === "fact" ? [[e.fact.key, e.fact.value + (e.fact.verify ? " verify" : "")] as const] : [])));
      const bfa = facts(bd);
      const hfa = facts(hd);
      for (const [key, v] of hfa) if (bfa.get(key) !== v) change.facts.push({ key, from: bfa.get(key), to: v });
      for (const [key, v] of bfa) if (!hfa.has(key)) change.facts.push({ key, from: v });
      change.restarts = restartsOf(bd, hd);
    }
  }
  const changed = change.files.length || change.packages.length || change.units.length || change.facts.length || change.credentialsChanged || change.commandChanges.length;
  return changed ? change : undefined;
}

/** What converging a host from document `base` to document `head` restarts (HostChange.restarts). */
export function restartsOf(base: HostDocument, head: HostDocument): string[] {
  const units = new Set<string>();
  const before = new Map(files(base).map((f) => [f.path, f.content]));
  const versions = new Map(base.entries.flatMap((e) => (e.kind === "package" ? [[e.name, e.version] as const] : [])));
  for (const e of head.entries) {
    if (e.kind === "file" && before.get(e.file.path) !== e.file.content) {
      for (const a of e.file.actions) if (a.kind === "restart") units.add(a.unit);
    } else if (e.kind === "package" && versions.has(e.name) && versions.get(e.name) !== e.version) {
      for (const u of e.restarts ?? []) units.add(u);
    }
  }
  return [...units];
}

/** Unknown outputs are shown as this in resource changes. */
export const UNKNOWN_DISPLAY = "(known after apply)";
const display = (v: unknown) => (v === UNKNOWN ? UNKNOWN_DISPLAY : v);

function deepChanges(a: unknown, b: unknown, key: string, out: Array<{ key: string; from?: unknown; to?: unknown }>): void {
  if (a === b) return;
  const isObj = (v: unknown) => !!v && typeof v === "object";
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      if (canonicalJson(a) !== canonicalJson(b)) out.push({ key, from: a, to: b });
      return;
    }
    a.forEach((x, i) => deepChanges(x, b[i], key ? `${key}.${i}` : String(i), out));
    return;
  }
  if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b) && !isRedacted(a) && !isRedacted(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort(byCodeUnits);
    for (const k of keys) deepChanges(ao[k], bo[k], key ? `${key}.${k}` : k, out);
    return;
  }
  if (canonicalJson(a) === canonicalJson(b)) return;
  const entry: { key: string; from?: unknown; to?: unknown } = { key };
  if (a !== undefined) entry.from = display(a);
  if (b !== undefined) entry.to = display(b);
  out.push(entry);
}

/** Resources compared as such: everything but the hosts' commands, components (vdi:*) and the stack. */
function comparable(r: SnapshotResource): boolean {
  return r.type !== COMMAND_TYPE && !r.type.startsWith("vdi:") && !r.type.startsWith("pulumi:pulumi:");
}

export function compareSnapshots(base: StackSnapshot, head: StackSnapshot): ChangeSet {
  const bh = hostsOf(base);
  const hh = hostsOf(head);
  const hostsAdded = [...hh.keys()].filter((h) => !bh.has(h)).sort(byCodeUnits);
  const hostsRemoved = [...bh.keys()].filter((h) => !hh.has(h)).sort(byCodeUnits);
  const hosts: HostChange[] = [];
  for (const host of [...hh.keys()].filter((h) => bh.has(h)).sort(byCodeUnits)) {
    const c = compareHost(host, bh.get(host)!, hh.get(host)!);
    if (c) hosts.push(c);
  }

  const keyOf = (r: SnapshotResource) => `${r.type}\u0000${r.name}`;
  const br = new Map(base.resources.filter(comparable).map((r) => [keyOf(r), r]));
  const hr = new Map(head.resources.filter(comparable).map((r) => [keyOf(r), r]));
  const resources: ResourceChange[] = [];
  for (const k of new Set([...br.keys(), ...hr.keys()])) {
    const b = br.get(k);
    const h = hr.get(k);
    const r = (h ?? b)!;
    const changes: ResourceChange["changes"] = [];
    deepChanges(b ? b.inputs : {}, h ? h.inputs : {}, "", changes);
    if (b && h && !changes.length) continue;
    resources.push({ type: r.type, name: r.name, kind: !b ? "added" : !h ? "removed" : "changed", changes });
  }
  resources.sort((x, y) => byCodeUnits(x.type, y.type) || byCodeUnits(x.name, y.name));
  return { base: base.source, head: head.source, hostsAdded, hostsRemoved, hosts, resources, restarts: restartSummary(hosts) };
}

/** Every unit some host restarts, with those hosts: the most hosts first, then by unit name. */
export function restartSummary(hosts: HostChange[]): ChangeSet["restarts"] {
  const byUnit = new Map<string, string[]>();
  for (const h of hosts) for (const u of h.restarts) (byUnit.get(u) ?? byUnit.set(u, []).get(u)!).push(h.host);
  return [...byUnit]
    .map(([unit, hs]) => ({ unit, hosts: hs.sort(byCodeUnits) }))
    .sort((a, b) => b.hosts.length - a.hosts.length || byCodeUnits(a.unit, b.unit));
}

// ----------------------------------------------------------------- grouping

const IPV4 = /(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9]|\.[0-9])/g;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Hosts whose changes are identical once the host's own name and addresses are
 * normalised, grouped, for compact reports. A host's addresses are the IPv4
 * addresses its (main) document in `snapshot` holds and no other host's does
 * (its my_ip, local_ip...). Each group's `change` is its first host's; groups
 * are ordered by their first host.
 */
export function groupHostChanges(cs: ChangeSet, snapshot: StackSnapshot): Array<{ hosts: string[]; change: HostChange }> {
  const docs = new Map<string, string>();
  for (const [host, c] of hostsOf(snapshot)) {
    const stdin = inputsOf(c.converge).stdin;
    if (typeof stdin === "string") docs.set(host, stdin);
  }
  const holders = new Map<string, number>();
  const addrsOf = new Map<string, Set<string>>();
  for (const [host, text] of docs) {
    const set = new Set(text.match(IPV4) ?? []);
    addrsOf.set(host, set);
    for (const a of set) holders.set(a, (holders.get(a) ?? 0) + 1);
  }
  const groups = new Map<string, { hosts: string[]; change: HostChange }>();
  for (const change of cs.hosts) {
    const { host, ...rest } = change;
    const own = [...(addrsOf.get(host) ?? [])].filter((a) => holders.get(a) === 1);
    let key = JSON.stringify(rest);
    // Longest first, so that no token is replaced inside a longer one.
    for (const token of [host, ...own].sort((a, b) => b.length - a.length)) {
      const re = new RegExp(`(?<![A-Za-z0-9_.-])${escapeRe(token)}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])`, "g");
      key = key.replace(re, token === host ? "\u0000host" : "\u0000addr");
    }
    const g = groups.get(key);
    if (g) g.hosts.push(host);
    else groups.set(key, { hosts: [host], change });
  }
  return [...groups.values()];
}

// ------------------------------------------------------------- unified diff

interface SplitText {
  lines: string[];
  /** The last line has no newline. */
  incomplete: boolean;
}

function splitText(s: string): SplitText {
  if (s === "") return { lines: [], incomplete: false };
  const lines = s.split("\n");
  const incomplete = lines[lines.length - 1] !== "";
  if (!incomplete) lines.pop();
  return { lines, incomplete };
}

/**
 * Marks the lines of x deleted and of y inserted by a shortest edit script
 * (Myers' O(ND) algorithm, linear space: middle snakes, divide and conquer).
 * Memory is O(n + m); past `tooExpensive` edit steps in one subproblem the
 * split point is approximated (only for very large, very different inputs).
 */
function markChanges(x: Int32Array, y: Int32Array, xChanged: Uint8Array, yChanged: Uint8Array): void {
  const n = x.length;
  const m = y.length;
  const off = m + 1;
  const fwd = new Int32Array(n + m + 3);
  const bwd = new Int32Array(n + m + 3);
  const MAX = 0x7fffffff;
  let tooExpensive = 1;
  for (let d = n + m + 3; d !== 0; d >>= 2) tooExpensive <<= 1;
  tooExpensive = Math.max(4096, tooExpensive);

  /** The point where a shortest path from (xlo,ylo) to (xhi,yhi) crosses its middle. */
  const middle = (xlo: number, xhi: number, ylo: number, yhi: number, minimal: boolean): [number, number, boolean, boolean] => {
    const dmin = xlo - yhi;
    const dmax = xhi - ylo;
    const fmid = xlo - ylo;
    const bmid = xhi - yhi;
    let fmin = fmid;
    let fmax = fmid;
    let bmin = bmid;
    let bmax = bmid;
    const odd = ((fmid - bmid) & 1) !== 0;
    fwd[off + fmid] = xlo;
    bwd[off + bmid] = xhi;
    for (let cost = 1; ; cost++) {
      // One more edit step forward on each diagonal (diagonal k = x - y).
      if (fmin > dmin) fwd[off + --fmin - 1] = -1;
      else fmin++;
      if (fmax < dmax) fwd[off + ++fmax + 1] = -1;
      else fmax--;
      for (let k = fmax; k >= fmin; k -= 2) {
        const lo = fwd[off + k - 1];
        const hi = fwd[off + k + 1];
        let xi = lo < hi ? hi : lo + 1;
        let yi = xi - k;
        while (xi < xhi && yi < yhi && x[xi] === y[yi]) {
          xi++;
          yi++;
        }
        fwd[off + k] = xi;
        if (odd && bmin <= k && k <= bmax && bwd[off + k] <= xi) return [xi, yi, true, true];
      }
      // And backward.
      if (bmin > dmin) bwd[off + --bmin - 1] = MAX;
      else bmin++;
      if (bmax < dmax) bwd[off + ++bmax + 1] = MAX;
      else bmax--;
      for (let k = bmax; k >= bmin; k -= 2) {
        const lo = bwd[off + k - 1];
        const hi = bwd[off + k + 1];
        let xi = lo < hi ? lo : hi - 1;
        let yi = xi - k;
        while (xi > xlo && yi > ylo && x[xi - 1] === y[yi - 1]) {
          xi--;
          yi--;
        }
        bwd[off + k] = xi;
        if (!odd && fmin <= k && k <= fmax && xi <= fwd[off + k]) return [xi, yi, true, true];
      }
      if (!minimal && cost >= tooExpensive) {
        // Give up on minimality here: split where the forward search got furthest.
        let best = -1;
        let bx = xlo;
        for (let k = fmax; k >= fmin; k -= 2) {
          let xi = Math.min(fwd[off + k], xhi);
          let yi = xi - k;
          if (yi > yhi) {
            xi = yhi + k;
            yi = yhi;
          }
          if (xi + yi > best) {
            best = xi + yi;
            bx = xi;
          }
        }
        return [bx, best - bx, true, false];
      }
    }
  };

  const compare = (xlo: number, xhi: number, ylo: number, yhi: number, minimal: boolean): void => {
    while (xlo < xhi && ylo < yhi && x[xlo] === y[ylo]) {
      xlo++;
      ylo++;
    }
    while (xlo < xhi && ylo < yhi && x[xhi - 1] === y[yhi - 1]) {
      xhi--;
      yhi--;
    }
    if (xlo === xhi) for (let j = ylo; j < yhi; j++) yChanged[j] = 1;
    else if (ylo === yhi) for (let i = xlo; i < xhi; i++) xChanged[i] = 1;
    else {
      const [xm, ym, loMin, hiMin] = middle(xlo, xhi, ylo, yhi, minimal);
      compare(xlo, xm, ylo, ym, loMin);
      compare(xm, xhi, ym, yhi, hiMin);
    }
  };
  compare(0, n, 0, m, false);
}

/**
 * Lines that occur nowhere in the other text are changes whatever the script:
 * they are marked at once and left out of the search, which then runs on the
 * remaining lines (faster, and the conventional choice among equally short scripts).
 */
function markWithoutUnmatched(x: Int32Array, y: Int32Array, xChanged: Uint8Array, yChanged: Uint8Array): void {
  const inX = new Set(x);
  const inY = new Set(y);
  const keepX: number[] = [];
  const keepY: number[] = [];
  x.forEach((v, i) => (inY.has(v) ? keepX.push(i) : (xChanged[i] = 1)));
  y.forEach((v, j) => (inX.has(v) ? keepY.push(j) : (yChanged[j] = 1)));
  const xs = Int32Array.from(keepX, (i) => x[i]);
  const ys = Int32Array.from(keepY, (j) => y[j]);
  const xsc = new Uint8Array(xs.length);
  const ysc = new Uint8Array(ys.length);
  markChanges(xs, ys, xsc, ysc);
  xsc.forEach((c, k) => c && (xChanged[keepX[k]] = 1));
  ysc.forEach((c, k) => c && (yChanged[keepY[k]] = 1));
}

/**
 * Slides each run of changed lines of one side to the lowest position it can
 * take (merging with runs it meets), unless an earlier position puts it next to
 * a change of the other side; the script stays as short. This gives the
 * conventional placement of ambiguous insertions/deletions (as GNU diff does).
 */
function compact(changed: Uint8Array, eq: Int32Array, otherChanged: Uint8Array): void {
  const n = changed.length;
  // gaps[u]: the other side has changed lines between its u-th and (u+1)-th unchanged lines.
  const gaps: boolean[] = [false];
  for (let j = 0; j < otherChanged.length; j++) {
    if (otherChanged[j]) gaps[gaps.length - 1] = true;
    else gaps.push(false);
  }
  let i = 0;
  let u = 0; // unchanged lines of this side before i (or before the current run's start)
  for (;;) {
    while (i < n && !changed[i]) {
      i++;
      u++;
    }
    if (i === n) break;
    let start = i;
    let end = i;
    while (end < n && changed[end]) end++;
    let length: number;
    let aligned: number;
    do {
      length = end - start;
      // Up, as far as possible, merging with earlier runs.
      while (start > 0 && eq[start - 1] === eq[end - 1]) {
        changed[--start] = 1;
        changed[--end] = 0;
        u--;
        while (start > 0 && changed[start - 1]) start--;
      }
      aligned = gaps[u] ? end : -1;
      // Down, as far as possible, merging with later runs.
      while (end < n && eq[start] === eq[end]) {
        changed[start++] = 0;
        changed[end++] = 1;
        u++;
        while (end < n && changed[end]) end++;
        if (gaps[u]) aligned = end;
      }
    } while (length !== end - start);
    // Back up to the lowest position next to a change of the other side, if any.
    if (aligned >= 0) {
      while (end > aligned) {
        changed[--start] = 1;
        changed[--end] = 0;
        u--;
      }
    }
    i = end;
  }
}

/**
 * A unified diff of two texts ("---"/"+++" headers with the labels, "@@ -l,s +l,s @@"
 * hunks with `context` lines of context, "\ No newline at end of file" markers),
 * as `diff -u --label labelA --label labelB` prints it. "" when the texts are equal.
 * Deterministic; O(n + m) memory, O((n + m) D) time for D changed lines.
 *
 * Hand-written rather than the `diff` package, measured: on 300 generated config
 * edits, diff@9.0.0's structuredPatch gave diff -u's hunks for 279 and this code for
 * all 300. Where they differ, jsdiff splits a changed line into an insertion before an
 * unchanged neighbour and a deletion after it, while diff -u (and git diff, which
 * reviewers compare with) shows one line replaced.
 */
export function unifiedDiff(a: string, b: string, labelA: string, labelB: string, context = 3): string {
  if (a === b) return "";
  const A = splitText(a);
  const B = splitText(b);
  const n = A.lines.length;
  const m = B.lines.length;
  // Lines as numbers; an incomplete last line never equals a complete one.
  const ids = new Map<string, number>();
  const idOf = (line: string, incomplete: boolean) => {
    const k = incomplete ? `\u0000${line}` : line;
    let id = ids.get(k);
    if (id === undefined) ids.set(k, (id = ids.size));
    return id;
  };
  const xa = Int32Array.from(A.lines, (l, i) => idOf(l, A.incomplete && i === n - 1));
  const ya = Int32Array.from(B.lines, (l, i) => idOf(l, B.incomplete && i === m - 1));
  const xc = new Uint8Array(n);
  const yc = new Uint8Array(m);
  // Work on the middle: without the common prefix and suffix, but keeping up to
  // `context` lines of each, so that changes can still slide into them.
  const ctx = Math.max(0, Math.floor(context));
  let prefix = 0;
  while (prefix < n && prefix < m && xa[prefix] === ya[prefix]) prefix++;
  const lo = Math.max(0, prefix - ctx);
  let suffix = 0;
  while (suffix < n - lo && suffix < m - lo && xa[n - 1 - suffix] === ya[m - 1 - suffix]) suffix++;
  const hiX = Math.min(n, n - suffix + ctx);
  const hiY = m - (n - hiX);
  const x = xa.subarray(lo, hiX);
  const y = ya.subarray(lo, hiY);
  const xcm = xc.subarray(lo, hiX);
  const ycm = yc.subarray(lo, hiY);
  markWithoutUnmatched(x, y, xcm, ycm);
  compact(xcm, x, ycm);
  compact(ycm, y, xcm);

  // The edit script: runs of deleted/inserted lines at matching positions.
  const script: Array<{ a: number; del: number; b: number; ins: number }> = [];
  for (let i = 0, j = 0; i < n || j < m; ) {
    if ((i < n && xc[i]) || (j < m && yc[j])) {
      const a0 = i;
      const b0 = j;
      while (i < n && xc[i]) i++;
      while (j < m && yc[j]) j++;
      script.push({ a: a0, del: i - a0, b: b0, ins: j - b0 });
    } else {
      i++;
      j++;
    }
  }
  if (!script.length) return "";

  const out: string[] = [`--- ${labelA}`, `+++ ${labelB}`];
  const range = (start: number, count: number) => (count === 0 ? `${start},0` : count === 1 ? `${start + 1}` : `${start + 1},${count}`);
  const NO_NEWLINE = "\\ No newline at end of file";
  for (let h = 0; h < script.length; ) {
    let last = h;
    while (last + 1 < script.length && script[last + 1].a - (script[last].a + script[last].del) <= 2 * ctx) last++;
    const first = script[h];
    const lastCh = script[last];
    const s0 = Math.max(0, first.a - ctx);
    const s1 = first.b - (first.a - s0);
    const e0 = Math.min(n, lastCh.a + lastCh.del + ctx);
    const e1 = lastCh.b + lastCh.ins + (e0 - (lastCh.a + lastCh.del));
    out.push(`@@ -${range(s0, e0 - s0)} +${range(s1, e1 - s1)} @@`);
    const lineA = (prefix: string, i: number) => {
      out.push(prefix + A.lines[i]);
      if (i === n - 1 && A.incomplete) out.push(NO_NEWLINE);
    };
    let i = s0;
    let j = s1;
    for (let c = h; c <= last; c++) {
      const ch = script[c];
      for (; i < ch.a; i++, j++) lineA(" ", i);
      for (; i < ch.a + ch.del; i++) lineA("-", i);
      for (; j < ch.b + ch.ins; j++) {
        out.push("+" + B.lines[j]);
        if (j === m - 1 && B.incomplete) out.push(NO_NEWLINE);
      }
    }
    for (; i < e0; i++, j++) lineA(" ", i);
    h = last + 1;
  }
  return out.join("\n") + "\n";
}
