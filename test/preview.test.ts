/**
 * `npm run preview` run as a user runs it, in a copy of the project: prod
 * reports clean with the expected counts in every format, each unsafe config
 * exits non-zero naming the policy and the resource, --compare shows exactly
 * what a one-cell change does to hosts, config errors exit 2 with the path.
 */
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import Ajv from "ajv";
import { copyProject, removeProjects, runPreview, writeStack, type CliResult } from "./helpers/project";
import type { PreviewReport } from "../review/report";

let dir: string;
let prodText: CliResult;
let prodJson: PreviewReport;
let prodMd: string;

beforeAll(() => {
  dir = copyProject();
  prodText = runPreview(dir, ["--stack", "prod"]);
  const j = runPreview(dir, ["--stack", "prod", "--format", "json", "--out", "prod.json"]);
  expect(j.status).toBe(0);
  prodJson = JSON.parse(fs.readFileSync(path.join(dir, "prod.json"), "utf8"));
  const m = runPreview(dir, ["--stack", "prod", "--format", "md", "--out", "prod.md"]);
  expect(m.status).toBe(0);
  prodMd = fs.readFileSync(path.join(dir, "prod.md"), "utf8");
}, 600_000);

afterAll(removeProjects);

describe("prod", () => {
  test("exits 0 with the expected counts, capacity, waves and a clean policy verdict", () => {
    expect(prodText.status).toBe(0);
    const out = prodText.stdout;
    expect(out).toContain("Resources: 707 (220 compute hosts at 3 resources each, 6 other hosts)");
    expect(out).toMatch(/cell-a\s+60\s+5000\s+5760\s+5664\s+664/);
    expect(out).toMatch(/cell-c\s+50\s+4200\s+4800\s+4704\s+504/);
    expect(out).toContain("infrastructure: 6 rollout waves");
    expect(out).toContain("cell-a: 4 rollout waves");
    // "waves" alone never: boot waves (capacity) and rollout waves are different things.
    expect(out).toMatch(/boots\/host  boot waves  cold boot/);
    expect(out).not.toMatch(/(?<!boot |rollout |Rollout )waves?\b/);
    expect(out).toMatch(/Resources per cell:\n\s+cell-a\s+183 resources, 60 compute hosts/);
    expect(out).toContain("✅ vdi-fleet@v0.1.0 (local: policy)");
    expect(out.trimEnd().split("\n").pop()).toMatch(/^✔ prod: 707 resources, 226 hosts, no mandatory policy violation/);
  });

  test("stays quiet on a non-terminal (no progress escapes on stderr)", () => {
    expect(prodText.stderr).not.toMatch(/\x1b\[|\r/);
  });

  test("JSON validates against the schema in the repo", () => {
    const validate = ajv();
    expect(validate(prodJson) ? [] : validate.errors).toEqual([]);
    expect(prodJson.summary.resources).toBe(707);
    expect(prodJson.cells.map((c) => c.cell)).toEqual(["cell-a", "cell-b", "cell-c", "cell-d"]);
    // Boots per host: max_concurrent_builds 6 (below floor(1200/150) = 8); 84 desktops per host → 14 waves × 90 s.
    expect(prodJson.cells[0]).toMatchObject({ hosts: 60, plannedDesktops: 5000, capacityNPlusOne: 5664, concurrentBootsPerHost: 6, bootWavesPerHost: 14, coldBootMinutes: 21 });
    expect(prodJson.summary.perCell).toEqual([
      { cell: "cell-a", resources: 183, hosts: 60 },
      { cell: "cell-b", resources: 183, hosts: 60 },
      { cell: "cell-c", resources: 153, hosts: 50 },
      { cell: "cell-d", resources: 153, hosts: 50 },
    ]);
    expect(prodJson.verdict).toEqual({ ok: true, exitCode: 0, text: expect.stringContaining("✔ prod") });
  });

  test("Markdown is a PR comment: marker first, under 60,000 characters, long sections folded", () => {
    expect(prodMd.startsWith("<!-- vdi-fleet-preview -->\n")).toBe(true);
    expect(prodMd.length).toBeLessThan(60_000);
    expect(prodMd).toContain("<details>");
    expect(prodMd).toContain("| cell-a | az-a | 60 | 183 | 5000 |");
  });
});

const ajv = () => {
  const a = new Ajv({ allErrors: true, strict: false });
  return a.compile(JSON.parse(fs.readFileSync(path.join(__dirname, "..", "schemas", "preview-report.schema.json"), "utf8")));
};

/** Edits a file of the project copy for one test (a PR that breaks something the config cannot express). */
function patched<T>(file: string, from: string, to: string, run: () => T): T {
  const p = path.join(dir, file);
  const original = fs.readFileSync(p, "utf8");
  const { atime, mtime } = fs.statSync(p);
  if (!original.includes(from)) throw new Error(`${file} does not contain ${from}`);
  fs.writeFileSync(p, original.split(from).join(to));
  try {
    return run();
  } finally {
    // The source as it was, times included: the copy's build is current again (runPreview runs it).
    fs.writeFileSync(p, original);
    fs.utimesSync(p, atime, mtime);
  }
}

const unsafe: Array<[string, Array<[string, unknown]>, string, string]> = [
  ["RAM overcommit", [["defaults.overcommit.ramAllocationRatio", 1.5]], "ram-allocation-ratio", "pr-cmp-01-converge"],
  ["CPU overcommit", [["defaults.overcommit.cpuAllocationRatio", 4]], "cpu-allocation-ratio", "pr-cmp-02-converge"],
  ["KSM off", [["defaults.overcommit.ksm.enabled", false]], "ksm-with-ram-overcommit", "pr-cmp-01-converge"],
  ["reserved memory", [["defaults.overcommit.reservedHostMemoryMb", 512]], "reserved-host-memory", "pr-cmp-01-converge"],
  ["boot storm", [["defaults.bootStorm.maxConcurrentBuilds", 0]], "boot-storm-limits", "pr-cmp-01-converge"],
  ["RAID 0", [["hardwareProfiles.epyc-512g.instanceStorage.raidLevel", "raid0"]], "instance-storage-raid", "pr-cmp-01-converge"],
  ["bad dnsmasq version", [["versionSets.bookworm-2026-10.dnsmasq", "2.86-1"]], "package-deny-list", "pr-ctl-01-converge"],
  ["untested combination", [["versionSets.bookworm-2026-10.qemu", "1:7.2+dfsg-7+deb12u17"]], "tested-version-combination", "pr-cmp-01-converge"],
  ["RabbitMQ keepalive off", [["rabbitmq.keepalive.enabled", false]], "rabbitmq-tcp-keepalive", "pr-ctl-01-converge"],
  ["heartbeat off", [["rabbitmq.heartbeatSeconds", 0]], "amqp-heartbeat", "pr-ctl-01-converge"],
  ["unbound dnsmasq", [["networking.dhcp.extraDnsmasq.0.bind", "none"]], "dnsmasq-binding", "pr-ctl-01-converge"],
  ["N+1 capacity", [["cells.0.desktops", 150]], "cell-capacity-n-plus-one", "pr-aggregate"],
  ["disk overcommit", [["defaults.overcommit.diskAllocationRatio", 1.5]], "disk-allocation-ratio", "pr-cmp-01-converge"],
  ["libvirt below nova's minimum", [["versionSets.bookworm-2026-10.libvirt", "5.0.0-4"]], "nova-hypervisor-minimums", "pr-cmp-01-converge"],
];

/** Families the config cannot break: a PR changing the renderers or components would. */
const unsafeCode: Array<[string, string, string, string, string, string]> = [
  ["libvirt not ordered after OVS", "render/systemd.ts", "`After=${[...OVS_UNITS, CLEANUP_UNIT].join(\" \")}`", "`After=${CLEANUP_UNIT}`", "libvirt-ovs-ordering", "pr-cmp-01-converge"],
  ["pins below 1001", "render/host.ts", "Pin-Priority: 1001", "Pin-Priority: 500", "exact-package-pins", "pr-cmp-01-converge"],
  ["host key not pinned", "components/hostCommands.ts", "    hostKey: host.hostKey,\n", "", "ssh-host-key-pinned", "pr-cmp-01-converge"],
  ["credentials logged", "components/hostCommands.ts", 'logging: "none"', 'logging: "stdoutAndStderr"', "no-plaintext-secrets", "pr-cmp-01-credentials"],
];

// The code families the same way: every file patched at once, one preview.
describe("unsafe code: every family at once", () => {
  let r: CliResult;
  beforeAll(() => {
    const patchAll = (i: number): CliResult => (i === unsafeCode.length ? runPreview(dir, ["--stack", "pr"]) : patched(unsafeCode[i][1], unsafeCode[i][2], unsafeCode[i][3], () => patchAll(i + 1)));
    r = patchAll(0);
  });
  test("exits 1", () => expect(r.status).toBe(1));
  test.each(unsafeCode)("%s: names the policy and the resource", (_title, _file, _from, _to, policy, resource) => {
    expect(r.stdout).toMatch(new RegExp(`- \\[mandatory\\]  ${policy}  \\([^)]*${resource}[^)]*\\)`));
  });
});

test("violations print as pulumi preview prints them: level, policy and resources, then the description once, message lines indented", () => {
  writeStack(dir, "unsafe-shape", "pr", [["defaults.overcommit.ramAllocationRatio", 1.5]]);
  const r = runPreview(dir, ["--stack", "unsafe-shape"]);
  const lines = r.stdout.split("\n");
  const i = lines.findIndex((l) => /^ {8}- \[mandatory\]  ram-allocation-ratio  \([^)]*command:remote:Command: [^)]*pr-cmp-01-converge[^)]*\)$/.test(l));
  expect(i).toBeGreaterThan(0);
  expect(lines[i + 1]).toMatch(/^ {10}Blocks compute hosts whose ram_allocation_ratio/);
  expect(lines[i + 2]).toMatch(/^ {10}pr-cmp-01 \(cell pr\).*: .*ram_allocation_ratio = 1\.5/);
  expect(r.stdout.match(/Blocks compute hosts whose ram_allocation_ratio/g)).toHaveLength(1);
});

