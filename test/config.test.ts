/**
 * Bad stack configs: the real program (index.ts) runs under Pulumi mocks with
 * the small `pr` stack, modified one way or another. Every bad config must
 * stop the program before it registers anything, with one error that names
 * the exact config path, shows the bad value and says how to fix it — and
 * never a stack trace.
 */
import { PLACEHOLDER_SECRETS, readStackFile, type Evaluation, type StackFile } from "../review/evaluate";
import { runStack, type Change } from "./helpers/program";
import { plain } from "../formats/pulumiWire";

const ROOT = "vdi-fleet:fleet";

interface BadConfig {
  /** What is wrong, for the test name. */
  what: string;
  changes: Change[];
  /** The config path the error must name, exactly as printed. */
  path: string;
  /** The bad value, exactly as printed after " = ". */
  value: string;
  /** A fragment (or pattern) of the problem's message. */
  message: string | RegExp;
}

/** The problem lines ("  N. <path> = <value>: <message>. Fix: <fix>") of an error. */
function problemLines(error: string): string[] {
  return error.split("\n").filter((l) => /^\s+\d+\. /.test(l));
}

/** The common promises of every config error. */
function expectCleanConfigError(ev: Evaluation): string {
  expect(ev.error).toBeDefined();
  const error = ev.error!;
  // No stack trace, no source positions.
  expect(error).not.toMatch(/^\s+at /m);
  expect(error).not.toMatch(/\.[jt]s:\d+/);
  expect(error).toMatch(/^fleet config has \d+ problems?:$/m);
  // Not half-built: nothing was registered before the error.
  expect(ev.resources.map((r) => `${r.type}::${r.name}`)).toEqual([]);
  expect(ev.resources.length).toBe(0);
  return error;
}

/** The one line for `path = value`, which must carry a message and a fix. */
function expectProblem(error: string, path: string, value: string, message: string | RegExp): string {
  const prefix = `${path} = ${value}: `;
  const lines = problemLines(error).filter((l) => l.includes(prefix));
  if (lines.length === 0) {
    throw new Error(`no problem "${prefix}…" in the error:\n${error}`);
  }
  const line = lines[0];
  expect(line).toMatch(/^ {2}\d+\. vdi-fleet:/);
  const rest = line.slice(line.indexOf(prefix) + prefix.length);
  if (typeof message === "string") expect(rest).toContain(message);
  else expect(rest).toMatch(message);
  expect(line).toMatch(/\. Fix: \S/);
  return line;
}

const controller = (name: string, address: string) => ({ name, address, roles: ["network"], hardwareProfile: "controller-256g" });

