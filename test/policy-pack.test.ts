/**
 * The policy pack as a whole, through the engine's protocol: what
 * GetAnalyzerInfo reports (meta-tests), the prod stack and an unsafe stack end
 * to end, and 1,000 generated malformed resources that must neither crash nor
 * hang any policy.
 */
import fc from "fast-check";
import { type RegisteredResource } from "../review/evaluate";
import { UNKNOWN, SECRET_SIG, SIG_KEY } from "../formats/pulumiWire";
import type { AnalyzerInfo } from "../review/analyzer";
import { runStack } from "./helpers/program";
import { diagnose, pack, stopPack } from "./helpers/policy";
import { loadCombinations, loadDenyList, parseCombinations, parseDenyList } from "../policy/support/data";

let info: AnalyzerInfo;
beforeAll(async () => {
  info = await (await pack()).info();
}, 120_000);
afterAll(stopPack);

describe("meta", () => {
  test("the pack is vdi-fleet with a version from its package.json", () => {
    expect(info.name).toBe("vdi-fleet");
    expect(info.version).toBe(require("../policy/package.json").version);
  });

  test("names are kebab-case and unique", () => {
    const names = info.policies.map((p) => p.name);
    for (const n of names) expect(n).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  test("descriptions are full sentences", () => {
    for (const p of info.policies) expect([p.name, p.description]).toEqual([p.name, expect.stringMatching(/^[A-Z][^\n]{20,}\.$/)]);
  });

  test("blocking rules are mandatory by default, warnings advisory", () => {
    const advisory = info.policies.filter((p) => p.enforcementLevel === "advisory").map((p) => p.name).sort();
    expect(advisory).toEqual(["cpu-ratio-comfort", "ksm-shared-tenancy", "rabbitmq-listen-options", "raid-hot-spare"]);
    expect(info.policies.filter((p) => p.enforcementLevel !== "advisory").every((p) => p.enforcementLevel === "mandatory")).toBe(true);
  });

  test("every threshold has a default and a description naming its lesson or fact", () => {
    for (const p of info.policies) {
      for (const [k, prop] of Object.entries(p.configSchema?.properties ?? {})) {
        const sch = prop as { default?: unknown; description?: string };
        expect([p.name, k, sch.default !== undefined]).toEqual([p.name, k, true]);
        expect([p.name, k, sch.description]).toEqual([p.name, k, expect.stringMatching(/L[1-8]|CTX\d+|Neutron|RabbitMQ|nova|ksm|KSM|Linux|Debian|OpenStack-Ansible/)]);
      }
    }
  });
});

describe("end to end through the Analyzer protocol", () => {
  test("prod: no violations", async () => {
    const ev = await runStack("prod");
    expect((await diagnose(ev)).map((d) => d.message)).toEqual([]);
  });

  test("an unsafe stack: each expected mandatory violation comes back with its policy name and level", async () => {
    const ev = await runStack("pr", {
      changes: [
        ["defaults.overcommit.ramAllocationRatio", 1.6],
        ["defaults.overcommit.cpuAllocationRatio", 4],
        ["defaults.overcommit.diskAllocationRatio", 2],
        ["defaults.overcommit.ksm.enabled", false],
        ["defaults.overcommit.reservedHostMemoryMb", 512],
        ["defaults.bootStorm.maxConcurrentBuilds", 0],
        ["hardwareProfiles.epyc-512g.instanceStorage.raidLevel", "raid0"],
        ["versionSets.bookworm-2026-10.dnsmasq", "2.86-1"],
        ["rabbitmq.keepalive.enabled", false],
        ["rabbitmq.heartbeatSeconds", 0],
        ["networking.dhcp.extraDnsmasq.0.bind", "none"],
        ["cells.0.desktops", 1000],
      ],
    });
    const ds = await diagnose(ev);
    const mandatory = new Set(ds.filter((d) => d.enforcementLevel === "mandatory").map((d) => d.policyName));
    expect([...mandatory].sort()).toEqual(
      expect.arrayContaining([
        "amqp-heartbeat",
        "boot-storm-limits",
        "cell-capacity-n-plus-one",
        "cpu-allocation-ratio",
        "disk-allocation-ratio",
        "dnsmasq-binding",
        "instance-storage-raid",
        "ksm-with-ram-overcommit",
        "package-deny-list",
        "rabbitmq-tcp-keepalive",
        "ram-allocation-ratio",
        "reserved-host-memory",
        "tested-version-combination",
      ]),
    );
    for (const d of ds) expect(d.policyPackName).toBe("vdi-fleet");
  });
});

describe("bad data: 1,000 generated resources through every policy", () => {
  const doc = () =>
    fc.oneof(
      fc.constant("vdi-host-document 2\nhost h\nroot /\nend\n"),
      fc.string().map((s) => `vdi-host-document 2\nhost x\nroot /\n${s}`),
      fc
        .array(
          fc.oneof(
            fc.constantFrom("fact roles compute", "fact ram_mb NaN", "fact cpus -1", "fact workload_kind windows-desktop", "package nova-compute latest", "package libvirt-daemon-system 9.0.0-4", "enable x.service", "needs a.service /x", "start b.service"),
            fc.tuple(fc.constantFrom("/etc/nova/nova.conf", "/etc/rabbitmq/rabbitmq.conf", "/etc/apt/preferences.d/vdi-fleet.pref", "/usr/local/lib/vdi/ksm-apply", "/etc/systemd/system/libvirtd.service.d/x.conf", "/etc/systemd/system/y.service"), fc.array(fc.oneof(fc.string(), fc.constantFrom("[DEFAULT]", "ram_allocation_ratio = x", "cpu_allocation_ratio = 99", "heartbeat = -1", "After=", "ExecStart=/usr/sbin/dnsmasq --conf-file=/nope", "RUN=7", "Pin-Priority: abc")), { minLength: 1, maxLength: 6 })).map(
              ([p, lines]) => `file ${p} 0644 root:root ${lines.length} -\n${lines.map((l) => l.replace(/\n/g, " ")).join("\n")}`,
            ),
          ),
          { maxLength: 12 },
        )
        .map((ls) => `vdi-host-document 2\nhost gen\nroot /\n${ls.join("\n")}\nend\n`),
    );
  const value = fc.oneof(fc.jsonValue(), fc.constant(UNKNOWN), fc.jsonValue().map((v) => ({ [SIG_KEY]: SECRET_SIG, value: v })));
  const resource = fc.record({
    type: fc.constantFrom("command:remote:Command", "openstack:compute/aggregateV2:AggregateV2", "openstack:compute/flavor:Flavor", "openstack:networking/network:Network", "random:module:Thing"),
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    stdin: fc.oneof(doc(), value),
    connection: fc.oneof(value, fc.record({ host: fc.string(), hostKey: fc.oneof(fc.string(), fc.constant("ssh-ed25519 AAAA"), fc.constant(UNKNOWN)), password: fc.oneof(fc.constant(undefined), fc.string()) })),
    metadata: fc.oneof(value, fc.dictionary(fc.constantFrom("vdi:planned_desktops", "vdi:flavor", "vdi:cell"), fc.oneof(fc.string(), fc.constant("99999")))),
    hosts: fc.oneof(value, fc.array(fc.string(), { maxLength: 5 })),
    extra: value,
  });

  test("no policy throws or hangs", async () => {
    const samples = fc.sample(resource, { numRuns: 1000, seed: 20261129 });
    const resources: RegisteredResource[] = samples.map((s, i) => ({
      urn: `urn:pulumi:gen::vdi-fleet::${s.type}::r${i}`,
      type: s.type,
      name: `${s.name}-${i}`,
      custom: true,
      parent: "",
      dependencies: [],
      additionalSecretOutputs: [],
      inputs: JSON.parse(JSON.stringify({ stdin: s.stdin, connection: s.connection, metadata: s.metadata, hosts: s.hosts, extra: s.extra, name: s.name, ram: 4096, vcpus: 2 })),
    }));
    const started = Date.now();
    const ds = await (await pack()).analyzeAll(resources);
    // A hang fails on the test's timeout; the time itself is printed, not asserted (a loaded machine is no defect).
    process.stdout.write(`1,000 generated resources through every policy: ${Date.now() - started} ms\n`);
    // Violations and "can't run during preview" notices are fine; an exception would have rejected above.
    // The generated documents reach the policies' judgement (not only "not applicable").
    const judged = new Set(ds.map((d) => d.policyName));
    expect(judged.size).toBeGreaterThanOrEqual(8);
    expect(ds.some((d) => d.policyName === "host-document-well-formed")).toBe(true);
  }, 120_000);
});

describe("the pack's data files are validated, each problem at its file and line", () => {
  test("the shipped data files load", () => {
    expect(loadDenyList().length).toBeGreaterThan(0);
    expect(loadCombinations().length).toBeGreaterThan(0);
  });

  test("a deny-list entry with both upstream and version, a bad operator and no source: every problem named", () => {
    const text = ["entries:", "  - package: dnsmasq-base", '    upstream: "< 2.67"', '    version: "= 2.67-1"', "    reason: x", "    source: y", "  - package: dnsmasq-base", '    upstream: "~ 2.86"', "    reason: x", ""].join("\n");
    expect(() => parseDenyList(text, "deny.yaml")).toThrow(
      [
        "deny.yaml is malformed:",
        "  deny.yaml:2: entries[0]: needs exactly one of upstream or version",
        '  deny.yaml:8: entries[1].upstream: expected "<op> <version>" with op one of < <= = >= >',
        "  deny.yaml:7: entries[1].source: Invalid input: expected string, received undefined",
      ].join("\n"),
    );
  });

  test("a tested combination with an unknown component and a version YAML reads as a number", () => {
    const text = ["combinations:", "  - id: x", "    versions:", "      kernal: 6.1.192-3", "      dnsmasq: 2.90", "    soak: { hours: 168, simulatedUsers: 10, failures: 0, date: 2026-10-19, workload: w, report: r }", ""].join("\n");
    let message = "";
    try {
      parseCombinations(text, "combos.yaml");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^combos\.yaml is malformed:/);
    expect(message).toMatch(/combos\.yaml:4: combinations\[0\]\.versions\.kernal: unknown key/);
    expect(message).toMatch(/combos\.yaml:5: combinations\[0\]\.versions\.dnsmasq: .*expected string/);
  });
});
