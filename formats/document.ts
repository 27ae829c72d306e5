/**
 * The host desired-state document: everything one host receives, as one text.
 *
 * It is shipped as the `stdin` of the host's remote command and applied, in
 * order, by `host/apply.sh`. Policies, the offline preview and the lab read it
 * back with `parseDocument`, so what they judge is exactly what is shipped.
 *
 * Format (version 2), one directive per line:
 *
 *   vdi-host-document 2
 *   host <name>
 *   root <absolute path>                  "/" in production; the lab applies under its own root
 *   fact <key> <value> [verify]           declared facts; "verify" ones are checked on the host
 *   package <name> <exact dpkg version> [<unit>,...]
 *                                         pinned, installed at exactly that version and held; when
 *                                         another version was installed before (an upgrade), the
 *                                         units named restart so the new code runs
 *   file <path> <mode> <owner>:<group> <n> <actions>
 *   ...n lines of content...
 *   enable <systemd unit>                 systemctl enable (boot-time start)
 *   start <systemd unit>                  make sure the unit is running after the actions
 *   needs <systemd unit> <path>           never start/restart the unit while <path> is missing
 *                                         (e.g. nova-compute before its credentials arrive)
 *   check <systemd unit> <path>           after the actions, run <path> (a read-only assertion,
 *                                         e.g. the broker is in its cluster) unless the unit is
 *                                         deferred; a failing check fails the converge
 *   end
 *
 * Package installs never start, stop or restart daemons (the apply script
 * installs under a policy-rc.d that denies it): only the document does, so a
 * package upgrade does not restart Open vSwitch or libvirt under running guests.
 *
 * Actions of a file ("-" for none, else comma separated) run when the file changed:
 *   restart=<unit>   restart that unit (once, after all files are written)
 *   daemon-reload    systemctl daemon-reload before enabling/restarting
 *   sysctl           sysctl -p <file>
 *   exec             run the file itself before the restarts (it must be executable)
 *   exec=<path>      run another file of this host before the restarts
 *   post=<path>      run a file of this host after the restarts and starts
 *
 * Pure: no Pulumi, no I/O.
 */

export const DOCUMENT_VERSION = 2;

export type FileAction =
  | { kind: "restart"; unit: string }
  | { kind: "daemon-reload" }
  | { kind: "sysctl" }
  | { kind: "exec"; path?: string }
  | { kind: "post"; path: string };

export interface DocFile {
  path: string;
  mode: string;
  owner: string;
  group: string;
  content: string;
  actions: FileAction[];
}

export interface DocFact {
  key: string;
  value: string;
  verify: boolean;
}

/** One step of the document, in the order the apply script runs it. */
export type DocEntry =
  | { kind: "fact"; fact: DocFact }
  | { kind: "package"; name: string; version: string; restarts?: string[] }
  | { kind: "file"; file: DocFile }
  | { kind: "enable"; unit: string }
  | { kind: "start"; unit: string }
  | { kind: "needs"; unit: string; path: string }
  | { kind: "check"; unit: string; path: string };

export interface HostDocument {
  host: string;
  root: string;
  entries: DocEntry[];
}

const TOKEN = /^[^\s]+$/;
const UNIT = /^[A-Za-z0-9@._:-]+\.(service|socket|timer|target|path|mount)$/;
const MODE = /^0?[0-7]{3,4}$/;
const NAME = /^[a-z_][a-z0-9_-]*$/;

/** Throws an Error describing the first problem; used by renderers as an internal assertion. */
function check(ok: boolean, msg: string): asserts ok {
  if (!ok) throw new Error(`host document: ${msg}`);
}

function renderAction(a: FileAction): string {
  switch (a.kind) {
    case "restart":
      check(UNIT.test(a.unit), `bad unit in restart action: ${JSON.stringify(a.unit)}`);
      return `restart=${a.unit}`;
    case "daemon-reload":
      return "daemon-reload";
    case "sysctl":
      return "sysctl";
    case "exec":
      return a.path ? `exec=${a.path}` : "exec";
    case "post":
      check(a.path.startsWith("/") && TOKEN.test(a.path), `post action needs an absolute path: ${JSON.stringify(a.path)}`);
      return `post=${a.path}`;
  }
}

