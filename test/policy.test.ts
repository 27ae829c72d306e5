/**
 * The policy pack, run as the Pulumi CLI runs it, against the real program:
 * every policy passes the shipped stacks and fails an unsafe variant built
 * either from a modified stack config (evaluated under mocks) or, where the
 * config cannot express the unsafe setting, by editing the registered
 * resource's inputs. Violations must name the host/resource and the value.
 */
import { type Evaluation } from "../review/evaluate";
import { isSecretValue, plain } from "../formats/pulumiWire";
import { runStack, type Change } from "./helpers/program";
import { diagnose, editDocument, editFile, ofPolicy, pack, stopPack, unknown, withResource } from "./helpers/policy";
import type { PolicyDiagnostic } from "../review/analyzer";

const baseline: Record<string, Evaluation> = {};
const baseDiags: Record<string, PolicyDiagnostic[]> = {};

beforeAll(async () => {
  await pack();
  for (const s of ["pr", "prod", "lab"]) {
    baseline[s] = await runStack(s);
    baseDiags[s] = await diagnose(baseline[s]);
  }
}, 300_000);

afterAll(async () => {
  await pack().then((p) => p.configure({}));
  await stopPack();
});

describe("shipped stacks pass every policy", () => {
  test.each(["prod", "pr", "lab"])("%s: no violations at all", (s) => {
    expect(baseDiags[s].map((d) => `${d.policyName}: ${d.message}`)).toEqual([]);
  });
});

type Case = {
  policy: string;
  title: string;
  changes?: Change[];
  edit?: (ev: Evaluation) => Evaluation;
  level?: "mandatory" | "advisory";
  /** Substrings the violation message must contain (resource/host and value). */
  expect: string[];
};

const cmp = "pr-cmp-01-converge";
const ctl = "pr-ctl-01-converge";
const vs = "versionSets.bookworm-2026-10";

