/**
 * Check — lesson L1: exact package versions, kept by the rendered pins and holds.
 *
 * The stack writes <root>/etc/apt/preferences.d/vdi-fleet.pref (one
 * "Package / Pin: version X / Pin-Priority: 1001" stanza per package) and
 * host/apply.sh installs every "package" line of the host document at exactly
 * its version and holds it (apt-mark hold). In the lab the documents are applied
 * under a root prefix, so apt is skipped there; this check proves the two
 * mechanisms against the real apt and dpkg instead, without touching the
 * machine's own apt or dpkg configuration or state:
 *
 *   - the hold list: apply.sh itself (root-prefix mode, under the scratch dir)
 *     reports which packages it would install and hold; that list must equal
 *     the document's package lines and the pins of the shipped pref file;
 *   - one pinned package per host (the cheapest: its pinned version downloadable
 *     from the machine's configured mirror, fewest dependencies missing here,
 *     smallest) is taken from the lab's package cache (or downloaded), repacked as a
 *     newer "+lab1" version, and both go into a flat local repository;
 *   - apt runs with APT_CONFIG pointing at a lab-only config: sources = that
 *     repository only, lists/cache/state/log in the scratch dir, the machine's
 *     apt.conf.d NOT read (so no Post-Invoke hooks run), Dir::Log in scratch too
 *     (even "apt-get -s install" writes the planner log /var/log/apt/eipp.log.xz
 *     otherwise), preferences = the
 *     host's own preferences.d (or an empty dir), and a dpkg status that is a
 *     copy of the machine's with the pinned version recorded as installed;
 *   - pins: apt-cache policy shows "*** <pinned> 1001" and the pinned version as
 *     candidate; apt-get -s upgrade keeps it;
 *   - negative control: without pins and holds apt-get -s upgrade takes "+lab1";
 *   - holds: dpkg --admindir=<scratch> --set-selections records the hold exactly
 *     as apt-mark hold does ("Status: hold ok installed"); without pins
 *     apt-get -s upgrade keeps the package back and apt-get -s -y install refuses;
 *   - the machine's dpkg status, apt config, lists, caches and holds are the
 *     same before and after.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { DEBS_DIR } from "../booted/image";
import { PROJECT_DIR } from "../../review/evaluate";
import { docFile, docPackages, parseDocument } from "../../formats/document";
import { must, run, type RunResult } from "../sys";
import { shippedText } from "../../shipped/stack";
import type { Check, Lab, LabHost, Recorder } from "../types";
import { APT_PINS } from "../../facts/paths";

const PREF_PATH = APT_PINS;
const DPKG_STATUS = "/var/lib/dpkg/status";
const LAB_SUFFIX = "+lab1";

const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(2)} s`;
const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const lastLines = (s: string, n = 4) => s.trim().split("\n").slice(-n).join(" | ");

// ------------------------------------------------------------------ deb822 stanzas

type Stanza = Map<string, string>;

/** Splits a deb822 text (dpkg status, Packages, apt-cache show) into raw stanzas. */
function rawStanzas(text: string): string[] {
  return text.split(/\n[ \t]*\n/).map((s) => s.replace(/^\n+|\n+$/g, "")).filter((s) => s.trim() !== "");
}

function parseStanza(raw: string): Stanza {
  const m: Stanza = new Map();
  let key = "";
  for (const line of raw.split("\n")) {
    if (/^[ \t]/.test(line) && key) m.set(key, `${m.get(key)}\n${line}`);
    else {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      key = line.slice(0, i);
      m.set(key, line.slice(i + 1).trim());
    }
  }
  return m;
}

/** Pin stanzas of an apt preferences file. */
function parsePrefs(text: string): Array<{ name: string; pin: string; priority: string }> {
  const body = text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  return rawStanzas(body).map(parseStanza).map((s) => ({ name: s.get("Package") ?? "", pin: s.get("Pin") ?? "", priority: s.get("Pin-Priority") ?? "" }));
}