test("text output groups violations like Markdown: per policy the description once, the resources folded, each finding and its fix once; the fix names the line the value came from", () => {
  // The change, made where a user makes it: the default ratio in fleets/common.yaml.
  const common = path.join(dir, "fleets", "common.yaml");
  const prodFleet = path.join(dir, "fleets", "prod.yaml");
  const [commonText, prodText] = [fs.readFileSync(common, "utf8"), fs.readFileSync(prodFleet, "utf8")];
  const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;
  try {
    fs.writeFileSync(common, commonText.replace(/^( {4}ramAllocationRatio:) 1\.2\b/m, "$1 1.3"));
    const r = runPreview(dir, ["--stack", "prod"]);
    expect(r.status).toBe(1);
    const policies = r.stdout.slice(r.stdout.indexOf("\nPolicies:\n")).trimEnd().split("\n").slice(2);
    // 220 violations: the pack line, one header, the description, one finding, its fix, a blank line, the verdict.
    expect(policies[1]).toBe("        - [mandatory]  ram-allocation-ratio  (220 × command:remote:Command: cmp-a-001-converge … cmp-d-050-converge)");
    expect(policies[2]).toMatch(/^ {10}Blocks compute hosts whose ram_allocation_ratio/);
    expect(policies.slice(3, 5)).toEqual([
      "          cmp-a-001 (cell cell-a) … cmp-d-050 (cell cell-d) (220): /etc/nova/nova.conf [DEFAULT] ram_allocation_ratio = 1.3 is above the cap 1.2 (L2: windows-desktop memory overcommit cap)",
      `          Fix: set defaults.overcommit.ramAllocationRatio (fleets/common.yaml:${lineOf(commonText, "    ramAllocationRatio:")}) ≤ 1.2.`,
    ]);
    expect(policies).toHaveLength(7);
    expect(policies[6]).toMatch(/^✘ prod: 220 mandatory policy violations \(ram-allocation-ratio\)/);

    // A cell's own override is named where it is written; the others keep the default's line.
    fs.writeFileSync(prodFleet, prodText.replace(/(name: cell-b.*)desktops: 5000 }/, "$1desktops: 5000, overcommit: { ramAllocationRatio: 1.4 } }"));
    const o = runPreview(dir, ["--stack", "prod"]);
    const lines = o.stdout.split("\n");
    expect(lines).toContain(`          cmp-b-001 (cell cell-b) … cmp-b-060 (cell cell-b) (60): /etc/nova/nova.conf [DEFAULT] ram_allocation_ratio = 1.4 is above the cap 1.2 (L2: windows-desktop memory overcommit cap). Fix: set cells[1](cell-b).overcommit.ramAllocationRatio (fleets/prod.yaml:${lineOf(prodText, "name: cell-b")}) ≤ 1.2.`);
    expect(lines).toContain(`          cmp-a-001 (cell cell-a) … cmp-d-050 (cell cell-d) (160): /etc/nova/nova.conf [DEFAULT] ram_allocation_ratio = 1.3 is above the cap 1.2 (L2: windows-desktop memory overcommit cap). Fix: set defaults.overcommit.ramAllocationRatio (fleets/common.yaml:${lineOf(commonText, "    ramAllocationRatio:")}) ≤ 1.2.`);
  } finally {
    fs.writeFileSync(common, commonText);
    fs.writeFileSync(prodFleet, prodText);
  }
});