const cases: BadConfig[] = [
  {
    what: "a ratio given as a string",
    changes: [["cells.0.overcommit.ramAllocationRatio", "1.2"]],
    path: `${ROOT}.cells[0](pr).overcommit.ramAllocationRatio`,
    value: `"1.2"`,
    message: "expected a number, got a string",
  },
  {
    what: "negative reserved host memory",
    changes: [["cells.0.overcommit.reservedHostMemoryMb", -1024]],
    path: `${ROOT}.cells[0](pr).overcommit.reservedHostMemoryMb`,
    value: "-1024",
    message: "must be ≥ 0",
  },
  {
    // A host with no key at all is a planned host: not a config error (test "planned hosts" below).
    what: "a host with two different keys in the known_hosts file",
    changes: [["ssh.knownHostsFile", "test/fixtures/known_hosts/pr-two-keys"]],
    path: `${ROOT}.hosts[0](pr-ctl-01)`,
    value: `"pr-ctl-01"`,
    message: "2 different ssh-ed25519 keys for pr-ctl-01 in test/fixtures/known_hosts/pr-two-keys",
  },
  {
    // Regression: an empty string was once reported as "must be ≥ 1".
    what: "an empty known_hosts path",
    changes: [["ssh.knownHostsFile", ""]],
    path: `${ROOT}.ssh.knownHostsFile`,
    value: `""`,
    message: /empty|at least 1 character/,
  },
  {
    what: "a missing known_hosts file",
    changes: [["ssh.knownHostsFile", "inventory/missing.known_hosts"]],
    path: `${ROOT}.ssh.knownHostsFile`,
    value: `"inventory/missing.known_hosts"`,
    message: "file not found",
  },
  {
    what: "two host groups producing the same host name",
    changes: [["hosts.2", { name: "pr-cmp-{n:02}", start: 2, address: "10.40.0.30", roles: ["compute"], cell: "pr", hardwareProfile: "epyc-512g" }]],
    path: `${ROOT}.hosts[2](pr-cmp-{n:02}).name`,
    value: `"pr-cmp-02"`,
    message: "duplicate host name (also in hosts[1])",
  },
  {
    what: "overlapping address ranges",
    changes: [["hosts.2", controller("pr-net-02", "10.40.0.22")]],
    path: `${ROOT}.hosts[2](pr-net-02).address`,
    value: `"10.40.0.22"`,
    message: "overlap addresses of hosts[1] (10.40.0.21–10.40.0.22)",
  },
  {
    // Regression: a group without tunnelAddress tunnels from its SSH addresses; those
    // defaulted ranges must be checked for overlap too (else two hosts share a VXLAN endpoint).
    what: "a tunnel address range overlapping another group's (defaulted) tunnel addresses",
    changes: [["hosts.1.tunnelAddress", "10.40.0.11"]],
    path: `${ROOT}.hosts[1](pr-cmp-{n:02}).tunnelAddress`,
    value: `"10.40.0.11"`,
    message: "overlap",
  },
  {
    what: 'version "latest"',
    changes: [["versionSets.bookworm-2026-10.nova", "latest"]],
    path: `${ROOT}.versionSets["bookworm-2026-10"].nova`,
    value: `"latest"`,
    message: "not a version",
  },
  {
    what: 'a version range ">= 2.90"',
    changes: [["versionSets.bookworm-2026-10.dnsmasq", ">= 2.90"]],
    path: `${ROOT}.versionSets["bookworm-2026-10"].dnsmasq`,
    value: `">= 2.90"`,
    // Today: "a version must not contain spaces"; "ranges … are not allowed" would be better, either is clear.
    message: /a version must not contain spaces|ranges, operators and wildcards are not allowed/,
  },
  {
    what: 'a version range without spaces ">=2.90"',
    changes: [["versionSets.bookworm-2026-10.dnsmasq", ">=2.90"]],
    path: `${ROOT}.versionSets["bookworm-2026-10"].dnsmasq`,
    value: `">=2.90"`,
    message: "ranges, operators and wildcards are not allowed",
  },
  {
    what: 'a version with a wildcard "2.*"',
    changes: [["versionSets.bookworm-2026-10.qemu", "2.*"]],
    path: `${ROOT}.versionSets["bookworm-2026-10"].qemu`,
    value: `"2.*"`,
    message: "ranges, operators and wildcards are not allowed",
  },
  {
    what: "an unknown role",
    changes: [["hosts.0.roles", ["network", "messaging", "storage"]]],
    path: `${ROOT}.hosts[0](pr-ctl-01).roles[2]`,
    value: `"storage"`,
    message: 'not one of "compute", "network", "messaging"',
  },
  {
    what: "negative IOPS",
    changes: [["hardwareProfiles.epyc-512g.instanceStorage.iopsBudget", -1200]],
    path: `${ROOT}.hardwareProfiles["epyc-512g"].instanceStorage.iopsBudget`,
    value: "-1200",
    message: "must be ≥ 1",
  },
  {
    what: "zero IOPS budget",
    changes: [["hardwareProfiles.epyc-512g.instanceStorage.iopsBudget", 0]],
    path: `${ROOT}.hardwareProfiles["epyc-512g"].instanceStorage.iopsBudget`,
    value: "0",
    message: "must be ≥ 1",
  },
  {
    what: "zero boot IOPS per desktop",
    changes: [["workloads.windows-desktop.bootIopsPerDesktop", 0]],
    path: `${ROOT}.workloads["windows-desktop"].bootIopsPerDesktop`,
    value: "0",
    message: "must be ≥ 1",
  },
  {
    what: "a cell with no hosts",
    changes: [["cells.1", { name: "empty", availabilityZone: "az-empty", workload: "windows-desktop", desktops: 0 }]],
    path: `${ROOT}.cells[1](empty)`,
    value: `"empty"`,
    message: "the cell has no compute hosts",
  },
  {
    what: "an unknown key (typo)",
    changes: [["cells.0.overcommit.ramAllocatonRatio", 1.2]],
    path: `${ROOT}.cells[0](pr).overcommit.ramAllocatonRatio`,
    value: "1.2",
    message: 'unknown key "ramAllocatonRatio"',
  },
  {
    what: "a compute host without a cell",
    changes: [["hosts.1.cell", undefined]],
    path: `${ROOT}.hosts[1](pr-cmp-{n:02}).cell`,
    value: "(missing)",
    message: "compute hosts need a cell",
  },
  {
    what: "a compute host in an unknown cell",
    changes: [["hosts.1.cell", "pr-b"]],
    path: `${ROOT}.hosts[1](pr-cmp-{n:02}).cell`,
    value: `"pr-b"`,
    message: "no such cell",
  },
  {
    what: "an unknown workload",
    changes: [["cells.0.workload", "linux-desktop"]],
    path: `${ROOT}.cells[0](pr).workload`,
    value: `"linux-desktop"`,
    message: "no such workload",
  },
  {
    what: "an unknown hardware profile",
    changes: [["hosts.0.hardwareProfile", "xeon-1t"]],
    path: `${ROOT}.hosts[0](pr-ctl-01).hardwareProfile`,
    value: `"xeon-1t"`,
    message: "no such hardware profile",
  },
  {
    // Regression: zod's "invalid_key" issue must name the naming rule, not a generic fix.
    what: "a hardware profile name that is not a valid name",
    changes: [["hardwareProfiles.Epyc_Big", { ramMb: 2048, cpus: 1, instanceStorage: { disks: 1, raidLevel: "none", iopsBudget: 100, sizeGb: 100 } }]],
    path: `${ROOT}.hardwareProfiles.Epyc_Big`,
    value: `"Epyc_Big"`,
    message: "lower-case letters, digits and '-'",
  },
  {
    what: "raid10 with 3 disks",
    changes: [["hardwareProfiles.epyc-512g.instanceStorage.disks", 3]],
    path: `${ROOT}.hardwareProfiles["epyc-512g"].instanceStorage.disks`,
    value: "3",
    message: "raid10 needs at least 4 disks",
  },
  {
    what: "raid10 with an odd number of disks",
    changes: [["hardwareProfiles.epyc-512g.instanceStorage.disks", 5]],
    path: `${ROOT}.hardwareProfiles["epyc-512g"].instanceStorage.disks`,
    value: "5",
    message: "raid10 needs an even number of disks",
  },
  {
    what: 'raidLevel "none" with 2 disks',
    changes: [["hardwareProfiles.controller-256g.instanceStorage.raidLevel", "none"]],
    path: `${ROOT}.hardwareProfiles["controller-256g"].instanceStorage.disks`,
    value: "2",
    message: 'raidLevel "none" means one disk',
  },
  {
    what: "a provider network physnet without a bridge",
    changes: [["networking.providerNetwork.physnet", "physnet2"]],
    path: `${ROOT}.networking.providerNetwork.physnet`,
    value: `"physnet2"`,
    message: "no bridge maps this physnet",
  },
  {
    what: "a tenant network CIDR overlapping another tenant network",
    changes: [["networking.tenantNetworks.1", { name: "desktops-2", cidr: "10.100.16.0/20" }]],
    path: `${ROOT}.networking.tenantNetworks[1](desktops-2).cidr`,
    value: `"10.100.16.0/20"`,
    message: "overlaps tenantNetworks[0](desktops) (10.100.0.0/19)",
  },
  {
    what: "a tenant network CIDR overlapping the provider network",
    changes: [["networking.tenantNetworks.0.cidr", "203.0.113.0/25"], ["networking.tenantNetworks.0.gatewayIp", "203.0.113.1"]],
    path: `${ROOT}.networking.tenantNetworks[0](desktops).cidr`,
    value: `"203.0.113.0/25"`,
    message: "overlaps providerNetwork (203.0.113.0/24)",
  },
  {
    what: "a CIDR whose address has an octet above 255",
    changes: [["networking.tenantNetworks.0.cidr", "999.1.1.1/22"]],
    path: `${ROOT}.networking.tenantNetworks[0](desktops).cidr`,
    value: `"999.1.1.1/22"`,
    message: "must be an IPv4 CIDR like 10.100.0.0/22",
  },
  {
    what: "a CIDR with a prefix above 32",
    changes: [["networking.providerNetwork.cidr", "203.0.113.0/33"]],
    path: `${ROOT}.networking.providerNetwork.cidr`,
    value: `"203.0.113.0/33"`,
    message: "must be an IPv4 CIDR",
  },
  {
    what: "a host address with a leading zero",
    changes: [["hosts.0.address", "10.40.0.011"]],
    path: `${ROOT}.hosts[0](pr-ctl-01).address`,
    value: `"10.40.0.011"`,
    message: "must be an IPv4 address like 10.20.1.11",
  },
  {
    what: "a vlan provider network without a segmentationId",
    changes: [["networking.providerNetwork.type", "vlan"]],
    path: `${ROOT}.networking.providerNetwork.segmentationId`,
    value: "(missing)",
    message: "a vlan network needs a VLAN id",
  },
  {
    what: "a VLAN id above 4094",
    changes: [
      ["networking.providerNetwork.type", "vlan"],
      ["networking.providerNetwork.segmentationId", 5000],
    ],
    path: `${ROOT}.networking.providerNetwork.segmentationId`,
    value: "5000",
    message: "VLAN ids go up to 4094",
  },
  {
    what: "count > 1 without a {n} placeholder",
    changes: [["hosts.1.name", "pr-cmp"]],
    path: `${ROOT}.hosts[1](pr-cmp).name`,
    value: `"pr-cmp"`,
    message: "a group of 2 hosts needs a {n} placeholder in its name",
  },
];

