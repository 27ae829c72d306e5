/**
 * Desired-state comparison (review/compare.ts): unified diffs as GNU diff prints
 * them, what config changes do to hosts and resources, snapshots of git refs,
 * and that no secret value ever reaches a snapshot or a change set.
 */
import { execFileSync } from "child_process";
import { generateKeyPairSync } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderDocument, type DocEntry } from "../formats/document";
import { PLACEHOLDER_SECRETS, PROJECT_DIR, readStackFile, type Evaluation, type StackFile } from "../review/evaluate";
import { UNKNOWN } from "../formats/pulumiWire";
import {
  compareSnapshots,
  groupHostChanges,
  snapshotAtRef,
  snapshotFromEvaluation,
  snapshotOfDir,
  snapshotOfStack,
  unifiedDiff,
  UNKNOWN_DISPLAY,
  type SnapshotResource,
  type StackSnapshot,
} from "../review/compare";
import { APT_PINS } from "../facts/paths";
import { runStack, type Change } from "./helpers/program";
import { copyProject, removeProjects } from "./helpers/project";
import { cellChangeLines, changeText, restartLines } from "../review/reportFormat";
import { cellReports, compareCells } from "../review/report";
import { IOPS_PER_BOOT } from "../facts/bootStorm";

const NOVA_CONF = "/etc/nova/nova.conf";

async function snap(stack: string, opts: { changes?: Change[]; stackFile?: StackFile; source?: string } = {}): Promise<StackSnapshot> {
  const ev = await runStack(stack, { preview: true, changes: opts.changes, stackFile: opts.stackFile });
  return snapshotFromEvaluation(ev, opts.source ?? "test");
}

function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The content lines of a unified diff ("-x"/"+x", not the ---/+++ headers). */
const diffLines = (diff: string, sign: "-" | "+") => diff.split("\n").filter((l) => l.startsWith(sign) && !l.startsWith(sign.repeat(3)));

// ------------------------------------------------------------------ unifiedDiff