const cases: Case[] = [
  { policy: "ram-allocation-ratio", title: "ratio above the cap", changes: [["defaults.overcommit.ramAllocationRatio", 1.5]], expect: ["pr-cmp-01", "ram_allocation_ratio = 1.5", "cap 1.2"] },
  { policy: "ram-allocation-ratio", title: "ratio unset", changes: [["defaults.overcommit.ramAllocationRatio", undefined]], expect: ["pr-cmp-01", "ram_allocation_ratio is unset"] },
  { policy: "ram-allocation-ratio", title: "initial ratio unset (Zed default 1.5)", changes: [["defaults.overcommit.initialRamAllocationRatio", undefined]], expect: ["pr-cmp-02", "initial_ram_allocation_ratio is unset", "default 1.5"] },
  { policy: "cpu-allocation-ratio", title: "ratio above 2.0", changes: [["defaults.overcommit.cpuAllocationRatio", 3]], expect: ["pr-cmp-01", "cpu_allocation_ratio = 3", "cap 2"] },
  { policy: "cpu-allocation-ratio", title: "initial unset (Zed default 16.0)", changes: [["defaults.overcommit.initialCpuAllocationRatio", undefined]], expect: ["initial_cpu_allocation_ratio is unset", "default 16"] },
  { policy: "disk-allocation-ratio", title: "disk overcommitted", changes: [["defaults.overcommit.diskAllocationRatio", 1.5]], expect: ["pr-cmp-01", "disk_allocation_ratio = 1.5"] },
  { policy: "ksm-with-ram-overcommit", title: "KSM off with RAM 1.2", changes: [["defaults.overcommit.ksm.enabled", false]], expect: ["pr-cmp-01", "ram_allocation_ratio 1.2", "KSM run=0"] },
  { policy: "reserved-host-memory", title: "nova's 512 MiB", changes: [["defaults.overcommit.reservedHostMemoryMb", 512]], expect: ["pr-cmp-01", "reserved_host_memory_mb = 512", "below 30311"] },
  { policy: "boot-storm-limits", title: "unlimited builds", changes: [["defaults.bootStorm.maxConcurrentBuilds", 0]], expect: ["pr-cmp-01", "max_concurrent_builds = 0"] },
  { policy: "boot-storm-limits", title: "unlimited disk ops", changes: [["defaults.bootStorm.maxConcurrentDiskOps", 0]], expect: ["pr-cmp-01", "max_concurrent_disk_ops"] },
  { policy: "boot-storm-limits", title: "more boots than the IOPS budget", changes: [["defaults.bootStorm.maxConcurrentBuilds", 20]], expect: ["pr-cmp-01", "max_concurrent_builds = 20", "floor(1200 IOPS / 150 IOPS per boot) = 8"] },
  { policy: "boot-storm-limits", title: "guests resumed at host boot", changes: [["defaults.bootStorm.resumeGuestsStateOnHostBoot", true]], expect: ["pr-cmp-02", "resume_guests_state_on_host_boot = true"] },
  { policy: "boot-storm-limits", title: "libvirt-guests starts all at once", changes: [["defaults.bootStorm.libvirtGuests.onBoot", "start"], ["defaults.bootStorm.libvirtGuests.startDelaySeconds", 0]], expect: ["pr-cmp-01", "ON_BOOT=start with START_DELAY=0"] },
  { policy: "instance-storage-raid", title: "single disk", changes: [["hardwareProfiles.epyc-512g.instanceStorage", { disks: 1, raidLevel: "none", hotSpares: 0, iopsBudget: 1200, sizeGb: 3840, device: "LABEL=vdi-instances" }]], expect: ["pr-cmp-01", "a single disk"] },
  { policy: "instance-storage-raid", title: "RAID 0", changes: [["hardwareProfiles.epyc-512g.instanceStorage.raidLevel", "raid0"]], expect: ["pr-cmp-01", "RAID 0 over 6 disks"] },
  {
    policy: "exact-package-pins",
    title: "pin priority below 1001 (edited document)",
    edit: (ev) => editDocument(ev, cmp, (d) => editFile(d, "/etc/apt/preferences.d/vdi-fleet.pref", (c) => c.replace(/Pin-Priority: 1001/g, "Pin-Priority: 500"))),
    expect: ["pr-cmp-01", "Pin-Priority 500"],
  },
  {
    policy: "exact-package-pins",
    title: "a package version that is not exact (edited document)",
    edit: (ev) =>
      editDocument(ev, cmp, (d) => {
        const p = d.entries.find((e) => e.kind === "package" && e.name === "qemu-system-x86");
        if (p && p.kind === "package") p.version = "latest";
      }),
    expect: ["pr-cmp-01", 'qemu-system-x86 has version "latest"'],
  },
  { policy: "package-deny-list", title: "dnsmasq 2.86", changes: [[`${vs}.dnsmasq`, "2.86-1"]], expect: ["pr-ctl-01", "dnsmasq-base 2.86-1 is on the deny list", "Launchpad bug #2026757"] },
  { policy: "package-deny-list", title: "kernel 6.1.64-1", changes: [[`${vs}.kernel`, "6.1.64-1"]], expect: ["pr-cmp-01", "linux-image-amd64 6.1.64-1", "#1057843"] },
  { policy: "nova-hypervisor-minimums", title: "libvirt below nova Zed's minimum", changes: [[`${vs}.libvirt`, "5.0.0-4"]], expect: ["pr-cmp-01", "libvirt-daemon-system 5.0.0-4 is below nova zed's MIN_LIBVIRT_VERSION 6.0.0"] },
  { policy: "nova-hypervisor-minimums", title: "unrecorded nova release", changes: [[`${vs}.nova`, "2:27.1.0-1"]], expect: ["pr-cmp-01", "2:27.1.0-1", "not recorded"] },
  { policy: "tested-version-combination", title: "a combination never soaked", changes: [[`${vs}.qemu`, "1:7.2+dfsg-7+deb12u17"]], expect: ["pr-cmp-01", "qemu 1:7.2+dfsg-7+deb12u17", "not a tested combination"] },
  {
    policy: "libvirt-ovs-ordering",
    title: "drop-in removed",
    edit: (ev) => editDocument(ev, cmp, (d) => (d.entries = d.entries.filter((e) => !(e.kind === "file" && e.file.path.startsWith("/etc/systemd/system/libvirtd.service.d/"))))),
    expect: ["pr-cmp-01", "libvirtd.service is not ordered After= Open vSwitch"],
  },
  {
    policy: "libvirt-ovs-ordering",
    title: "inverted drop-in",
    edit: (ev) => editDocument(ev, cmp, (d) => editFile(d, "/etc/systemd/system/libvirt-guests.service.d/10-vdi-after-ovs.conf", (c) => c.replace("After=", "Before="))),
    expect: ["pr-cmp-01", "libvirt-guests.service is ordered Before=openvswitch-switch.service"],
  },
  {
    policy: "libvirt-ovs-ordering",
    title: "cleanup unit not enabled",
    edit: (ev) => editDocument(ev, ctl, (d) => (d.entries = d.entries.filter((e) => !(e.kind === "enable" && e.unit === "vdi-ovs-stale-port-cleanup.service")))),
    expect: ["pr-ctl-01", "no enabled boot-time unit removes stale OVS ports"],
  },
  { policy: "rabbitmq-tcp-keepalive", title: "keepalive off", changes: [["rabbitmq.keepalive.enabled", false]], expect: ["pr-ctl-01", "tcp_listen_options.keepalive = false"] },
  { policy: "rabbitmq-tcp-keepalive", title: "keepalive slower than the firewall", changes: [["rabbitmq.keepalive.timeSeconds", 7200]], expect: ["pr-ctl-01", "tcp_keepalive_time 7200 + intvl 30 × probes 5 = 7350 s", "3600 s"] },
  { policy: "amqp-heartbeat", title: "broker heartbeat off", changes: [["rabbitmq.heartbeatSeconds", 0]], expect: ["pr-ctl-01", "heartbeat = 0 disables heartbeats"] },
  { policy: "amqp-heartbeat", title: "broker heartbeat too long", changes: [["rabbitmq.heartbeatSeconds", 120]], expect: ["pr-ctl-01", "heartbeat = 120 is outside 5–60 s"] },
  { policy: "amqp-heartbeat", title: "client heartbeats off", changes: [["rabbitmq.heartbeatTimeoutThreshold", 0]], expect: ["pr-cmp-01", "heartbeat_timeout_threshold = 0"] },
  { policy: "dnsmasq-binding", title: "dnsmasq below Neutron's minimum", changes: [[`${vs}.dnsmasq`, "2.66-3"]], expect: ["pr-ctl-01", "dnsmasq-base 2.66-3 is below Neutron's minimum 2.67"] },
  { policy: "dnsmasq-binding", title: "two instances, one unbound", changes: [["networking.dhcp.extraDnsmasq.1.bind", "none"]], expect: ["pr-ctl-01", "vdi-dnsmasq-ens3f1.service is one of 2 dnsmasq instances"] },
  {
    policy: "ssh-host-key-pinned",
    title: "connection without a host key",
    edit: (ev) =>
      withResource(ev, cmp, (r) => {
        const conn = r.inputs.connection as { value: Record<string, unknown> };
        delete conn.value.hostKey;
        return r;
      }),
    expect: ["pr-cmp-01-converge (10.40.0.21)", "pins no host key"],
  },
  {
    policy: "ssh-host-key-pinned",
    title: "a planned host (its key not in known_hosts yet)",
    changes: [["hosts.1.count", 3]],
    expect: ["pr-cmp-03-converge (10.40.0.23)", "its host key is not in inventory/pr.known_hosts yet (a planned host)", "ssh-keyscan -t ed25519 <address> >> inventory/pr.known_hosts"],
  },
  {
    policy: "ssh-host-key-pinned",
    title: "password login",
    edit: (ev) =>
      withResource(ev, cmp, (r) => {
        (r.inputs.connection as { value: Record<string, unknown> }).value.password = "hunter2hunter2";
        return r;
      }),
    expect: ["pr-cmp-01-converge (10.40.0.21)", "logs in with a password"],
  },
  {
    policy: "no-plaintext-secrets",
    title: "credentials command that logs",
    edit: (ev) =>
      withResource(ev, "pr-cmp-01-credentials", (r) => {
        r.inputs.logging = "stdoutAndStderr";
        return r;
      }),
    expect: ["pr-cmp-01-credentials", "logs its output (logging = stdoutAndStderr)"],
  },
  {
    policy: "no-plaintext-secrets",
    title: "credentials command without secret outputs",
    edit: (ev) => withResource(ev, "pr-ctl-01-credentials", (r) => ({ ...r, additionalSecretOutputs: [] })),
    expect: ["pr-ctl-01-credentials", "stdout/stderr are not marked secret"],
  },
  {
    policy: "no-plaintext-secrets",
    title: "a private key in a main document",
    edit: (ev) => editDocument(ev, cmp, (d) => editFile(d, "/etc/nova/nova.conf", (c) => `${c}# -----BEGIN OPENSSH PRIVATE KEY----- oops\n`)),
    expect: ["pr-cmp-01-converge", "input stdin holds a private key"],
  },
  {
    policy: "host-document-well-formed",
    title: "truncated document",
    edit: (ev) =>
      withResource(ev, cmp, (r) => {
        r.inputs.stdin = (r.inputs.stdin as string).replace(/end\n$/, "");
        return r;
      }),
    expect: ["pr-cmp-01-converge", "no \"end\" line"],
  },
  { policy: "apt-source-pinned", title: "a version set without an apt source", changes: [[`${vs}.aptSource`, undefined]], expect: ["pr-cmp-01", "version set bookworm-2026-10 names no apt source"] },
  {
    policy: "apt-source-pinned",
    title: "a source not signed by a shipped key (edited document)",
    edit: (ev) => editDocument(ev, ctl, (d) => editFile(d, "/etc/apt/sources.list.d/vdi-bookworm-2026-10.sources", (c) => c.replace(/^Signed-By: .*\n/m, ""))),
    expect: ["pr-ctl-01", "is not signed by a key the host is given (Signed-By: none)"],
  },
  { policy: "libvirt-guests-shutdown", title: "a shutdown timeout too short for the planned desktops", changes: [["defaults.bootStorm.libvirtGuests.shutdownTimeoutSeconds", 60]], expect: ["pr-cmp-01", "PARALLEL_SHUTDOWN=16, SHUTDOWN_TIMEOUT=60", "45 planned desktops need 3 rounds of 90 s = 270 s"] },
  {
    policy: "instance-storage-mounted",
    title: "the instance storage not mounted (edited document)",
    edit: (ev) => editDocument(ev, cmp, (d) => (d.entries = d.entries.filter((e) => !(e.kind === "enable" && e.unit === "var-lib-nova-instances.mount")))),
    expect: ["pr-cmp-01", "no enabled var-lib-nova-instances.mount"],
  },
  { policy: "network-node-tables", title: "a neighbour table too small for the desktops", changes: [["cells.0.desktops", 1000], ["networking.networkNodeLimits", { neighbourEntries: 1024 }]], expect: ["pr-ctl-01", "gc_thresh3 = 1024 is below 2000 (1000 desktops × 2)"] },
  { policy: "amqp-heartbeat-pair", title: "a client threshold above the broker's heartbeat", changes: [["rabbitmq.heartbeatTimeoutThreshold", 60], ["rabbitmq.heartbeatRate", 2]], expect: ["pr-cmp-01", "heartbeat_timeout_threshold = 60, heartbeat_rate = 2 with a broker heartbeat of 30", "up to 30 + 60/2 = 60 s"] },
  {
    policy: "rabbitmq-cluster-availability",
    title: "a cluster that ignores partitions (edited document)",
    edit: (ev) => editDocument(ev, ctl, (d) => editFile(d, "/etc/rabbitmq/rabbitmq.conf", (c) => `${c}cluster_formation.classic_config.nodes.1 = rabbit@pr-ctl-01\ncluster_formation.classic_config.nodes.2 = rabbit@pr-ctl-02\n`)),
    expect: ["pr-ctl-01", "clusters 2 brokers with cluster_partition_handling = ignore"],
  },
  {
    policy: "rabbitmq-cluster-availability",
    title: "classic queues with several brokers",
    changes: [["rabbitmq.quorumQueues", false]],
    edit: (ev) => editDocument(ev, cmp, (d) => d.entries.forEach((e) => e.kind === "fact" && e.fact.key === "brokers" && (e.fact.value = "3"))),
    expect: ["pr-cmp-01", "rabbit_quorum_queue is unset (false) with 3 brokers"],
  },
  { policy: "cell-capacity-n-plus-one", title: "more desktops than N+1 capacity", changes: [["cells.0.desktops", 150]], expect: ["cell pr", "150 planned desktops", "2 hosts hold 192, N+1 96", "limited by"] },
  { policy: "cpu-ratio-comfort", title: "CPU 1.8", changes: [["defaults.overcommit.cpuAllocationRatio", 1.8]], level: "advisory", expect: ["pr-cmp-01", "CPU overcommit 1.8"] },
  { policy: "ksm-shared-tenancy", title: "KSM across tenants", changes: [["workloads.windows-desktop.tenancy", "shared"]], level: "advisory", expect: ["pr-cmp-01", "tenancy: shared"] },
  { policy: "raid-hot-spare", title: "no hot spare", changes: [["hardwareProfiles.epyc-512g.instanceStorage.hotSpares", 0]], level: "advisory", expect: ["pr-cmp-01", "raid10 instance storage has no hot spare"] },
  {
    policy: "rabbitmq-listen-options",
    title: "keepalive without the defaults",
    level: "advisory",
    edit: (ev) => editDocument(ev, ctl, (d) => editFile(d, "/etc/rabbitmq/rabbitmq.conf", (c) => c.replace(/^tcp_listen_options\.(backlog|nodelay).*\n/gm, ""))),
    expect: ["pr-ctl-01", "tcp_listen_options.backlog, tcp_listen_options.nodelay"],
  },
];