describe("bad configs stop the program with a clear error and no resources", () => {
  test("the pr stack itself is valid (baseline)", async () => {
    const ev = await runStack("pr");
    expect(ev.error).toBeUndefined();
    expect(ev.resources.length).toBeGreaterThan(0);
  });

  test("the cases are distinct", () => {
    expect(cases.length).toBeGreaterThanOrEqual(18);
    expect(new Set(cases.map((c) => JSON.stringify(c.changes))).size).toBe(cases.length);
    expect(new Set(cases.map((c) => c.what)).size).toBe(cases.length);
  });

  test.each(cases)("$what", async ({ changes, path, value, message }) => {
    const ev = await runStack("pr", { changes });
    const error = expectCleanConfigError(ev);
    expectProblem(error, path, value, message);
  });
});

describe("several problems at once", () => {
  test("a host group whose names repeat an earlier group's: one problem for the group, and no follow-on about its cell", async () => {
    // prod: cell-b's 60 hosts named like cell-a's. Before: 60 identical lines, then "the cell has no compute hosts".
    const ev = await runStack("prod", { changes: [["hosts.3.name", "cmp-a-{n:03}"]] });
    const error = expectCleanConfigError(ev);
    expect(error).toMatch(/^fleet config has 1 problem:$/m);
    expect(problemLines(error)).toEqual([expect.stringContaining('hosts[3](cmp-a-{n:03}).name = "cmp-a-001 … cmp-a-060 (60 names)": duplicate host names (also in hosts[2])')]);
  });


  test("schema problems: all reported in one numbered error", async () => {
    const ev = await runStack("pr", {
      changes: [
        ["cells.0.overcommit.ramAllocationRatio", "1.2"],
        ["hardwareProfiles.epyc-512g.instanceStorage.iopsBudget", -5],
        ["versionSets.bookworm-2026-10.nova", "latest"],
      ],
    });
    const error = expectCleanConfigError(ev);
    expect(error).toMatch(/^fleet config has 3 problems:$/m);
    const lines = problemLines(error);
    expect(lines).toHaveLength(3);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^  ${i + 1}\\. vdi-fleet:fleet\\.`)));
    expectProblem(error, `${ROOT}.cells[0](pr).overcommit.ramAllocationRatio`, `"1.2"`, "expected a number");
    expectProblem(error, `${ROOT}.hardwareProfiles["epyc-512g"].instanceStorage.iopsBudget`, "-5", "must be ≥ 1");
    expectProblem(error, `${ROOT}.versionSets["bookworm-2026-10"].nova`, `"latest"`, "not a version");
  });

  test("cross-field problems: all reported in one numbered error", async () => {
    const ev = await runStack("pr", {
      changes: [
        ["cells.0.workload", "linux-desktop"],
        ["hosts.0.hardwareProfile", "xeon-1t"],
        ["networking.providerNetwork.physnet", "physnet2"],
      ],
    });
    const error = expectCleanConfigError(ev);
    expect(error).toMatch(/^fleet config has 3 problems:$/m);
    const lines = problemLines(error);
    expect(lines).toHaveLength(3);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^  ${i + 1}\\. vdi-fleet:fleet\\.`)));
    expectProblem(error, `${ROOT}.cells[0](pr).workload`, `"linux-desktop"`, "no such workload");
    expectProblem(error, `${ROOT}.hosts[0](pr-ctl-01).hardwareProfile`, `"xeon-1t"`, "no such hardware profile");
    expectProblem(error, `${ROOT}.networking.providerNetwork.physnet`, `"physnet2"`, "no bridge maps this physnet");
  });
});