describe("unifiedDiff", () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir("vdi-diff-test-")));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** GNU diffutils' `diff -u`, with labels instead of names and timestamps. */
  function gnuDiff(a: string, b: string, context: number): string {
    fs.writeFileSync(path.join(dir, "a"), a);
    fs.writeFileSync(path.join(dir, "b"), b);
    try {
      return execFileSync("diff", [`-U${context}`, "--label", "a/f", "--label", "b/f", path.join(dir, "a"), path.join(dir, "b")], { encoding: "utf8" });
    } catch (e) {
      const err = e as { status?: number; stdout?: string };
      if (err.status === 1) return err.stdout ?? "";
      throw e;
    }
  }

  const conf = (ratio: string, extra: string[] = []) =>
    [
      "[DEFAULT]",
      "compute_driver = libvirt.LibvirtDriver",
      "state_path = /var/lib/nova",
      "cpu_allocation_ratio = 1.5",
      `ram_allocation_ratio = ${ratio}`,
      "disk_allocation_ratio = 1.0",
      ...extra,
      "",
      "[libvirt]",
      "virt_type = kvm",
      "",
      "[compute]",
      "max_concurrent_disk_ops = 2",
      "",
    ].join("\n") + "\n";
  const numbered = (n: number, edit: (lines: string[]) => void = () => {}) => {
    const lines = Array.from({ length: n }, (_, i) => `line ${i + 1}`);
    edit(lines);
    return lines.map((l) => l + "\n").join("");
  };

  const pairs: Array<[string, string, string, number?]> = [
    ["one changed line", conf("1.2"), conf("1.1")],
    ["lines added inside a section", conf("1.2"), conf("1.2", ["reserved_host_memory_mb = 32768", "reserved_host_cpus = 0"])],
    ["a section removed", conf("1.2"), conf("1.2").replace("[libvirt]\nvirt_type = kvm\n\n", "")],
    ["insert at the start", numbered(10), "new first\n" + numbered(10)],
    ["append at the end", numbered(10), numbered(10) + "new last\n"],
    ["two far-apart hunks", numbered(40, (l) => ((l[3] = "four"), (l[30] = "thirty-one"))), numbered(40)],
    ["changes 6 lines apart merge into one hunk", numbered(30), numbered(30, (l) => ((l[5] = "x"), (l[12] = "y")))],
    ["changes 7 lines apart stay two hunks", numbered(30), numbered(30, (l) => ((l[5] = "x"), (l[13] = "y")))],
    ["ambiguous blank-line insertion", "a\n\nb\n\nc\n", "a\n\nb\n\n\nc\n"],
    ["repeated block inserted", "x\n}\n\ny\n}\n\nz\n", "x\n}\n\nnew\n}\n\ny\n}\n\nz\n"],
    ["no newline at end, on one side", "a\nb\nc", "a\nb\nc\n"],
    ["no newline at end, both sides", "a\nb\nc", "a\nB\nc"],
    ["from empty", "", "a\nb\n"],
    ["to empty", "a\nb\n", ""],
    ["no context", numbered(20, (l) => (l[9] = "ten")), numbered(20), 0],
    ["wide context", numbered(30, (l) => ((l[5] = "x"), (l[20] = "y"))), numbered(30), 5],
    ["reordered lines", "a\nb\nc\nd\ne\n", "b\na\nc\ne\nd\n"],
  ];

  test.each(pairs)("%s: same output as diff -u", (_name, a, b, context = 3) => {
    const expected = gnuDiff(a, b, context);
    expect(expected).not.toBe(""); // positive control: the texts differ
    expect(unifiedDiff(a, b, "a/f", "b/f", context)).toBe(expected);
  });

  test("same output as diff -u on 150 generated config edits (seeded)", () => {
    let seed = 20261001;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const int = (n: number) => Math.floor(rnd() * n);
    let compared = 0;
    for (let t = 0; t < 150; t++) {
      const a = Array.from({ length: 5 + int(120) }, (_, i) => (rnd() < 0.2 ? "" : rnd() < 0.1 ? `[section${i % 5}]` : `key_${int(30)} = ${int(4)}`));
      const b = a.slice();
      for (let e = 0, edits = 1 + int(6); e < edits; e++) {
        const p = int(b.length + 1);
        const r = rnd();
        if (r < 0.35) b.splice(p, 1 + int(3));
        else if (r < 0.7) b.splice(p, 0, ...Array.from({ length: 1 + int(3) }, () => (rnd() < 0.4 ? "" : `key_${int(30)} = ${int(4)}`)));
        else b[p] = `key_${int(30)} = 9`;
      }
      const ta = a.join("\n") + "\n";
      const tb = b.join("\n") + "\n";
      const context = [3, 3, 0, 1][t % 4];
      const expected = gnuDiff(ta, tb, context);
      if (expected) compared++;
      expect({ t, diff: unifiedDiff(ta, tb, "a/f", "b/f", context) }).toEqual({ t, diff: expected });
    }
    expect(compared).toBeGreaterThan(100);
  });

  test("equal texts give no diff; memory stays linear on large inputs", () => {
    expect(unifiedDiff("a\n", "a\n", "x", "y")).toBe("");
    const big = numbered(20000);
    const edited = numbered(20000, (l) => {
      for (let i = 0; i < l.length; i += 100) l[i] = `edited ${i}`;
    });
    const d = unifiedDiff(big, edited, "a", "b");
    expect(diffLines(d, "-")).toHaveLength(200);
    expect(diffLines(d, "+")).toHaveLength(200);
  });
});

// ------------------------------------------------------------ compareSnapshots