test("planned hosts (ten more in cell-b, no keys yet) are previewable; the deploy is blocked by the host-key policy, in one group with one fix", () => {
  writeStack(dir, "prod-planned", "prod", [["hosts.3.count", 70]]);
  const r = runPreview(dir, ["--stack", "prod-planned"]);
  expect(r.stderr).not.toMatch(/config has \d+ problem/);
  expect(r.status).toBe(1);
  const policies = r.stdout.slice(r.stdout.indexOf("\nPolicies:\n")).trimEnd().split("\n").slice(2);
  expect(policies[1]).toBe("        - [mandatory]  ssh-host-key-pinned  (20 × command:remote:Command: cmp-b-061-converge … cmp-b-070-credentials)");
  expect(policies[3]).toMatch(/^ {10}cmp-b-061-converge \(10\.20\.2\.71\) … cmp-b-070-credentials \(10\.20\.2\.80\) \(20\): its host key is not in inventory\/prod\.known_hosts yet \(a planned host\), so there is no key to pin$/);
  expect(policies[4]).toBe("          Fix: when the host is racked, from a trusted network: ssh-keyscan -t ed25519 <address> >> inventory/prod.known_hosts for each such host, verify the fingerprints out of band, and commit the file.");
  // The planned hosts are in the preview like the others: in the capacity and the rollout.
  expect(r.stdout).toMatch(/^ {2}cell-b +70 +5000 /m);
  expect(r.stdout.trimEnd().split("\n").pop()).toMatch(/^✘ prod-planned: 20 mandatory policy violations \(ssh-host-key-pinned\)/);
});