describe("structure and cross-field problems together", () => {
  test("a wrong type in one section does not hide a broken reference or a missing host key in valid sections", async () => {
    const ev = await runStack("pr", {
      changes: [
        ["defaults.overcommit.ramAllocationRatio", "1.2"],
        ["cells.0.workload", "linux-desktop"],
        ["networking.providerNetwork.physnet", "physnet2"],
        ["ssh.knownHostsFile", "test/fixtures/known_hosts/pr-two-keys"],
      ],
    });
    const error = expectCleanConfigError(ev);
    expectProblem(error, `${ROOT}.defaults.overcommit.ramAllocationRatio`, `"1.2"`, "expected a number, got a string");
    expectProblem(error, `${ROOT}.cells[0](pr).workload`, `"linux-desktop"`, "no such workload");
    expectProblem(error, `${ROOT}.networking.providerNetwork.physnet`, `"physnet2"`, "no bridge maps this physnet");
    // The discovery host's key does not depend on the broken section: it is checked.
    expectProblem(error, `${ROOT}.controlPlane.cellDiscovery`, `"pr-api-01"`, "2 different ssh-ed25519 keys for pr-api-01 in test/fixtures/known_hosts/pr-two-keys");
    // Host checks need the defaults section (version sets), which is the broken one: they wait.
    expect(error).not.toMatch(/keys for pr-(ctl|cmp)/);
    expect(problemLines(error)).toHaveLength(4);
  });

  test("host checks run when the broken section is not one they need", async () => {
    const ev = await runStack("pr", {
      changes: [
        ["rabbitmq.heartbeatSeconds", "20"],
        ["ssh.knownHostsFile", "test/fixtures/known_hosts/pr-two-keys"],
      ],
    });
    const error = expectCleanConfigError(ev);
    expectProblem(error, `${ROOT}.rabbitmq.heartbeatSeconds`, `"20"`, "expected");
    expect(error).toContain("2 different ssh-ed25519 keys for pr-ctl-01");
  });

  test("planned hosts: a host whose key is not in the known_hosts file yet is not a config error; its connection carries the no-host-key marker", async () => {
    const ev = await runStack("pr", { changes: [["hosts.2", controller("pr-net-02", "10.40.0.99")]] });
    expect(ev.error).toBeUndefined();
    const planned = ev.resources.filter((r) => r.type === "command:remote:Command" && r.name.startsWith("pr-net-02-"));
    expect(planned.map((r) => r.name).sort()).toEqual(["pr-net-02-converge", "pr-net-02-credentials"]);
    for (const r of planned) expect((plain(r.inputs.connection) as { hostKey: string }).hostKey).toBe("no-host-key: inventory/pr.known_hosts");
    // The other hosts keep their pinned keys.
    const known = ev.resources.find((r) => r.name === "pr-cmp-01-converge")!;
    expect((plain(known.inputs.connection) as { hostKey: string }).hostKey).toMatch(/^ssh-ed25519 AAAA/);
  });
});