// ------------------------------------------------------------------ dependencies against a dpkg status

interface Rel {
  name: string;
  op?: string;
  version?: string;
  anyArch: boolean;
}

function parseRels(field: string | undefined): Rel[][] {
  if (!field) return [];
  return field
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean)
    .map((g) =>
      g.split("|").map((alt) => {
        const m = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?/.exec(alt.trim());
        if (!m) throw new Error(`cannot parse dependency ${JSON.stringify(alt)}`);
        return { name: m[1], anyArch: m[2] === "any", op: m[3], version: m[4] };
      }),
    );
}

const cmpMemo = new Map<string, boolean>();
function versionHolds(a: string, op: string, b: string): boolean {
  const key = `${a} ${op} ${b}`;
  let r = cmpMemo.get(key);
  if (r === undefined) {
    r = run("dpkg", ["--compare-versions", a, op, b], { timeoutMs: 10_000 }).status === 0;
    cmpMemo.set(key, r);
  }
  return r;
}

/** Installed packages and what they provide, from a dpkg status text. */
class Installed {
  readonly versions = new Map<string, string[]>();
  readonly provides = new Map<string, Array<string | undefined>>();
  constructor(statusText: string) {
    for (const raw of rawStanzas(statusText)) {
      const s = parseStanza(raw);
      const name = s.get("Package");
      const version = s.get("Version");
      if (!name || !version || !/ installed$/.test(s.get("Status") ?? "")) continue;
      this.versions.set(name, [...(this.versions.get(name) ?? []), version]);
      for (const g of parseRels(s.get("Provides"))) {
        const p = g[0];
        this.provides.set(p.name, [...(this.provides.get(p.name) ?? []), p.version]);
      }
    }
  }
  satisfies(r: Rel): boolean {
    const ok = (v: string | undefined) => !r.op || (v !== undefined && versionHolds(v, r.op, r.version!));
    return (this.versions.get(r.name) ?? []).some(ok) || (this.provides.get(r.name) ?? []).some(ok);
  }
  /** The dependency groups (Depends, Pre-Depends) that nothing installed satisfies. */
  missing(depends: string | undefined, preDepends: string | undefined): Rel[][] {
    return [...parseRels(preDepends), ...parseRels(depends)].filter((g) => !g.some((r) => this.satisfies(r)));
  }
}

const showRel = (g: Rel[]) => g.map((r) => `${r.name}${r.op ? ` (${r.op} ${r.version})` : ""}`).join(" | ");

/** A minimal installed stanza satisfying the first alternative of a missing dependency. */
function stubStanza(r: Rel, arch: string): string {
  let version = "0~lab";
  if (r.op && r.version) version = r.op === ">>" || r.op === ">" ? `${r.version}+lab` : r.op === "<<" || r.op === "<" ? "0~lab" : r.version;
  return [
    `Package: ${r.name}`,
    "Status: install ok installed",
    "Priority: optional",
    "Section: misc",
    "Maintainer: vdi-fleet lab <lab@invalid>",
    `Architecture: ${arch}`,
    "Multi-Arch: allowed",
    `Version: ${version}`,
    "Description: lab stub standing in for a dependency not installed on this machine",
  ].join("\n");
}

// ------------------------------------------------------------------ apt configurations

/** apt options used to read the machine's mirror lists (read-only) while writing caches to the scratch dir. */
function upstreamArgs(dir: string): string[] {
  return ["-o", `Dir::Cache=${dir}/upcache`, "-o", "APT::Sandbox::User=root", "-o", `Dir::Log=${dir}/log`];
}

/**
 * A lab-only apt configuration (APT_CONFIG is read before Dir::Etc::Parts, so
 * pointing Parts and main at empty/missing files keeps the machine's
 * apt.conf.d — and its Update::Post-Invoke hooks — out entirely).
 */