describe.each(cases)("$policy: $title", (c) => {
  let diags: PolicyDiagnostic[] = [];
  beforeAll(async () => {
    let ev = c.changes ? await runStack("pr", { changes: c.changes }) : baseline.pr;
    if (c.edit) ev = c.edit(ev);
    diags = await diagnose(ev);
  });

  test("the policy reports it, naming the resource and the value", () => {
    const mine = ofPolicy(diags, c.policy);
    expect(mine.length).toBeGreaterThan(0);
    const hit = mine.find((d) => c.expect.every((s) => d.message.includes(s)));
    expect(hit ? c.expect : mine.map((d) => d.message)).toEqual(c.expect);
    expect(hit!.enforcementLevel).toBe(c.level ?? "mandatory");
    expect(hit!.message).toMatch(/Fix: .+\.$/);
  });

  test("the same policy passes the unmodified stack", () => {
    expect(ofPolicy(baseDiags.pr, c.policy)).toEqual([]);
  });
});

test("every policy has at least one failing case above", async () => {
  const info = await (await pack()).info();
  const covered = new Set(cases.map((c) => c.policy));
  expect(info.policies.map((p) => p.name).filter((n) => !covered.has(n))).toEqual([]);
});

describe("preview: unknown values neither crash a policy nor pass it", () => {
  test("a host document unknown at preview is reported as not checkable, for every host policy", async () => {
    const unsafe = await runStack("pr", { preview: true, changes: [["defaults.overcommit.ramAllocationRatio", 1.5]] });
    const ev = unknown(unsafe, cmp, "stdin");
    const ds = await diagnose(ev);
    const r = ev.resources.find((x) => x.name === cmp)!;
    const onIt = ds.filter((d) => d.urn === r.urn);
    // No mandatory verdict can be reached without the document: the SDK reports "can't run ... during preview".
    const names = onIt.filter((d) => /can't run policy '.*' .* during preview/.test(d.message)).map((d) => d.policyName);
    // Every resource policy reads the document, except the one that reads only the connection.
    const info = await (await pack()).info();
    const expected = info.policies.filter((p) => p.policyType === "resource" && p.name !== "ssh-host-key-pinned").map((p) => p.name);
    expect([...new Set(names)].sort()).toEqual(expected.sort());
    expect(onIt.every((d) => d.enforcementLevel === "advisory")).toBe(true);
    // The other compute host still fails (the policy did not wrongly pass everything).
    expect(ofPolicy(ds, "ram-allocation-ratio").some((d) => d.message.includes("pr-cmp-02"))).toBe(true);
  });

  test("the controller's document and a connection unknown at preview are not checkable either", async () => {
    const unsafe = await runStack("pr", { preview: true, changes: [["rabbitmq.keepalive.enabled", false]] });
    let ev = unknown(unsafe, ctl, "stdin");
    ev = unknown(ev, cmp, "connection");
    const ds = await diagnose(ev);
    const on = (name: string) => ds.filter((d) => d.urn === ev.resources.find((x) => x.name === name)!.urn);
    expect(on(ctl).filter((d) => d.policyName === "rabbitmq-tcp-keepalive").map((d) => d.enforcementLevel)).toEqual(["advisory"]);
    expect(on(ctl).find((d) => d.policyName === "rabbitmq-tcp-keepalive")!.message).toMatch(/during preview/);
    expect(on(cmp).find((d) => d.policyName === "ssh-host-key-pinned")!.message).toMatch(/can't run policy 'ssh-host-key-pinned' .* during preview/);
    expect(on(cmp).filter((d) => d.enforcementLevel === "mandatory")).toEqual([]);
  });

  test("unknown aggregate hosts make the capacity policy not checkable rather than pass", async () => {
    const ev = unknown(await runStack("pr", { preview: true, changes: [["cells.0.desktops", 150]] }), "pr-aggregate", "hosts");
    const ds = ofPolicy(await diagnose(ev), "cell-capacity-n-plus-one");
    expect(ds.length).toBeGreaterThan(0);
    expect(ds.every((d) => d.enforcementLevel === "advisory" && /during preview/.test(d.message))).toBe(true);
  });

  test("the real program in preview mode is judged like update mode", async () => {
    const ev = await runStack("pr", { preview: true });
    expect((await diagnose(ev)).map((d) => d.message)).toEqual([]);
  });
});

describe("thresholds and levels are configurable through policy config", () => {
  afterEach(async () => (await pack()).configure({}));

  test("a stricter cap turns the shipped stack into a violation; disabling a policy silences it", async () => {
    const p = await pack();
    await p.configure({ "ram-allocation-ratio": { caps: { "windows-desktop": 1.1 } } });
    // Two compute hosts, each with ram_allocation_ratio and initial_ram_allocation_ratio at 1.2 > 1.1.
    expect(ofPolicy(await diagnose(baseline.pr), "ram-allocation-ratio").length).toBe(4);
    await p.configure({ "ram-allocation-ratio": { enforcementLevel: "disabled", caps: { "windows-desktop": 1.1 } } });
    expect(ofPolicy(await diagnose(baseline.pr), "ram-allocation-ratio")).toEqual([]);
  });

  test("an advisory policy can be made mandatory; a soak requirement can be raised", async () => {
    const p = await pack();
    await p.configure({ "cpu-ratio-comfort": { enforcementLevel: "mandatory", comfortable: 1.2 }, "tested-version-combination": { minSoakHours: 500 } });
    const ds = await diagnose(baseline.pr);
    expect(ofPolicy(ds, "cpu-ratio-comfort").every((d) => d.enforcementLevel === "mandatory")).toBe(true);
    expect(ofPolicy(ds, "cpu-ratio-comfort").length).toBe(2);
    expect(ofPolicy(ds, "tested-version-combination")[0].message).toContain("soak lasted 336 h");
  });
});

describe("secrets reach the pack as the engine sends them", () => {
  test("the credentials document is secret on the wire and still judged", () => {
    const r = baseline.pr.resources.find((x) => x.name === "pr-cmp-01-credentials")!;
    expect(isSecretValue(r.inputs.stdin)).toBe(true);
    expect(plain(r.inputs.stdin)).toContain("transport_url");
  });
});