/** Renders a document to its text form. Deterministic: same input, same bytes. */
export function renderDocument(doc: HostDocument): string {
  check(TOKEN.test(doc.host), `bad host name ${JSON.stringify(doc.host)}`);
  check(doc.root.startsWith("/") && TOKEN.test(doc.root), `root must be an absolute path without spaces, got ${JSON.stringify(doc.root)}`);
  const out: string[] = [`vdi-host-document ${DOCUMENT_VERSION}`, `host ${doc.host}`, `root ${doc.root}`];
  for (const e of doc.entries) {
    switch (e.kind) {
      case "fact":
        check(TOKEN.test(e.fact.key) && TOKEN.test(e.fact.value), `bad fact ${e.fact.key}=${e.fact.value}`);
        out.push(`fact ${e.fact.key} ${e.fact.value}${e.fact.verify ? " verify" : ""}`);
        break;
      case "package":
        check(TOKEN.test(e.name) && TOKEN.test(e.version), `bad package ${e.name} ${e.version}`);
        for (const u of e.restarts ?? []) check(UNIT.test(u), `bad unit ${JSON.stringify(u)} to restart after ${e.name} changes`);
        out.push(`package ${e.name} ${e.version}${e.restarts?.length ? ` ${e.restarts.join(",")}` : ""}`);
        break;
      case "enable":
      case "start":
        check(UNIT.test(e.unit), `bad unit ${JSON.stringify(e.unit)}`);
        out.push(`${e.kind} ${e.unit}`);
        break;
      case "needs":
      case "check":
        check(UNIT.test(e.unit), `bad unit ${JSON.stringify(e.unit)}`);
        check(e.path.startsWith("/") && TOKEN.test(e.path), `${e.kind}: path must be absolute without spaces: ${JSON.stringify(e.path)}`);
        out.push(`${e.kind} ${e.unit} ${e.path}`);
        break;
      case "file": {
        const f = e.file;
        check(f.path.startsWith("/") && TOKEN.test(f.path), `file path must be absolute without spaces: ${JSON.stringify(f.path)}`);
        check(MODE.test(f.mode), `bad mode ${f.mode} for ${f.path}`);
        check(NAME.test(f.owner) && NAME.test(f.group), `bad owner ${f.owner}:${f.group} for ${f.path}`);
        check(f.content.endsWith("\n"), `content of ${f.path} must end with a newline`);
        check(!f.content.includes("\0") && !f.content.includes("\r"), `content of ${f.path} must be plain text without NUL or CR`);
        const lines = f.content.slice(0, -1).split("\n");
        const actions = f.actions.length ? f.actions.map(renderAction).join(",") : "-";
        out.push(`file ${f.path} ${f.mode} ${f.owner}:${f.group} ${lines.length} ${actions}`);
        out.push(...lines);
        break;
      }
    }
  }
  out.push("end");
  return out.join("\n") + "\n";
}

export class DocumentParseError extends Error {}

function parseAction(s: string, line: number): FileAction {
  if (s === "daemon-reload") return { kind: "daemon-reload" };
  if (s === "sysctl") return { kind: "sysctl" };
  if (s === "exec") return { kind: "exec" };
  if (s.startsWith("exec=")) return { kind: "exec", path: s.slice(5) };
  if (s.startsWith("restart=")) return { kind: "restart", unit: s.slice(8) };
  if (s.startsWith("post=")) return { kind: "post", path: s.slice(5) };
  throw new DocumentParseError(`line ${line}: unknown file action ${JSON.stringify(s)}`);
}