describe("secrets", () => {
  const KEY = "vdi-fleet:rabbitmqPassword";
  const secretValues = Object.values(PLACEHOLDER_SECRETS);

  const expectNoSecretValues = (error: string) => {
    for (const v of secretValues) expect(error).not.toContain(v);
    // Multi-line secrets (the SSH key) must not leak even in part.
    expect(error).not.toContain("PRIVATE KEY");
  };

  test("a missing secret is reported with its key and how to set it", async () => {
    const base = readStackFile("pr");
    expect(base.config[KEY]).toBe(PLACEHOLDER_SECRETS.rabbitmqPassword);
    const config = { ...base.config };
    delete config[KEY];
    const stackFile: StackFile = { config, secretKeys: base.secretKeys.filter((k) => k !== KEY) };
    const ev = await runStack("pr", { stackFile });
    const error = expectCleanConfigError(ev);
    const line = expectProblem(error, KEY, "(missing)", "required");
    expect(line).toContain("pulumi config set --secret rabbitmqPassword");
    expect(problemLines(error)).toHaveLength(1);
    expectNoSecretValues(error);
  });

  test("a secret stored in plaintext is reported as plaintext, without its value", async () => {
    const base = readStackFile("pr");
    const stackFile: StackFile = { config: { ...base.config }, secretKeys: base.secretKeys.filter((k) => k !== KEY) };
    expect(stackFile.config[KEY]).toBe(PLACEHOLDER_SECRETS.rabbitmqPassword);
    const ev = await runStack("pr", { stackFile });
    const error = expectCleanConfigError(ev);
    const line = expectProblem(error, KEY, "(plaintext, not shown)", "stored in plaintext");
    expect(line).toContain("pulumi config set --secret rabbitmqPassword");
    expect(problemLines(error)).toHaveLength(1);
    expectNoSecretValues(error);
  });

  test("secret and fleet problems are reported together", async () => {
    const base = readStackFile("pr");
    const config = { ...base.config };
    delete config[KEY];
    const stackFile: StackFile = { config, secretKeys: base.secretKeys.filter((k) => k !== KEY) };
    const ev = await runStack("pr", { stackFile, changes: [["cells.0.workload", "linux-desktop"]] });
    const error = expectCleanConfigError(ev);
    expect(problemLines(error)).toHaveLength(2);
    expectProblem(error, `${ROOT}.cells[0](pr).workload`, `"linux-desktop"`, "no such workload");
    expectProblem(error, KEY, "(missing)", "required");
    expectNoSecretValues(error);
  });
});