test("a prod stack with hundreds of violations still gives a complete Markdown report under 60,000 characters", () => {
  writeStack(dir, "prod-unsafe", "prod", [["defaults.overcommit.ramAllocationRatio", 1.5], ["defaults.bootStorm.maxConcurrentBuilds", 0]]);
  const r = runPreview(dir, ["--stack", "prod-unsafe", "--format", "md", "--out", "unsafe.md"]);
  expect(r.status).toBe(1);
  const md = fs.readFileSync(path.join(dir, "unsafe.md"), "utf8");
  expect(md.length).toBeLessThan(60_000);
  expect(md).toContain("### Capacity per cell");
  expect(md).toContain("folded by policy");
  expect(md.match(/<details>/g)?.length ?? 0).toBe(md.match(/<\/details>/g)?.length ?? 0);
});

// Every config-breakable family in one stack (one preview, not fourteen: each mandatory violation
// blocks on its own, and each is asserted by its policy and resource; policy.test.ts has each alone).
describe("unsafe config: every family at once", () => {
  let r: CliResult;
  beforeAll(() => {
    writeStack(dir, "unsafe-all", "pr", unsafe.flatMap(([, changes]) => changes));
    r = runPreview(dir, ["--stack", "unsafe-all"]);
  });
  test("exits 1 with the pack's verdict, as pulumi preview prints it", () => {
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("❌ vdi-fleet@v0.1.0 (local: policy)");
    expect(r.stdout.trimEnd().split("\n").pop()).toMatch(/^✘ unsafe-all: \d+ mandatory policy violations \(.*\) — pulumi up would be blocked$/);
  });
  test.each(unsafe)("%s: names the policy and the resource", (_title, _changes, policy, resource) => {
    expect(r.stdout).toMatch(new RegExp(`- \\[mandatory\\]  ${policy}  \\([^)]*${resource}[^)]*\\)`));
    expect(r.stdout.trimEnd().split("\n").pop()).toContain(policy);
  });
});