function writeAptConf(file: string, o: { dir: string; prefParts: string; status: string }): void {
  const lines = [
    `Dir::Etc::Parts "${o.dir}/empty";`,
    `Dir::Etc::main "${o.dir}/none";`,
    `Dir::Etc::SourceList "${o.dir}/sources.list";`,
    `Dir::Etc::SourceParts "${o.dir}/empty";`,
    `Dir::Etc::PreferencesParts "${o.prefParts}";`,
    `Dir::Etc::Preferences "${o.dir}/none";`,
    `Dir::State "${o.dir}/state";`,
    `Dir::State::Lists "${o.dir}/lists";`,
    `Dir::State::status "${o.status}";`,
    `Dir::Cache "${o.dir}/cache";`,
    `Dir::Log "${o.dir}/log";`,
    `APT::Sandbox::User "root";`,
  ];
  fs.writeFileSync(file, lines.join("\n") + "\n");
}

function apt(conf: string, cmd: "apt-get" | "apt-cache" | "apt-mark" | "apt-config", args: string[]): RunResult {
  return run(cmd, args, { env: { ...process.env, APT_CONFIG: conf, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" }, timeoutMs: 120_000 });
}

const instLine = (out: string, pkg: string) => out.split("\n").find((l) => l.startsWith(`Inst ${pkg} `));

// ------------------------------------------------------------------ the machine's own apt/dpkg state

function listing(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(d).sort();
    } catch {
      out.push(`${d} (unreadable)`);
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      out.push(`${p} ${st.isDirectory() ? "dir" : st.size} ${st.mtimeMs}`);
      if (recursive && st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** What must not change: dpkg status/journal, apt config, lists, caches, logs, extended states, holds. */
function machineSnapshot(scratch: string): Map<string, string> {
  const snap = new Map<string, string>();
  for (const f of [DPKG_STATUS, "/var/lib/apt/extended_states"]) {
    snap.set(f, fs.existsSync(f) ? `${sha256(f)} ${fs.statSync(f).mtimeMs}` : "absent");
  }
  for (const [d, rec] of [["/etc/apt", true], ["/var/lib/dpkg/updates", false], ["/var/lib/apt/lists", true], ["/var/cache/apt", false], ["/var/cache/apt/archives", false], ["/var/log/apt", false]] as const) {
    snap.set(d, fs.existsSync(d) ? listing(d, rec).join("\n") : "absent");
  }
  const held = run("apt-mark", [...upstreamArgs(scratch), "showhold"], { env: { ...process.env, LC_ALL: "C" } });
  snap.set("apt-mark showhold", `${held.status} ${held.stdout.trim().split("\n").join(",")}`);
  return snap;
}

// ------------------------------------------------------------------ one host

interface Candidate {
  name: string;
  version: string;
  size: number;
  sha256: string;
  missing: Rel[][];
}

/** The pinned packages whose pinned version the machine's mirror offers, cheapest first. */
function candidates(pins: Array<{ name: string; version: string }>, scratch: string, installed: Installed): Candidate[] {
  const r = run("apt-cache", [...upstreamArgs(scratch), "show", ...pins.map((p) => `${p.name}=${p.version}`)], { env: { ...process.env, LC_ALL: "C" }, timeoutMs: 120_000 });
  const found: Candidate[] = [];
  for (const s of rawStanzas(r.stdout).map(parseStanza)) {
    const name = s.get("Package") ?? "";
    const version = s.get("Version") ?? "";
    if (!pins.some((p) => p.name === name && p.version === version) || found.some((c) => c.name === name)) continue;
    found.push({ name, version, size: Number(s.get("Size") ?? "0"), sha256: s.get("SHA256") ?? "", missing: installed.missing(s.get("Depends"), s.get("Pre-Depends")) });
  }
  return found.sort((a, b) => a.missing.length - b.missing.length || a.size - b.size);
}

/** The pinned .deb, from the lab's package cache (the closure the hosts installed from) when a copy with the mirror's checksum is there, else downloaded into it. */
function pinnedDeb(_lab: Lab, c: Candidate, scratch: string): { file: string; cached: boolean } {
  const cache = DEBS_DIR;
  fs.mkdirSync(cache, { recursive: true });
  const find = () =>
    fs
      .readdirSync(cache)
      .filter((f) => f.startsWith(`${c.name}_`) && f.endsWith(".deb"))
      .map((f) => path.join(cache, f))
      .find((f) => {
        const r = run("dpkg-deb", ["-f", f, "Package", "Version"]);
        return r.status === 0 && r.stdout === `Package: ${c.name}\nVersion: ${c.version}\n` && (!c.sha256 || sha256(f) === c.sha256);
      });
  const hit = find();
  if (hit) return { file: hit, cached: true };
  must("apt-get", [...upstreamArgs(scratch), "-q", "download", `${c.name}=${c.version}`], { cwd: cache, env: { ...process.env, LC_ALL: "C" }, timeoutMs: 300_000 });
  const got = find();
  if (!got) throw new Error(`apt-get download ${c.name}=${c.version} left no matching .deb (checksum ${c.sha256}) in ${cache}`);
  return { file: got, cached: false };
}

async function checkHost(lab: Lab, host: LabHost, rec: Recorder, base: string): Promise<void> {
  const t0 = Date.now();
  const at = (what: string) => `${host.name}: ${what}`;
  const dir = path.join(base, host.name);
  for (const d of ["empty", "repo", "lists/partial", "cache/archives/partial", "upcache", "state", "log", "dpkg/updates", "dpkg/info", "dpkg/triggers", "applied", "newer"]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }

  // ---- the shipped document, its package lines and its pref file
  const docText = shippedText(lab.evaluation, host.name);
  if (docText === undefined) {
    rec.fail(at("the converge command ships a host document"), `no command:remote:Command ${host.name}-converge in the lab evaluation`);
    return;
  }
  const doc = parseDocument(docText);
  const pkgs = docPackages(doc);
  const shipped = docFile(doc, PREF_PATH);
  const prefDir = path.join(host.root, path.dirname(PREF_PATH));
  const prefFile = path.join(host.root, PREF_PATH);
  const onDisk = fs.existsSync(prefFile) ? fs.readFileSync(prefFile, "utf8") : undefined;
  const others = fs.existsSync(prefDir) ? fs.readdirSync(prefDir).filter((f) => f !== path.basename(PREF_PATH)) : [];
  rec.expect(
    !!shipped && onDisk === shipped.content && others.length === 0,
    at(`${PREF_PATH} on the host is the document's file (and the only file apt reads there)`),
    `${prefFile}: ${onDisk === undefined ? "missing" : `${onDisk.length} bytes`}; document: ${shipped ? `${shipped.content.length} bytes, ${shipped.mode} ${shipped.owner}:${shipped.group}` : "no such file"}${others.length ? `; other files: ${others.join(" ")}` : ""}`,
  );
  if (onDisk === undefined) return;
  const pins = parsePrefs(onDisk);

  // ---- the hold list: what apply.sh says it would install and hold = package lines = pins
  const applied = path.join(dir, "applied");
  const input = docText.split("\n").map((l, i) => (i === 2 ? `root ${applied}` : l)).join("\n");
  const ap = run("bash", [path.join(PROJECT_DIR, "host", "apply.sh")], {
    input,
    env: { ...process.env, LC_ALL: "C", VDI_APPLY_POLICY_RC_D: path.join(dir, "policy-rc.d"), VDI_APPLY_LOG_DIR: path.join(dir, "log"), VDI_APPLY_RUN_DIR: path.join(dir, "run") },
    timeoutMs: 120_000,
  });
  const skipLine = ap.stdout.split("\n").find((l) => l.startsWith("vdi-apply: skipped install and hold of "));
  const holdList = (skipLine ?? "").replace(/^vdi-apply: skipped install and hold of /, "").replace(/ \(root prefix .*\)$/, "").split(" ").filter(Boolean);
  const fromLines = pkgs.map((p) => `${p.name}=${p.version}`);
  const same = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join(" ") === [...b].sort().join(" ");
  rec.expect(
    ap.status === 0 && !!skipLine && same(holdList, fromLines) && new Set(pkgs.map((p) => p.name)).size === pkgs.length,
    at("apply.sh would install and hold exactly the document's package lines"),
    ap.status !== 0 ? `apply.sh (root prefix ${applied}) exited ${ap.status}: ${lastLines(ap.stderr)}` : `apply.sh: "${skipLine ? `${holdList.length} packages: ${holdList.join(" ")}` : "no install-and-hold line"}"; package lines: ${fromLines.join(" ")}`,
  );
  const pinList = pins.map((p) => `${p.name}=${p.pin.replace(/^version /, "")}`);
  const badPins = pins.filter((p) => !/^version \S+$/.test(p.pin) || p.priority !== "1001");
  rec.expect(
    pkgs.length > 0 && same(pinList, fromLines) && badPins.length === 0,
    at("every held package has a pin at its package-line version, priority 1001, and nothing else is pinned"),
    `${pins.length} pins, ${pkgs.length} package lines${same(pinList, fromLines) ? "" : `; pins: ${pinList.join(" ")} vs lines: ${fromLines.join(" ")}`}${badPins.length ? `; not "version X"/1001: ${badPins.map((p) => `${p.name} (${p.pin}, ${p.priority})`).join(", ")}` : ""}`,
  );

  // ---- choose the package: pinned, at its package-line version, downloadable, cheapest
  const machineStatus = fs.readFileSync(DPKG_STATUS, "utf8");
  const installed = new Installed(machineStatus);
  const tChoose = Date.now();
  const wanted = pkgs.filter((p) => pinList.includes(`${p.name}=${p.version}`));
  const cands = candidates(wanted, dir, installed);
  if (!cands.length) {
    rec.fail(at("a pinned version is downloadable from the machine's mirror"), `none of ${wanted.map((p) => `${p.name}=${p.version}`).join(" ")} is in the machine's apt lists (apt-get update needed?)`);
    return;
  }
  const c = cands[0];
  const arch = must("dpkg", ["--print-architecture"]).trim();
  const deb = pinnedDeb(lab, c, dir);
  const control = must("dpkg-deb", ["-f", deb.file]);
  const debArch = parseStanza(control).get("Architecture") ?? arch;
  const chooseMs = secs(tChoose);

  // ---- a flat repository: the pinned .deb and a repacked newer version
  const tRepo = Date.now();
  const newer = `${c.version}${LAB_SUFFIX}`;
  if (!versionHolds(newer, ">>", c.version)) throw new Error(`${newer} is not newer than ${c.version}`);
  fs.copyFileSync(deb.file, path.join(dir, "repo", path.basename(deb.file)));
  const unpacked = path.join(dir, "newer", "tree");
  must("dpkg-deb", ["-R", deb.file, unpacked]);
  const ctlFile = path.join(unpacked, "DEBIAN", "control");
  fs.writeFileSync(ctlFile, fs.readFileSync(ctlFile, "utf8").replace(/^Version: .*$/m, `Version: ${newer}`));
  const newerDeb = path.join(dir, "repo", `${c.name}_${newer.replace(/^\d+:/, "")}_${debArch}.deb`);
  must("dpkg-deb", ["-Zgzip", "-z1", "-b", unpacked, newerDeb]);
  fs.rmSync(path.join(dir, "newer"), { recursive: true, force: true });
  const packages = must("dpkg-scanpackages", ["-m", "."], { cwd: path.join(dir, "repo") });
  fs.writeFileSync(path.join(dir, "repo", "Packages"), packages);
  const pkgsFile = path.join(dir, "repo", "Packages");
  fs.writeFileSync(
    path.join(dir, "repo", "Release"),
    ["Origin: vdi-lab", "Label: vdi-lab", "Suite: lab", "Codename: lab", `Date: ${new Date().toUTCString()}`, `Architectures: ${arch} all`, "SHA256:", ` ${sha256(pkgsFile)} ${fs.statSync(pkgsFile).size} Packages`, ""].join("\n"),
  );
  const repoVersions = rawStanzas(packages).map(parseStanza).map((s) => s.get("Version"));
  fs.writeFileSync(path.join(dir, "sources.list"), `deb [trusted=yes] file:${path.join(dir, "repo")} ./\n`);
  const repoMs = secs(tRepo);

  // ---- the status: the machine's, with the pinned version installed (and stubs for what is missing here)
  const statusFile = path.join(dir, "dpkg", "status");
  const ctlLines = control.replace(/\n+$/, "").split("\n");
  ctlLines.splice(1, 0, "Status: install ok installed");
  const ours = parseStanza(ctlLines.join("\n"));
  const missing = installed.missing(ours.get("Depends"), ours.get("Pre-Depends"));
  const replaced = new Set([c.name, ...missing.map((g) => g[0].name)]);
  const kept = rawStanzas(machineStatus).filter((s) => !replaced.has(parseStanza(s).get("Package") ?? ""));
  const before = installed.versions.get(c.name);
  fs.writeFileSync(statusFile, [...kept, ctlLines.join("\n"), ...missing.map((g) => stubStanza(g[0], arch))].join("\n\n") + "\n");
  rec.pass(
    at(`chose ${c.name} ${c.version} from the pins`),
    `${(c.size / 1024).toFixed(0)} KiB, ${deb.cached ? "cached" : "downloaded"} (${path.basename(deb.file)}, sha256 = mirror's); repo: ${repoVersions.join(", ")}; status copy: ${c.name} ${before ? `installed here at ${before.join(",")}, replaced by` : "not installed here, added as"} ${c.version} (install ok installed)` +
      (missing.length ? `; ${missing.length} dependencies not installed here added as stubs: ${missing.map(showRel).join(", ")}` : "; all its dependencies are installed here") +
      `; other pinned candidates: ${cands.slice(1).map((x) => `${x.name} (${(x.size / 1024).toFixed(0)} KiB, ${x.missing.length} missing)`).join(", ") || "none"}`,
  );

  // ---- apt pointed only at the repository, the scratch state and the host's pins
  const pinned = path.join(dir, "apt-pinned.conf");
  const unpinned = path.join(dir, "apt-unpinned.conf");
  writeAptConf(pinned, { dir, prefParts: prefDir, status: statusFile });
  writeAptConf(unpinned, { dir, prefParts: path.join(dir, "empty"), status: statusFile });
  const dump = apt(pinned, "apt-config", ["dump"]);
  const hooks = dump.stdout.split("\n").filter((l) => /Invoke/i.test(l));
  rec.expect(
    dump.status === 0 && hooks.length === 0 && dump.stdout.includes(`Dir::State::status "${statusFile}"`),
    at("lab apt config is isolated (no machine apt.conf.d, no hooks; status, lists, cache in scratch)"),
    dump.status !== 0 ? lastLines(dump.stderr) : hooks.length ? `hooks: ${hooks.join(" ")}` : `APT_CONFIG=${pinned}`,
  );
  const tUpdate = Date.now();
  const upd = apt(pinned, "apt-get", ["update"]);
  const updateMs = secs(tUpdate);
  const lists = fs.readdirSync(path.join(dir, "lists")).filter((f) => f.endsWith("Packages"));
  rec.expect(
    upd.status === 0 && lists.length === 1 && !/^(W|E):/m.test(upd.stderr),
    at("apt-get update reads only the local repository, into the scratch lists"),
    upd.status !== 0 || /^(W|E):/m.test(upd.stderr) ? `exit ${upd.status}: ${lastLines(upd.stderr || upd.stdout)}` : `${updateMs}; lists: ${lists.join(" ")}`,
  );
  const chk = apt(pinned, "apt-get", ["-s", "check"]);
  rec.expect(chk.status === 0, at("the status copy is consistent (apt-get -s check)"), chk.status === 0 ? "no broken dependencies" : lastLines(chk.stdout + chk.stderr));

  // ---- pins
  const pol = apt(pinned, "apt-cache", ["policy", c.name]);
  const cand = /^\s+Candidate: (\S+)/m.exec(pol.stdout)?.[1];
  const star = pol.stdout.split("\n").find((l) => /^ \*\*\* /.test(l))?.trim();
  const lists2 = pol.stdout.split("\n").some((l) => l.trim().startsWith(`${newer} `));
  rec.expect(
    pol.status === 0 && cand === c.version && star === `*** ${c.version} 1001` && lists2,
    at(`apt-cache policy: pinned ${c.version} at 1001 is the candidate, although ${newer} is offered`),
    pol.status !== 0 ? lastLines(pol.stderr) : `Candidate: ${cand}; "${star}"; ${newer} ${lists2 ? "listed" : "NOT listed"}`,
  );
  const upPin = apt(pinned, "apt-get", ["-s", "upgrade"]);
  const inPin = apt(pinned, "apt-get", ["-s", "-y", "install", c.name]);
  rec.expect(
    upPin.status === 0 && !instLine(upPin.stdout, c.name) && inPin.status === 0 && !instLine(inPin.stdout, c.name),
    at(`with the pins, apt-get -s upgrade and apt-get -s install ${c.name} keep ${c.version}`),
    `upgrade: ${instLine(upPin.stdout, c.name) ?? lastLines(upPin.stdout + upPin.stderr, 1)}; install: ${instLine(inPin.stdout, c.name) ?? lastLines(inPin.stdout + inPin.stderr, 1)}`,
  );
  const explicit = apt(pinned, "apt-get", ["-s", "-y", "install", `${c.name}=${newer}`]);
  const explicitInst = instLine(explicit.stdout, c.name);
  rec.expect(
    explicit.status === 0 && !!explicitInst?.includes(`(${newer} `),
    at(`a pin alone does not stop an explicit ${c.name}=${newer} request (why the stack also holds)`),
    explicitInst ?? `exit ${explicit.status}: ${lastLines(explicit.stdout + explicit.stderr, 2)}`,
    true,
  );

  // ---- negative control: no pin, no hold → the newer version is taken
  const upFree = apt(unpinned, "apt-get", ["-s", "upgrade"]);
  const freeInst = instLine(upFree.stdout, c.name);
  rec.expect(
    upFree.status === 0 && !!freeInst && freeInst.startsWith(`Inst ${c.name} [${c.version}] (${newer} `),
    at(`without pin and hold, apt-get -s upgrade takes ${newer}`),
    freeInst ?? `no Inst line; exit ${upFree.status}: ${lastLines(upFree.stdout + upFree.stderr, 2)}`,
    true,
  );

  // ---- holds: recorded by dpkg itself in the scratch admin dir, then no pins
  const sel = run("dpkg", [`--admindir=${path.join(dir, "dpkg")}`, `--log=${path.join(dir, "log", "dpkg.log")}`, "--set-selections"], { input: `${c.name} hold\n`, env: { ...process.env, LC_ALL: "C" } });
  const heldStanza = rawStanzas(fs.readFileSync(statusFile, "utf8")).map(parseStanza).find((s) => s.get("Package") === c.name);
  const showhold = apt(unpinned, "apt-mark", ["showhold"]);
  rec.expect(
    sel.status === 0 && heldStanza?.get("Status") === "hold ok installed" && showhold.stdout.split("\n").includes(c.name),
    at(`the hold is recorded as "Status: hold ok installed" (dpkg --set-selections on the scratch admin dir)`),
    sel.status !== 0 ? `dpkg exited ${sel.status}: ${lastLines(sel.stderr)}` : `Status: ${heldStanza?.get("Status")}; lab apt-mark showhold: ${showhold.stdout.trim().split("\n").join(",") || "(none)"}`,
  );
  const upHold = apt(unpinned, "apt-get", ["-s", "upgrade"]);
  const keptBack = /kept back:\n((?:\s+\S.*\n)+)/.exec(upHold.stdout)?.[1]?.split(/\s+/).includes(c.name) ?? false;
  rec.expect(
    upHold.status === 0 && keptBack && !instLine(upHold.stdout, c.name),
    at(`held, without pins: apt-get -s upgrade keeps ${c.name} back`),
    instLine(upHold.stdout, c.name) ?? (keptBack ? `kept back; ${lastLines(upHold.stdout, 1)}` : `exit ${upHold.status}: ${lastLines(upHold.stdout + upHold.stderr, 3)}`),
  );
  const inHold = apt(unpinned, "apt-get", ["-s", "-y", "install", c.name]);
  rec.expect(
    inHold.status !== 0 && /Held packages were changed/.test(inHold.stderr),
    at(`held, without pins: apt-get -y install ${c.name} is refused`),
    `exit ${inHold.status}: ${lastLines(inHold.stderr, 1) || lastLines(inHold.stdout, 2)}`,
  );
  rec.pass(at("timings"), `total ${secs(t0)}: choose+deb ${chooseMs}, repo ${repoMs}, apt-get update ${updateMs}`);
}

export const aptCheck: Check = {
  id: "apt",
  lesson: "L1",
  title: "Exact package versions kept by the rendered pins and holds (real apt/dpkg, local repo with a newer version)",
  needs: [
    { pkg: "apt", path: "/usr/bin/apt-get" },
    { pkg: "apt", path: "/usr/bin/apt-cache" },
    { pkg: "apt", path: "/usr/bin/apt-mark" },
    { pkg: "apt", path: "/usr/bin/apt-config" },
    { pkg: "dpkg", path: "/usr/bin/dpkg" },
    { pkg: "dpkg", path: "/usr/bin/dpkg-deb" },
    { pkg: "dpkg-dev", path: "/usr/bin/dpkg-scanpackages" },
    { pkg: "bash", path: "/bin/bash" },
  ],
  async run(lab, rec) {
    const t0 = Date.now();
    const base = lab.scratch("apt");
    const hosts: LabHost[] = [];
    for (const h of [lab.hostsWithRole("compute")[0], lab.hostsWithRole("network")[0]]) if (h && !hosts.some((x) => x.name === h.name)) hosts.push(h);
    if (!hosts.length) {
      rec.fail("the lab has a compute or network host", lab.hosts.map((h) => `${h.name} (${h.roles.join(",")})`).join(", "));
      return;
    }
    const before = machineSnapshot(base);
    try {
      for (const h of hosts) {
        try {
          await checkHost(lab, h, rec, base);
        } catch (e) {
          rec.fail(`${h.name}: check ran to the end`, e instanceof Error ? e.message : String(e));
        }
      }
    } finally {
      const after = machineSnapshot(base);
      const changed = [...before.keys()].filter((k) => before.get(k) !== after.get(k));
      rec.expect(
        changed.length === 0,
        "the machine's dpkg status, apt config, lists, caches, apt logs and holds are unchanged",
        changed.length ? `changed: ${changed.join(", ")}` : `${DPKG_STATUS} sha256 ${before.get(DPKG_STATUS)?.split(" ")[0].slice(0, 12)}…, same mtime; /etc/apt, lists, /var/cache/apt, /var/log/apt listings equal; holds: ${before.get("apt-mark showhold")?.replace(/^0 /, "") || "none"}; check took ${secs(t0)}`,
      );
    }
  },
};