describe("long values", () => {
  const long = "x".repeat(500);

  test("a very long bad value is shown truncated", async () => {
    const ev = await runStack("pr", { changes: [["cells.0.overcommit.ramAllocationRatio", long]] });
    const error = expectCleanConfigError(ev);
    const path = `${ROOT}.cells[0](pr).overcommit.ramAllocationRatio`;
    const line = problemLines(error).find((l) => l.includes(`${path} = `));
    expect(line).toBeDefined();
    const shown = line!.slice(line!.indexOf(`${path} = `) + path.length + 3).split(": ")[0];
    expect(shown.length).toBeLessThanOrEqual(80);
    expect(shown).toMatch(/^"x+\.\.\.$/);
    expect(error).not.toContain(long);
    expect(error.length).toBeLessThan(400);
  });

  test("a very long bad host name is not echoed in full anywhere in the error", async () => {
    const name = "a".repeat(300);
    const ev = await runStack("pr", { changes: [["hosts.0.name", name]] });
    const error = expectCleanConfigError(ev);
    const line = problemLines(error).find((l) => l.includes("not a valid host name"));
    expect(line).toBeDefined();
    expect(line).toContain(`= "${"a".repeat(76)}...: not a valid host name`);
    // Regression: the path names the group by its name, which must be truncated too.
    expect(error).not.toContain(name);
  });
});