test("--compare in Markdown shows added and removed keys of OpenStack resources; --compare-stack works", () => {
  writeStack(dir, "prod", "prod", [["networking.tenantNetworks.0.allocationPools", [{ start: "10.100.0.10", end: "10.100.31.250" }]]]);
  const r = runPreview(dir, ["--stack", "prod", "--compare", "HEAD", "--format", "md", "--out", "pools.md"]);
  expect(r.status).toBe(0);
  expect(fs.readFileSync(path.join(dir, "pools.md"), "utf8")).toMatch(/`allocationPools` \(unset\) → /);
  const s = runPreview(dir, ["--stack", "pr", "--compare-stack", "lab", "--format", "md", "--out", "stacks.md"]);
  expect(s.status).toBe(0);
  const md = fs.readFileSync(path.join(dir, "stacks.md"), "utf8");
  expect(md).toContain("hosts added:");
  expect(md).toContain("hosts removed:");
  execFileSync("git", ["checkout", "--", "Pulumi.prod.yaml"], { cwd: dir });
});

test("a config error exits 2 and names the config path, in every format", () => {
  writeStack(dir, "bad", "pr", [["defaults.overcommit.ramAllocationRatio", "1.2"]]);
  const r = runPreview(dir, ["--stack", "bad"]);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/\n {2}1\. Pulumi\.bad\.yaml:\d+: defaults\.overcommit\.ramAllocationRatio = "1\.2": expected a number, got a string\. Fix: write it without quotes: 1\.2\n/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  // Printed once: on stderr (a terminal shows both streams).
  expect(r.stdout).toBe("");
  expect(r.stderr.match(/defaults\.overcommit\.ramAllocationRatio = "1\.2"/g)).toHaveLength(1);
  const md = runPreview(dir, ["--stack", "bad", "--format", "md", "--out", "bad.md"]);
  expect(md.status).toBe(2);
  expect(fs.readFileSync(path.join(dir, "bad.md"), "utf8")).toContain("ramAllocationRatio");
  const js = runPreview(dir, ["--stack", "bad", "--format", "json", "--out", "bad.json"]);
  expect(js.status).toBe(2);
  const validate = ajv();
  const body = JSON.parse(fs.readFileSync(path.join(dir, "bad.json"), "utf8"));
  expect(validate(body) ? [] : validate.errors).toEqual([]);
  expect(body.error).toContain("ramAllocationRatio");
});