describe("compareSnapshots on the program", () => {
  test("prod: one cell's RAM ratio changes nova.conf on exactly that cell's 60 hosts, in one group", async () => {
    const base = await snap("prod", { source: "base" });
    const head = await snap("prod", { changes: [["cells.1.overcommit", { ramAllocationRatio: 1.1 }]], source: "head" });
    const cs = compareSnapshots(base, head);
    expect(cs.base).toBe("base");
    expect(cs.head).toBe("head");
    expect(cs.hostsAdded).toEqual([]);
    expect(cs.hostsRemoved).toEqual([]);
    expect(cs.resources).toEqual([]);
    const cellB = Array.from({ length: 60 }, (_, i) => `cmp-b-${String(i + 1).padStart(3, "0")}`);
    expect(cs.hosts.map((h) => h.host)).toEqual(cellB);
    for (const h of cs.hosts) {
      expect(h.files.map((f) => [f.path, f.kind])).toEqual([[NOVA_CONF, "changed"]]);
      expect(diffLines(h.files[0].diff, "-")).toEqual(["-ram_allocation_ratio = 1.2"]);
      expect(diffLines(h.files[0].diff, "+")).toEqual(["+ram_allocation_ratio = 1.1"]);
      expect(h.packages).toEqual([]);
      expect(h.facts).toEqual([]);
      expect(h.units).toEqual([]);
      expect(h.credentialsChanged).toBe(false);
      expect(h.commandChanges).toEqual([]);
      expect(h.restarts).toEqual(["nova-compute.service"]);
    }
    expect(cs.restarts).toEqual([{ unit: "nova-compute.service", hosts: cellB }]);
    const groups = groupHostChanges(cs, head);
    expect(groups).toHaveLength(1);
    expect(groups[0].hosts).toEqual(cellB);
    expect(groups[0].change).toBe(cs.hosts[0]);
    // Identical snapshots: no change at all.
    expect(compareSnapshots(base, base)).toEqual({ base: "base", head: "base", hostsAdded: [], hostsRemoved: [], hosts: [], resources: [], restarts: [] });
  });

  test("prod, the review walkthrough: ten hosts into cell-b and RAM 1.3 — capacity, limit and settings per cell before and after, and what restarts", async () => {
    const base = await snap("prod", { source: "base" });
    const head = await snap("prod", {
      changes: [
        ["defaults.overcommit.ramAllocationRatio", 1.3],
        ["hosts.3.count", 70],
      ],
      source: "head",
    });
    const figures = { iopsPerBoot: IOPS_PER_BOOT, bootSecondsPerDesktop: 90 };
    const cellsOf = (s: StackSnapshot) => cellReports(s.resources.map((r) => ({ type: r.type, urn: r.urn, props: r.inputs as Record<string, unknown> })), figures);
    const cells = compareCells(cellsOf(base), cellsOf(head));
    expect(cells.map((c) => [c.cell, c.kind])).toEqual([
      ["cell-a", "changed"],
      ["cell-b", "changed"],
      ["cell-c", "changed"],
      ["cell-d", "changed"],
    ]);
    const lines = cellChangeLines(cells);
    // RAM 1.3 adds no capacity: CPU becomes the limit; cell-b grows by its ten hosts alone.
    expect(lines.filter((l) => !l.startsWith(" "))).toEqual([
      "cell-a: capacity 5760 → 5760 (±0), N+1 capacity 5664 → 5664 (±0), limited by ram → cpu",
      "cell-b: capacity 5760 → 6720 (+960), N+1 capacity 5664 → 6624 (+960), limited by ram → cpu",
      "cell-c: capacity 4800 → 4800 (±0), N+1 capacity 4704 → 4704 (±0), limited by ram → cpu",
      "cell-d: capacity 4800 → 4800 (±0), N+1 capacity 4704 → 4704 (±0), limited by ram → cpu",
    ]);
    expect(lines[1]).toBe("  changed: ram_allocation_ratio 1.2 → 1.3");
    expect(lines[2]).toMatch(/^  same: hosts 60, planned desktops 5000, .*cpu_allocation_ratio 1\.5, .*version set bookworm-2026-10, max_concurrent_builds 6, /);
    expect(lines[4]).toBe("  changed: hosts 60 → 70, N+1 headroom 664 → 1624, ram_allocation_ratio 1.2 → 1.3, boot waves 14 → 12, cold boot minutes 21 → 18");
    // Reverting the ratio: only cell-b changes, and the others say so in one line each.
    const revert = compareCells(cellsOf(base), cellsOf(await snap("prod", { changes: [["hosts.3.count", 70]] })));
    expect(cellChangeLines(revert).filter((l) => !l.startsWith("cell-b") && !l.startsWith(" "))).toEqual([
      "cell-a: unchanged (capacity 5760, N+1 capacity 5664, limited by ram)",
      "cell-c: unchanged (capacity 4800, N+1 capacity 4704, limited by ram)",
      "cell-d: unchanged (capacity 4800, N+1 capacity 4704, limited by ram)",
    ]);
    const cs = compareSnapshots(base, head);
    expect(cs.restarts).toEqual([{ unit: "nova-compute.service", hosts: cs.hosts.filter((h) => h.host.startsWith("cmp-")).map((h) => h.host) }]);
    expect(cs.restarts[0].hosts).toHaveLength(220);
    expect(restartLines(cs)).toEqual(["nova-compute.service on 220 hosts (cmp-a-001 … cmp-d-050 (220))", "10 new hosts converge from nothing (every service installed and started)"]);
    // A cell added or removed is listed with its figures, on one side.
    const gone = compareCells(cellsOf(base), cellsOf(base).filter((c) => c.cell !== "cell-d"));
    expect(cellChangeLines(gone).slice(-2)).toEqual(["cell-d (removed): capacity 4800, N+1 capacity 4704, limited by ram", expect.stringMatching(/^  hosts 50, planned desktops 4200, /)]);
  });

  describe("pr", () => {
    let base: StackSnapshot;
    let baseEv: Evaluation;
    beforeAll(async () => {
      baseEv = await runStack("pr", { preview: true });
      base = snapshotFromEvaluation(baseEv, "base");
    });

    test("a RAM ratio change: nova.conf of both compute hosts, one group", async () => {
      const head = await snap("pr", { changes: [["cells.0.overcommit", { ramAllocationRatio: 1.1 }]] });
      const cs = compareSnapshots(base, head);
      expect(cs.hosts.map((h) => [h.host, h.files.map((f) => f.path)])).toEqual([
        ["pr-cmp-01", [NOVA_CONF]],
        ["pr-cmp-02", [NOVA_CONF]],
      ]);
      expect(cs.hosts[0].files[0].diff).toContain("-ram_allocation_ratio = 1.2\n+ram_allocation_ratio = 1.1\n");
      expect(groupHostChanges(cs, head).map((g) => g.hosts)).toEqual([["pr-cmp-01", "pr-cmp-02"]]);
    });

    test("a host group added: the host is added, and the aggregate lists it", async () => {
      // The new host needs a pinned key: a known_hosts file with one more (generated) line.
      const dir = tmpDir("vdi-compare-kh-");
      try {
        const { publicKey } = generateKeyPairSync("ed25519");
        const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
        const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
        const blob = Buffer.concat([u32(11), Buffer.from("ssh-ed25519"), u32(32), raw]).toString("base64");
        const khFile = path.join(dir, "known_hosts");
        fs.writeFileSync(khFile, fs.readFileSync(path.join(PROJECT_DIR, "inventory/pr.known_hosts"), "utf8") + `pr-cmp-extra,10.40.0.41 ssh-ed25519 ${blob}\n`);
        const head = await snap("pr", {
          changes: [
            ["ssh.knownHostsFile", khFile],
            ["hosts.2", { name: "pr-cmp-extra", address: "10.40.0.41", roles: ["compute"], cell: "pr", hardwareProfile: "epyc-512g" }],
          ],
        });
        const cs = compareSnapshots(base, head);
        expect(cs.hostsAdded).toEqual(["pr-cmp-extra"]);
        expect(cs.hostsRemoved).toEqual([]);
        expect(cs.hosts).toEqual([]);
        expect(cs.resources).toEqual([
          {
            type: "openstack:compute/aggregateV2:AggregateV2",
            name: "pr-aggregate",
            kind: "changed",
            changes: [{ key: "hosts", from: ["pr-cmp-01", "pr-cmp-02"], to: ["pr-cmp-01", "pr-cmp-02", "pr-cmp-extra"] }],
          },
        ]);
        // And the other way round.
        const back = compareSnapshots(head, base);
        expect(back.hostsRemoved).toEqual(["pr-cmp-extra"]);
        expect(back.hostsAdded).toEqual([]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a version set change: the package and the apt pins file on the hosts that install it", async () => {
      const head = await snap("pr", { changes: [["versionSets.bookworm-2026-10.nova", "2:26.2.2-1~deb12u6"]] });
      const cs = compareSnapshots(base, head);
      expect(cs.resources).toEqual([]);
      expect(cs.hosts.map((h) => h.host)).toEqual(["pr-cmp-01", "pr-cmp-02"]); // the controller has no nova
      for (const h of cs.hosts) {
        expect(h.packages).toEqual([{ name: "nova-compute", from: "2:26.2.2-1~deb12u5", to: "2:26.2.2-1~deb12u6" }]);
        expect(h.files.map((f) => f.path)).toEqual([APT_PINS]);
        expect(diffLines(h.files[0].diff, "-")).toEqual(["-Pin: version 2:26.2.2-1~deb12u5"]);
        expect(diffLines(h.files[0].diff, "+")).toEqual(["+Pin: version 2:26.2.2-1~deb12u6"]);
        // an upgrade restarts what runs the package's code; the pins file restarts nothing
        expect(h.restarts).toEqual(["nova-compute.service"]);
      }
    });

    test("planned desktops: the aggregate's metadata and the network node's sizing fact, no compute host", async () => {
      const head = await snap("pr", { changes: [["cells.0.desktops", 120]] });
      const cs = compareSnapshots(base, head);
      // The network node's tables are sized for the desktops behind it (network-node-tables reads
      // the fact); the compute hosts' share is read from the aggregate, so they do not change.
      expect(cs.hosts.map((h) => [h.host, h.facts, h.files.length, h.packages.length])).toEqual([["pr-ctl-01", [{ key: "desktops_behind", from: "90", to: "120" }], 0, 0]]);
      expect(cs.resources).toEqual([
        { type: "openstack:compute/aggregateV2:AggregateV2", name: "pr-aggregate", kind: "changed", changes: [{ key: "metadata.vdi:planned_desktops", from: "90", to: "120" }] },
      ]);
    });

    test("no secret value reaches a snapshot or a change set, even when a credentials document changes", async () => {
      const sf = readStackFile("pr");
      const other = { ...sf, config: { ...sf.config, "vdi-fleet:rabbitmqPassword": "another-offline-password", "vdi-fleet:novaServicePassword": "another-offline-nova" } };
      const ev = await runStack("pr", { preview: true, stackFile: other });
      const head = snapshotFromEvaluation(ev, "head");
      const cs = compareSnapshots(base, head);
      // Every host's credentials changed (the transport URL carries the password), nothing else.
      expect(cs.hosts.map((h) => [h.host, h.credentialsChanged, h.files.length, h.commandChanges])).toEqual([
        ["pr-cmp-01", true, 0, []],
        ["pr-cmp-02", true, 0, []],
        ["pr-ctl-01", true, 0, []],
      ]);
      const secrets = [...Object.values(PLACEHOLDER_SECRETS), "another-offline-password", "another-offline-nova"];
      // Positive control: the raw evaluations do carry them (in secret wrappers).
      const raw = JSON.stringify([baseEv.resources, ev.resources]);
      for (const s of secrets) if (s.length < 60) expect(raw).toContain(JSON.stringify(s).slice(1, -1));
      const fragments = secrets.flatMap((s) => s.split("\n")).filter((f) => f.length >= 8);
      for (const text of [JSON.stringify(base), JSON.stringify(head), JSON.stringify(cs), JSON.stringify(groupHostChanges(cs, head))]) {
        for (const f of fragments) expect(text).not.toContain(f);
        expect(text).not.toMatch(/PRIVATE KEY|offline-placeholder|transport_url/);
      }
      // The snapshot still shows the (plain) documents, and the secrets as hashes.
      const conv = head.resources.find((r) => r.name === "pr-cmp-01-converge")!;
      expect((conv.inputs as Record<string, unknown>).stdin).toMatch(/^vdi-host-document 2\n/);
      const cred = head.resources.find((r) => r.name === "pr-cmp-01-credentials")!;
      expect((cred.inputs as Record<string, unknown>).stdin).toEqual({ "[secret]": expect.stringMatching(/^[0-9a-f]{12}$/) });
      expect((cred.inputs as Record<string, unknown>).connection).toEqual({ "[secret]": expect.stringMatching(/^[0-9a-f]{12}$/) });
    });
  });
});

// --------------------------------------------------------- synthetic snapshots

describe("compareSnapshots details", () => {
  const entries = (host: string, address: string, over: { ratio?: string; mode?: string; owner?: string; extraFile?: boolean; unit?: boolean; pkg?: boolean; fact?: string } = {}): DocEntry[] => [
    { kind: "fact", fact: { key: "cell", value: over.fact ?? "a", verify: false } },
    ...(over.pkg === false ? [] : [{ kind: "package" as const, name: "nova-compute", version: "1.0" }]),
    { kind: "file", file: { path: "/etc/nova/nova.conf", mode: over.mode ?? "0640", owner: "root", group: over.owner ?? "nova", content: `[DEFAULT]\nhost = ${host}\nmy_ip = ${address}\nram_allocation_ratio = ${over.ratio ?? "1.2"}\n`, actions: [{ kind: "restart", unit: "nova-compute.service" }] } },
    ...(over.extraFile ? [{ kind: "file" as const, file: { path: "/etc/extra", mode: "0644", owner: "root", group: "root", content: "x\n", actions: [] } }] : []),
    ...(over.unit === false ? [] : [{ kind: "enable" as const, unit: "vdi-ksm.service" }]),
    { kind: "needs", unit: "nova-compute.service", path: "/etc/nova/credentials.conf" },
  ];
  const command = (name: string, stdin: unknown, connection = "k"): SnapshotResource => ({
    urn: `urn:pulumi:t::vdi-fleet::command:remote:Command::${name}`,
    type: "command:remote:Command",
    name,
    inputs: { connection: { "[secret]": connection }, create: "bash", stdin },
  });
  const host = (name: string, address: string, over: Parameters<typeof entries>[2] = {}, cred = "c1", connection = "k"): SnapshotResource[] => [
    command(`${name}-converge`, renderDocument({ host: name, root: "/", entries: entries(name, address, over) })),
    command(`${name}-credentials`, { "[secret]": cred }, connection),
  ];
  const resource = (name: string, inputs: unknown): SnapshotResource => ({ urn: `urn:x::${name}`, type: "openstack:networking/router:Router", name, inputs });
  const snapshot = (source: string, resources: SnapshotResource[]): StackSnapshot => ({ stack: "t", source, resources });

  test("files by document order, mode/owner notes, packages, units, facts, credentials and command inputs", () => {
    const base = snapshot("b", [...host("h1", "10.0.0.1"), ...host("h2", "10.0.0.2"), ...host("h3", "10.0.0.3"), ...host("gone", "10.0.0.9")]);
    const head = snapshot("h", [
      ...host("h1", "10.0.0.1", { mode: "0600", owner: "root", extraFile: true }),
      ...host("h2", "10.0.0.2", { unit: false, pkg: false, fact: "b" }, "c2"),
      ...host("h3", "10.0.0.3", {}, "c1", "k2"),
      ...host("new", "10.0.0.8"),
    ]);
    const cs = compareSnapshots(base, head);
    expect(cs.hostsAdded).toEqual(["new"]);
    expect(cs.hostsRemoved).toEqual(["gone"]);
    const [h1, h2, h3] = cs.hosts;
    expect(cs.hosts.map((h) => h.host)).toEqual(["h1", "h2", "h3"]);
    expect(h1.files).toEqual([
      { path: "/etc/nova/nova.conf", kind: "changed", diff: "# mode 0640 -> 0600; owner root:nova -> root:root\n" },
      { path: "/etc/extra", kind: "added", diff: "--- /dev/null\n+++ b/etc/extra\n@@ -0,0 +1 @@\n+x\n" },
    ]);
    expect(h2.packages).toEqual([{ name: "nova-compute", from: "1.0" }]);
    expect(h2.units).toEqual([{ kind: "enable", unit: "vdi-ksm.service", change: "removed" }]);
    expect(h2.facts).toEqual([{ key: "cell", from: "a", to: "b" }]);
    expect(h2.credentialsChanged).toBe(true);
    expect(h2.files).toEqual([]);
    expect(h3).toMatchObject({ files: [], credentialsChanged: false, commandChanges: ["connection"] });
    // Removed files are reported too.
    const back = compareSnapshots(head, base);
    expect(back.hosts[0].files[1]).toEqual({ path: "/etc/extra", kind: "removed", diff: "--- a/etc/extra\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n" });
  });

  test("groups hosts whose changes differ only by their own name and addresses", () => {
    const names = ["c-01", "c-02", "c-03", "c-10"];
    const base = snapshot("b", names.flatMap((n, i) => host(n, `10.0.1.${i + 1}`)));
    const head = snapshot("h", names.flatMap((n, i) => host(n, `10.0.1.${i + 1}`, { ratio: n === "c-10" ? "1.0" : "1.1" })));
    const cs = compareSnapshots(base, head);
    expect(cs.hosts).toHaveLength(4);
    // The diffs show each host's own name and address as context...
    expect(cs.hosts[1].files[0].diff).toContain(" host = c-02\n my_ip = 10.0.1.2\n");
    // ...which grouping ignores; c-10's change differs.
    expect(groupHostChanges(cs, head).map((g) => g.hosts)).toEqual([["c-01", "c-02", "c-03"], ["c-10"]]);
  });

  test("resources: added, removed, changed key paths; unknown on both sides is equal", () => {
    const base = snapshot("b", [
      resource("r1", { name: "a", externalNetworkId: UNKNOWN, tags: { x: "1" } }),
      resource("r2", { name: "b", externalNetworkId: "net-1" }),
      resource("old", { name: "o" }),
    ]);
    const head = snapshot("h", [
      resource("r1", { name: "a", externalNetworkId: UNKNOWN, tags: { x: "2", y: "3" } }),
      resource("r2", { name: "b", externalNetworkId: UNKNOWN }),
      resource("new", { name: "n", password: { "[secret]": "abc" } }),
    ]);
    const cs = compareSnapshots(base, head);
    expect(cs.resources).toEqual([
      { type: "openstack:networking/router:Router", name: "new", kind: "added", changes: [{ key: "name", to: "n" }, { key: "password", to: { "[secret]": "abc" } }] },
      { type: "openstack:networking/router:Router", name: "old", kind: "removed", changes: [{ key: "name", from: "o" }] },
      { type: "openstack:networking/router:Router", name: "r1", kind: "changed", changes: [{ key: "tags.x", from: "1", to: "2" }, { key: "tags.y", to: "3" }] },
      { type: "openstack:networking/router:Router", name: "r2", kind: "changed", changes: [{ key: "externalNetworkId", from: "net-1", to: UNKNOWN_DISPLAY }] },
    ]);
  });
});

// ---------------------------------------------------------------- snapshotAtRef

describe("snapshotAtRef", () => {
  let repo: string;
  let tmpRoot: string;
  const savedTmp = process.env.TMPDIR;
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.invalid", ...args], { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  beforeAll(() => {
    // Every temporary directory of snapshotAtRef goes here, so the test can see that none is left.
    tmpRoot = fs.realpathSync(tmpDir("vdi-compare-test-"));
    // This checkout as it is (committed or not), then one commit on top.
    repo = copyProject();
    const file = path.join(repo, "Pulumi.pr.yaml");
    const yaml = fs.readFileSync(file, "utf8");
    expect(yaml).toContain("workload: windows-desktop, desktops: 90 }");
    fs.writeFileSync(file, yaml.replace("workload: windows-desktop, desktops: 90 }", "workload: windows-desktop, desktops: 150 }"));
    git("commit", "-q", "-am", "pr: 150 desktops");
    process.env.TMPDIR = path.join(tmpRoot, "tmp");
    fs.mkdirSync(process.env.TMPDIR);
  });

  afterAll(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    fs.rmSync(tmpRoot, { recursive: true, force: true });
    removeProjects();
  });

  // (ts-node keeps its compile cache there too: only ours count.)
  const leftovers = () => fs.readdirSync(path.join(tmpRoot, "tmp")).filter((f) => f.startsWith("vdi-"));

  test("the previous commit against the working tree shows the committed change", async () => {
    const base = await snapshotAtRef({ ref: "HEAD~1", stack: "pr", projectDir: repo });
    const head = await snapshotOfDir({ dir: repo, stack: "pr", source: "working tree" });
    const sha = git("rev-parse", "--short=7", "HEAD~1").trim();
    expect(base.source).toBe(`HEAD~1 (${sha})`);
    expect(base.stack).toBe("pr");
    expect(base.resources.length).toBe(head.resources.length);
    const cs = compareSnapshots(base, head);
    expect(cs).toEqual({
      base: `HEAD~1 (${sha})`,
      head: "working tree",
      hostsAdded: [],
      hostsRemoved: [],
      // The network node's sizing fact; its tables (the 1,024-entry floor for so few desktops) stay.
      hosts: [{ host: "pr-ctl-01", commandChanges: [], credentialsChanged: false, facts: [{ key: "desktops_behind", from: "90", to: "150" }], files: [], packages: [], units: [], restarts: [] }],
      resources: [{ type: "openstack:compute/aggregateV2:AggregateV2", name: "pr-aggregate", kind: "changed", changes: [{ key: "metadata.vdi:planned_desktops", from: "90", to: "150" }] }],
      restarts: [],
    });
    expect(leftovers()).toEqual([]);
  });

  test("a child evaluation gives the in-process snapshot (same code, config and mode)", async () => {
    const [child, inProcess] = [await snapshotOfStack({ stack: "pr" }), await snap("pr", { source: "stack pr" })];
    expect(child.source).toBe("stack pr");
    expect(child).toEqual(inProcess);
    expect(leftovers()).toEqual([]);
  });

  test("a ref without the stack file: no resources, and the source says so", async () => {
    const s = await snapshotAtRef({ ref: "HEAD", stack: "staging", projectDir: repo });
    expect(s.resources).toEqual([]);
    expect(s.source).toMatch(/^HEAD \([0-9a-f]{7}\), which has no Pulumi\.staging\.yaml/);
    expect(leftovers()).toEqual([]);
  });

  test("a ref that does not exist: a clear error naming it", async () => {
    await expect(snapshotAtRef({ ref: "no-such-branch", stack: "pr", projectDir: repo })).rejects.toThrow(/git ref "no-such-branch" does not exist/);
    await expect(snapshotAtRef({ ref: "--output=/tmp/x", stack: "pr", projectDir: repo })).rejects.toThrow(/bad git ref/);
    expect(leftovers()).toEqual([]);
  });

  test("a ref whose program fails: the program's message; a timeout kills the evaluation", async () => {
    const file = path.join(repo, "Pulumi.pr.yaml");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("desktops: 150 }", "desktops: -1 }"));
    git("commit", "-q", "-am", "pr: broken");
    const err = await snapshotAtRef({ ref: "HEAD", stack: "pr", projectDir: repo }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^stack "pr" of HEAD \([0-9a-f]{7}\) does not evaluate:\nfleet config has 1 problem:/);
    expect((err as Error).message).toMatch(/Pulumi\.pr\.yaml:\d+: cells\[0\]\(pr\)\.desktops = -1: must be ≥ 0/);
    expect((err as Error).message).not.toMatch(/\n\s+at /); // no stack trace
    await expect(snapshotAtRef({ ref: "HEAD~1", stack: "pr", projectDir: repo, timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms \(the evaluation was killed\)/);
    expect(leftovers()).toEqual([]);
  });
});

describe("a changed list, as a reviewer reads it", () => {
  const hosts = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `cmp-b-${String(from + i).padStart(3, "0")}`);
  test("an aggregate's host list: the members added and removed, folded, and the sizes", () => {
    expect(changeText({ from: hosts(1, 60), to: hosts(1, 70) })).toBe("+cmp-b-061 … cmp-b-070 (10) (60 → 70)");
    expect(changeText({ from: hosts(1, 60), to: [...hosts(2, 60), "cmp-b-099"] })).toBe("+cmp-b-099, −cmp-b-001 (60 → 60)");
    expect(changeText({ from: hosts(1, 3), to: hosts(1, 3).reverse() })).toBe("same members, new order (3 → 3)");
    expect(changeText({ from: ["a", "a", "b"], to: ["a", "b"] })).toBe("−a (3 → 2)");
  });
  test("anything else: from → to", () => {
    expect(changeText({ from: undefined, to: [1] })).toBe("(unset) → [1]");
    expect(changeText({ from: [{ start: "10.0.0.1" }], to: [] })).toBe('[{"start":"10.0.0.1"}] → []');
    expect(changeText({ from: 1.2, to: 1.3 })).toBe("1.2 → 1.3");
  });
});
