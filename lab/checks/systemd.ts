/**
 * systemd / L6: every unit and drop-in the stack rendered on each host is
 * judged by `systemd-analyze verify` against the Debian units the host really
 * has installed (its pinned packages, from the stack's own converge), and the
 * dependency dump proves the L6 ordering.
 *
 * How: the verification root is a hard-linked copy of the booted host's root
 * file system (`cp -al`: no data copied; files are only ever replaced in it,
 * never written through), without its credentials files. Then, with `--root`:
 *
 * - `systemd-analyze verify --man=no` of one transaction (rendered units,
 *   drop-in bases, the document's enabled/started units and the targets they
 *   are ordered against) must exit 0 with nothing on stderr (a warning fails);
 * - the `SYSTEMD_LOG_LEVEL=debug` dump must list each rendered drop-in as a
 *   `DropIn Path:` of its unit (the rendered file, byte for byte); on compute
 *   hosts libvirtd.service and libvirt-guests.service must be `After:` every
 *   Open vSwitch unit (openvswitch-switch.service and what it Requires=, read
 *   from the Debian unit) so they stop first; the stale-port cleanup unit (the
 *   rendered unit whose script deletes ofport -1 ports) must be `Before:`
 *   nova-compute.service and neutron-openvswitch-agent.service.
 *
 * Negative controls (first compute host, hard-linked copies of its root): the
 * drop-in removed (Debian's unit alone is not ordered after OVS), inverted
 * (Before= instead of After=: the ordering check fails and verify finds the
 * ordering cycle) and with an unknown key (only a warning; rc 0).
 */
import * as fs from "fs";
import * as path from "path";
import { docEnabled, docFiles } from "../../formats/document";
import { hostCommandName } from "../../shipped/naming";
import { must, run } from "../sys";
import { shippedDocument } from "../../shipped/stack";
import type { Check, Lab, LabHost, Recorder } from "../types";

const MACHINE_UNITS = "/lib/systemd/system";
const UNIT_DIR = "etc/systemd/system";
const UNIT_RE = /\.(service|socket|timer|target|path|mount|automount|swap|slice|scope)$/;
/** L6 (docs/lessons.md): what must be ordered against what. */
const OVS_ANCHOR = "openvswitch-switch.service";
const LIBVIRT_UNITS = ["libvirtd.service", "libvirt-guests.service"];
const CLEANUP_BEFORE: Record<string, string[]> = {
  compute: ["nova-compute.service", "neutron-openvswitch-agent.service"],
  network: ["neutron-openvswitch-agent.service"],
};

interface DumpUnit {
  fragment?: string;
  dropIns: string[];
  /** Key ("After", "Before", "Requires"...) → unit → origins. */
  deps: Map<string, Map<string, string>>;
  lines: string[];
}

/** Parses the `-> Unit X:` blocks of a debug `systemd-analyze verify` dump. */
export function parseDump(text: string): Map<string, DumpUnit> {
  const units = new Map<string, DumpUnit>();
  let cur: DumpUnit | undefined;
  for (const line of text.split("\n")) {
    const u = /^\s*-> Unit (\S+):\s*$/.exec(line);
    if (u) {
      cur = { dropIns: [], deps: new Map(), lines: [] };
      units.set(u[1], cur);
      continue;
    }
    if (!cur) continue;
    const m = /^\t\t([A-Za-z ]+): (.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    if (key === "Fragment Path") cur.fragment = value;
    else if (key === "DropIn Path") cur.dropIns.push(value);
    const dep = /^(\S+\.[a-z]+) \(([^)]*)\)$/.exec(value);
    if (dep) {
      cur.lines.push(`${key}: ${value}`);
      const byKey = cur.deps.get(key) ?? cur.deps.set(key, new Map()).get(key)!;
      byKey.set(dep[1], dep[2]);
    }
  }
  return units;
}

const fromFile = (origins: string | undefined) => !!origins && /\borigin-file\b/.test(origins);
const depLine = (u: DumpUnit | undefined, key: string, other: string) => (u?.deps.get(key)?.has(other) ? `${key}: ${other} (${u.deps.get(key)!.get(other)})` : undefined);