test("a stack file that is not valid YAML is a config error: exit 2, its name and the place, once", () => {
  fs.writeFileSync(path.join(dir, "Pulumi.badyaml.yaml"), "config:\n  openstack:region: region-1\n  vdi-fleet:fleetFile: [fleets/prod.yaml\n");
  try {
    const r = runPreview(dir, ["--stack", "badyaml"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    // The line of the [ that is never closed (the yaml package notices it a line later), with a caret.
    expect(r.stderr).toBe("Pulumi.badyaml.yaml is not valid YAML: a [ that is never closed at line 3, column 24:\n\n  vdi-fleet:fleetFile: [fleets/prod.yaml\n                       ^\n");
    expect(r.stderr.match(/is not valid YAML/g)).toHaveLength(1);
    expect(r.stderr).not.toContain("preview failed");
  } finally {
    fs.rmSync(path.join(dir, "Pulumi.badyaml.yaml"));
  }
});

test("bad usage exits 2 with the usage", () => {
  const r = runPreview(dir, ["--stack", "nope"]);
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('no stack "nope"');
});

test("--compare: one ratio changed in one cell lists exactly that cell's hosts with a nova.conf diff and nothing else", () => {
  writeStack(dir, "prod", "prod", [["cells.1.overcommit", { ramAllocationRatio: 1.1 }]]);
  const r = runPreview(dir, ["--stack", "prod", "--compare", "HEAD", "--format", "json", "--out", "cmp.json"]);
  expect(r.status).toBe(0);
  const rep = JSON.parse(fs.readFileSync(path.join(dir, "cmp.json"), "utf8")) as PreviewReport;
  const validate = ajv();
  expect(validate(rep) ? [] : validate.errors).toEqual([]);
  const c = rep.changes!;
  expect(c.hostsAdded).toEqual([]);
  expect(c.hostsRemoved).toEqual([]);
  expect(c.resources).toEqual([]);
  expect(c.hosts.map((h) => h.host)).toEqual(Array.from({ length: 60 }, (_, i) => `cmp-b-${String(i + 1).padStart(3, "0")}`));
  for (const h of c.hosts) {
    expect(h.files.map((f) => f.path)).toEqual(["/etc/nova/nova.conf"]);
    expect(h.files[0].diff).toContain("-ram_allocation_ratio = 1.2\n+ram_allocation_ratio = 1.1");
    expect([h.packages, h.units, h.facts, h.credentialsChanged]).toEqual([[], [], [], false]);
  }
  expect(rep.changeGroups).toHaveLength(1);
  expect(c.restarts).toEqual([{ unit: "nova-compute.service", hosts: c.hosts.map((h) => h.host) }]);
  // cell-b alone changed: its RAM ratio (and with it its capacity) before and after; the others unchanged
  expect(rep.cellChanges!.map((x) => [x.cell, x.kind])).toEqual([
    ["cell-a", "unchanged"],
    ["cell-b", "changed"],
    ["cell-c", "unchanged"],
    ["cell-d", "unchanged"],
  ]);
  expect(rep.cellChanges![1].figures.filter((f) => f.changed).map((f) => f.key)).toEqual(expect.arrayContaining(["ram_allocation_ratio", "capacity"]));
  const md = runPreview(dir, ["--stack", "prod", "--compare", "HEAD", "--format", "md", "--out", "cmp.md"]);
  const text = fs.readFileSync(path.join(dir, "cmp.md"), "utf8");
  expect(md.status).toBe(0);
  expect(text).toContain("60 hosts: cmp-b-001 … cmp-b-060 (60)");
  expect(text).toContain("+ram_allocation_ratio = 1.1");
  expect(text).toContain("- nova-compute.service on 60 hosts (cmp-b-001 … cmp-b-060 (60))");
  expect(text).toMatch(/^cell-b: capacity \d+ → \d+ \(−\d+\), N\+1 capacity \d+ → \d+ \(−\d+\), limited by ram$/m);
  expect(text.length).toBeLessThan(60_000);
});