/** Parses the text form back. Throws DocumentParseError on anything malformed. */
export function parseDocument(text: string): HostDocument {
  if (typeof text !== "string") throw new DocumentParseError("document is not a string");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let i = 0;
  const next = () => lines[i++];
  const header = next();
  if (header !== `vdi-host-document ${DOCUMENT_VERSION}`) {
    throw new DocumentParseError(`line 1: expected "vdi-host-document ${DOCUMENT_VERSION}", got ${JSON.stringify(header)}`);
  }
  const hostLine = next() ?? "";
  const rootLine = next() ?? "";
  if (!/^host \S+$/.test(hostLine)) throw new DocumentParseError(`line 2: expected "host <name>"`);
  if (!/^root \/\S*$/.test(rootLine)) throw new DocumentParseError(`line 3: expected "root <absolute path>"`);
  const doc: HostDocument = { host: hostLine.slice(5), root: rootLine.slice(5), entries: [] };
  let ended = false;
  while (i < lines.length) {
    const n = i + 1;
    const line = next();
    const parts = line.split(" ");
    switch (parts[0]) {
      case "end":
        ended = true;
        if (i !== lines.length) throw new DocumentParseError(`line ${n}: text after "end"`);
        break;
      case "fact":
        if (parts.length < 3 || parts.length > 4 || (parts.length === 4 && parts[3] !== "verify")) {
          throw new DocumentParseError(`line ${n}: expected "fact <key> <value> [verify]"`);
        }
        doc.entries.push({ kind: "fact", fact: { key: parts[1], value: parts[2], verify: parts[3] === "verify" } });
        break;
      case "package":
        if (parts.length !== 3 && parts.length !== 4) throw new DocumentParseError(`line ${n}: expected "package <name> <version> [<unit>,...]"`);
        doc.entries.push({ kind: "package", name: parts[1], version: parts[2], ...(parts[3] ? { restarts: parts[3].split(",") } : {}) });
        break;
      case "enable":
      case "start":
        if (parts.length !== 2) throw new DocumentParseError(`line ${n}: expected "${parts[0]} <unit>"`);
        doc.entries.push({ kind: parts[0], unit: parts[1] });
        break;
      case "needs":
      case "check":
        if (parts.length !== 3) throw new DocumentParseError(`line ${n}: expected "${parts[0]} <unit> <path>"`);
        doc.entries.push({ kind: parts[0], unit: parts[1], path: parts[2] });
        break;
      case "file": {
        if (parts.length !== 6) throw new DocumentParseError(`line ${n}: expected "file <path> <mode> <owner>:<group> <lines> <actions>"`);
        const [, path, mode, og, count, acts] = parts;
        const [owner, group] = og.split(":");
        const k = Number(count);
        if (!Number.isInteger(k) || k < 1 || i + k > lines.length) {
          throw new DocumentParseError(`line ${n}: bad line count ${JSON.stringify(count)} for ${path}`);
        }
        const content = lines.slice(i, i + k).join("\n") + "\n";
        i += k;
        const actions = acts === "-" ? [] : acts.split(",").map((a) => parseAction(a, n));
        doc.entries.push({ kind: "file", file: { path, mode, owner: owner ?? "", group: group ?? "", content, actions } });
        break;
      }
      default:
        throw new DocumentParseError(`line ${n}: unknown directive ${JSON.stringify(parts[0])}`);
    }
    if (ended) break;
  }
  if (!ended) throw new DocumentParseError(`document has no "end" line (truncated?)`);
  return doc;
}

/** Convenience accessors used by policies, the preview and the lab. */
export function docFiles(doc: HostDocument): DocFile[] {
  return doc.entries.flatMap((e) => (e.kind === "file" ? [e.file] : []));
}

export function docFile(doc: HostDocument, path: string): DocFile | undefined {
  return docFiles(doc).find((f) => f.path === path);
}

export function docPackages(doc: HostDocument): Array<{ name: string; version: string; restarts: string[] }> {
  return doc.entries.flatMap((e) => (e.kind === "package" ? [{ name: e.name, version: e.version, restarts: e.restarts ?? [] }] : []));
}

export function docFacts(doc: HostDocument): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of doc.entries) if (e.kind === "fact") out[e.fact.key] = e.fact.value;
  return out;
}

export function docEnabled(doc: HostDocument): string[] {
  return doc.entries.flatMap((e) => (e.kind === "enable" ? [e.unit] : []));
}