const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export const systemdCheck: Check = {
  id: "systemd",
  title: "rendered units and drop-ins pass systemd-analyze verify against the Debian units installed on each host; L6 ordering in the dependency dump",
  lesson: "L6",
  needs: [
    { pkg: "systemd", path: "/usr/bin/systemd-analyze" },
    { pkg: "dpkg", path: "/usr/bin/dpkg-deb" },
    { pkg: "apt", path: "/usr/bin/apt-get" },
  ],
  async run(lab: Lab, rec: Recorder): Promise<void> {
    interface Built {
      host: LabHost;
      vr: string;
      transaction: string[];
      dump: Map<string, DumpUnit>;
      rendered: string[];
      dropIns: string[];
    }

    /** Debug dump of units in a root (stdout), with the run's status and stderr. */
    const dumpOf = (root: string, units: string[]) =>
      run("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...units], { env: { ...process.env, SYSTEMD_LOG_LEVEL: "debug" }, timeoutMs: 120_000 });
    const verify = (root: string, units: string[]) => run("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...units], { env: { ...process.env, SYSTEMD_LOG_LEVEL: "info" }, timeoutMs: 120_000 });

    const hosts = lab.hosts.filter((h) => !h.roles.includes("control") && docFiles(shippedDocument(lab.evaluation, h.name, "converge") ?? { host: h.name, root: "/", entries: [] }).some((f) => f.path.startsWith(`/${UNIT_DIR}/`)));
    for (const h of lab.hosts.filter((x) => !hosts.includes(x) && x.roles.some((r) => r in CLEANUP_BEFORE))) {
      rec.fail(`${h.name}: rendered units present`, `no ${path.join(h.root, UNIT_DIR)} after the converge (L6 needs units on ${h.roles.join(", ")} hosts)`);
    }
    if (hosts.length === 0) return;
    const built: Built[] = [];

    for (const host of hosts) {
      const th = Date.now();
      const doc = shippedDocument(lab.evaluation, host.name, "converge");
      if (!doc) throw new Error(`no ${hostCommandName(host.name, "converge")} document in the evaluation`);
      const credentials = shippedDocument(lab.evaluation, host.name, "credentials");
      const secretPaths = new Set((credentials ? docFiles(credentials) : []).map((f) => path.join(host.root, f.path)));

      // 1. The verification root: the booted host's own root, hard-linked, without its secrets.
      const vr = path.join(lab.scratch(`systemd-${host.name}`), "root");
      must("cp", ["-al", host.root, vr], { timeoutMs: 300_000 });
      for (const f of secretPaths) fs.rmSync(path.join(vr, path.relative(host.root, f)), { force: true });
      const tb = Date.now();

      // 3. What the host rendered, and the transaction to verify.
      // The units and drop-ins the stack shipped (the host's own directory also has Debian's enablement links).
      const renderedFiles = docFiles(doc).map((f) => f.path.slice(1)).filter((f) => f.startsWith(`${UNIT_DIR}/`));
      const rendered = renderedFiles.filter((f) => path.dirname(f) === UNIT_DIR && UNIT_RE.test(f)).map((f) => path.basename(f));
      const dropIns = renderedFiles.filter((f) => /\.d$/.test(path.dirname(f)) && f.endsWith(".conf") && UNIT_RE.test(path.basename(path.dirname(f)).slice(0, -2)));
      const dropInBases = [...new Set(dropIns.map((f) => path.basename(path.dirname(f)).slice(0, -2)))];
      const unitExists = (u: string) => [UNIT_DIR, MACHINE_UNITS.slice(1), "usr/lib/systemd/system"].some((d) => fs.existsSync(path.join(vr, d, u)));
      for (const b of dropInBases) {
        rec.expect(unitExists(b), `${host.name}: drop-in base ${b} is installed on the host`, unitExists(b) ? `${b} from ${[MACHINE_UNITS, "/" + UNIT_DIR].find((d) => fs.existsSync(path.join(vr, d, b)))}` : `no installed package ships ${b}; the drop-ins ${dropIns.filter((f) => f.includes(`/${b}.d/`)).join(", ")} would apply to nothing`);
      }
      const docUnits = [...new Set([...docEnabled(doc), ...doc.entries.flatMap((e) => (e.kind === "start" ? [e.unit] : []))])];
      const roles = host.roles;
      const partners = [...new Set([...docUnits, ...(roles.includes("compute") ? [OVS_ANCHOR, ...LIBVIRT_UNITS] : []), ...roles.flatMap((r) => CLEANUP_BEFORE[r] ?? [])])];
      const absent = partners.filter((u) => !unitExists(u));
      const base = [...new Set([...rendered, ...dropInBases.filter(unitExists), ...partners.filter(unitExists)])];

      // 2. The stack's own scripts the rendered units run must be on the host.
      const renderedText = renderedFiles.map((f) => fs.readFileSync(path.join(host.root, f), "utf8")).join("\n");
      const execs = [...new Set([...renderedText.matchAll(/^\s*Exec[A-Za-z]*\s*=\s*[@\-:+!|]*(\/\S+)/gm)].map((m) => m[1]))];
      const missingRendered = execs.filter((e) => !fs.existsSync(path.join(vr, e)));

      // 5. Dump (for the targets the units are ordered against, and the proofs), then the clean verify.
      const tv = Date.now();
      const d1 = dumpOf(vr, base);
      const dump = parseDump(d1.stdout);
      const targets = [...new Set([...dump.values()].flatMap((u) => [...u.deps].filter(([k]) => ["After", "Before", "Requires", "Wants", "BindsTo", "PartOf"].includes(k)).flatMap(([, m]) => [...m].filter(([n, o]) => n.endsWith(".target") && fromFile(o) && unitExists(n)).map(([n]) => n))))].sort();
      const transaction = [...base, ...targets.filter((t) => !base.includes(t))];
      const v = verify(vr, transaction);
      const verifyMs = Date.now() - tv;
      rec.expect(
        v.status === 0 && v.stderr.trim() === "" && missingRendered.length === 0,
        `${host.name}: systemd-analyze verify of the rendered units and drop-ins is clean`,
        [
          `rc ${v.status}${v.stderr.trim() ? `, stderr: ${v.stderr.trim().split("\n").slice(0, 12).join(" | ")}` : ", no stderr"}`,
          `rendered units: ${rendered.join(", ") || "none"}; drop-ins: ${dropIns.join(", ") || "none"}`,
          `one transaction of ${transaction.length} units: ${transaction.join(" ")}`,
          absent.length ? `not installed on the host: ${absent.join(", ")}` : "",
          missingRendered.length ? `binaries of rendered units missing: ${missingRendered.join(", ")}` : "",
          `hard-linked root in ${secs(tb - th)}, dump + verify ${secs(verifyMs)}`,
        ].filter(Boolean).join("; "),
      );
      built.push({ host, vr, transaction, dump, rendered, dropIns });
    }

    // 6. The proofs from the dump.
    /** The OVS units: the anchor and what its Debian unit Requires=. */
    const ovsUnitsOf = (dump: Map<string, DumpUnit>) => {
      const anchor = dump.get(OVS_ANCHOR);
      return anchor ? [OVS_ANCHOR, ...[...(anchor.deps.get("Requires") ?? new Map<string, string>())].filter(([n, o]) => n.endsWith(".service") && fromFile(o)).map(([n]) => n)] : [];
    };
    /** Whether `unit` is After= every OVS unit (from a file) and Before= none; with the dump lines that show it. */
    const afterOvs = (dump: Map<string, DumpUnit>, unit: string): { ok: boolean; detail: string } => {
      const ovs = ovsUnitsOf(dump);
      const u = dump.get(unit);
      if (!u) return { ok: false, detail: `${unit} is not in the dump` };
      if (ovs.length === 0) return { ok: false, detail: `${OVS_ANCHOR} is not in the dump (not installed?)` };
      const after = ovs.filter((o) => fromFile(u.deps.get("After")?.get(o)));
      const before = ovs.filter((o) => u.deps.get("Before")?.has(o));
      const lines = ovs.flatMap((o) => [depLine(u, "After", o), depLine(u, "Before", o)].filter((x): x is string => !!x));
      const ok = after.length === ovs.length && before.length === 0;
      return {
        ok,
        detail: `${unit}: ${lines.join(", ") || "no ordering against OVS"}${ok ? "" : `; missing After: ${ovs.filter((o) => !after.includes(o)).join(" ") || "none"}${before.length ? `; Before: ${before.join(" ")}` : ""}`} (OVS units from Debian's ${OVS_ANCHOR}: ${ovs.join(" ")})`,
      };
    };
    const dropInProof = (b: Built, rel: string) => {
      const unit = path.basename(path.dirname(rel)).slice(0, -2);
      const inVr = path.join(b.vr, rel);
      const listed = b.dump.get(unit)?.dropIns.includes(inVr) ?? false;
      const same = fs.existsSync(inVr) && fs.readFileSync(inVr).equals(fs.readFileSync(path.join(b.host.root, rel)));
      return { unit, ok: listed && same, detail: `${unit}: ${listed ? `DropIn Path: ${inVr}` : `no DropIn Path ${inVr} (drop-ins listed: ${b.dump.get(unit)?.dropIns.join(", ") || "none"})`}; ${same ? `identical to the rendered ${path.join(b.host.root, rel)}` : "differs from the rendered file"}` };
    };
    /** Rendered services whose ExecStart script deletes stale (ofport -1) OVS ports. */
    const cleanupUnits = (b: Built) =>
      b.rendered.filter((u) => {
        const exec = /^\s*ExecStart\s*=\s*[@\-:+!|]*(\/\S+)/m.exec(fs.readFileSync(path.join(b.host.root, UNIT_DIR, u), "utf8"))?.[1];
        const script = exec && fs.existsSync(path.join(b.host.root, exec)) ? fs.readFileSync(path.join(b.host.root, exec), "utf8") : "";
        return /ofport=-1/.test(script) && /del-port/.test(script);
      });

    for (const b of built) {
      const h = b.host.name;
      for (const rel of b.dropIns) {
        const p = dropInProof(b, rel);
        rec.expect(p.ok, `${h}: ${p.unit} loads the rendered drop-in ${path.basename(rel)}`, p.detail);
      }
      if (b.host.roles.includes("compute")) {
        for (const unit of LIBVIRT_UNITS) {
          const r = afterOvs(b.dump, unit);
          rec.expect(r.ok, `${h}: ${unit} is ordered After= Open vSwitch (starts after, stops before it)`, r.detail);
        }
      }
      const needBefore = [...new Set(b.host.roles.flatMap((r) => CLEANUP_BEFORE[r] ?? []))];
      if (needBefore.length === 0) continue;
      const cleanups = cleanupUnits(b);
      if (cleanups.length === 0) {
        rec.fail(`${h}: a stale-port cleanup unit runs Before= ${needBefore.join(" ")}`, "no rendered unit runs a script that deletes ofport -1 ports");
        continue;
      }
      for (const c of cleanups) {
        const u = b.dump.get(c);
        const lines = needBefore.map((n) => depLine(u, "Before", n) ?? `no Before: ${n}`);
        const ok = needBefore.every((n) => fromFile(u?.deps.get("Before")?.get(n)));
        const afterOvsUnits = ovsUnitsOf(b.dump).map((o) => depLine(u, "After", o)).filter(Boolean);
        rec.expect(ok, `${h}: ${c} is ordered Before= ${needBefore.join(" and ")}`, `${lines.join(", ")}; ${afterOvsUnits.join(", ") || "not After= any OVS unit"}`);
      }
    }

    // 7. Negative controls on the first compute host, in hard-linked copies of its verification root.
    const first = built.find((b) => b.host.roles.includes("compute"));
    const libvirtDropIn = first?.dropIns.find((f) => f.includes(`/${LIBVIRT_UNITS[0]}.d/`));
    if (!first || !libvirtDropIn) {
      rec.fail("negative controls for the L6 drop-in", first ? `${first.host.name} renders no drop-in for ${LIBVIRT_UNITS[0]}` : "no compute host was verified");
    } else {
      const original = fs.readFileSync(path.join(first.host.root, libvirtDropIn), "utf8");
      const variant = (name: string, content: string | undefined) => {
        const root = path.join(path.dirname(first.vr), `neg-${name}`);
        must("cp", ["-al", first.vr, root]);
        const f = path.join(root, libvirtDropIn);
        fs.rmSync(f); // a hard link: replace, never write through
        if (content !== undefined) fs.writeFileSync(f, content);
        const d = dumpOf(root, first.transaction);
        const v = verify(root, first.transaction);
        fs.rmSync(root, { recursive: true, force: true });
        return { dump: parseDump(d.stdout), verify: v };
      };
      const unit = LIBVIRT_UNITS[0];

      const removed = variant("removed", undefined);
      const r1 = afterOvs(removed.dump, unit);
      rec.expect(!r1.ok, `without the rendered drop-in, Debian's ${unit} is not ordered after Open vSwitch`, `${r1.detail}; verify rc ${removed.verify.status}`, true);

      const invertedText = original.replace(/^After=/gm, "Before=");
      const inverted = variant("inverted", invertedText);
      const r2 = afterOvs(inverted.dump, unit);
      rec.expect(!r2.ok && /Before: /.test(r2.detail), `an inverted drop-in (Before= instead of After=) is caught in the dump`, r2.detail, true);
      const cycle = inverted.verify.stderr.split("\n").filter((l) => /ordering cycle|cyclic/i.test(l));
      rec.expect(
        inverted.verify.status !== 0 && cycle.length > 0,
        `systemd-analyze verify finds the ordering cycle an inverted drop-in makes`,
        `rc ${inverted.verify.status}: ${cycle.slice(0, 4).join(" | ") || inverted.verify.stderr.trim().slice(0, 400) || "no stderr"}`,
        true,
      );

      const typo = variant("unknown-key", original.replace(/^After=/m, "Afterr="));
      rec.expect(
        typo.verify.stderr.trim() !== "",
        `an unknown key in the drop-in (Afterr=) shows on stderr, which fails the clean-verify rule`,
        `rc ${typo.verify.status} (systemd only warns): ${typo.verify.stderr.trim().split("\n").slice(0, 3).join(" | ") || "no stderr"}`,
        true,
      );
    }
  },
};
