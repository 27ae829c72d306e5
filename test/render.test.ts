/**
 * Rendered host files, checked by parsing them (INI, systemd, sysctl, apt
 * preferences, shell variables) and, for the shipped scripts, by running them
 * against stand-ins (a fake sysfs, a stub ovs-vsctl).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { docEnabled, docFacts, docFile, docPackages, parseDocument, type HostDocument } from "../formats/document";
import { iniGet, iniGetAll, parseIni } from "../formats/ini";
import { renderCredentialsDocument, renderHostDocument } from "../render/document";
import { loadStackFleet, TEST_SECRETS } from "./helpers/fleet";

const prod = loadStackFleet("prod");
const doc = (name: string, fleet = prod): HostDocument => parseDocument(renderHostDocument(fleet, fleet.hosts.find((h) => h.name === name)!));
const fileOf = (d: HostDocument, p: string) => {
  const f = docFile(d, p);
  if (!f) throw new Error(`${d.host} has no ${p}`);
  return f;
};
const ini = (d: HostDocument, p: string) => parseIni(fileOf(d, p).content);
const kv = (text: string) =>
  Object.fromEntries(
    text
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/\s*=\s*/, 2) as [string, string]),
  );

describe("compute host cmp-a-001", () => {
  const d = doc("cmp-a-001");
  const nova = ini(d, "/etc/nova/nova.conf");

  test("nova-compute.conf (read after nova.conf by Debian's init script) repeats nova.conf's driver and virt type, and nothing else", () => {
    const last = ini(d, "/etc/nova/nova-compute.conf");
    expect(iniGet(last, "libvirt", "virt_type")).toBe(iniGet(nova, "libvirt", "virt_type"));
    expect(iniGet(last, "DEFAULT", "compute_driver")).toBe(iniGet(nova, "DEFAULT", "compute_driver"));
    expect([...last.keys()].filter((k) => last.get(k)!.size > 0).sort()).toEqual(["DEFAULT", "libvirt"]);
    expect(fileOf(d, "/etc/nova/nova-compute.conf").actions).toEqual([{ kind: "restart", unit: "nova-compute.service" }]);
    const labHost = loadStackFleet("lab");
    const labNova = doc("lab-cmp-1", labHost);
    expect(iniGet(ini(labNova, "/etc/nova/nova-compute.conf"), "libvirt", "virt_type")).toBe("qemu");
  });

  test("nova.conf: explicit ratios and initial_* (L2, L4), reserved memory", () => {
    expect(iniGet(nova, "DEFAULT", "cpu_allocation_ratio")).toBe("1.5");
    expect(iniGet(nova, "DEFAULT", "ram_allocation_ratio")).toBe("1.2");
    expect(iniGet(nova, "DEFAULT", "disk_allocation_ratio")).toBe("1.0");
    expect(iniGet(nova, "DEFAULT", "initial_cpu_allocation_ratio")).toBe("1.5");
    expect(iniGet(nova, "DEFAULT", "initial_ram_allocation_ratio")).toBe("1.2");
    expect(iniGet(nova, "DEFAULT", "initial_disk_allocation_ratio")).toBe("1.0");
    expect(iniGet(nova, "DEFAULT", "reserved_host_memory_mb")).toBe("32768");
    expect(iniGet(nova, "DEFAULT", "host")).toBe("cmp-a-001");
    expect(iniGet(nova, "DEFAULT", "my_ip")).toBe("10.20.1.11");
  });

  test("nova.conf: boot-storm limits (L3)", () => {
    expect(iniGet(nova, "DEFAULT", "max_concurrent_builds")).toBe("6");
    expect(iniGet(nova, "compute", "max_concurrent_disk_ops")).toBe("2");
    expect(iniGet(nova, "DEFAULT", "resume_guests_state_on_host_boot")).toBe("false");
    expect(iniGet(nova, "DEFAULT", "use_cow_images")).toBe("true");
    expect(iniGet(nova, "image_cache", "precache_concurrency")).toBe("1");
  });

  test("nova.conf: oslo.messaging heartbeat (L7), no credentials", () => {
    expect(iniGet(nova, "oslo_messaging_rabbit", "heartbeat_timeout_threshold")).toBe("30");
    expect(iniGet(nova, "oslo_messaging_rabbit", "heartbeat_rate")).toBe("3");
    expect(iniGet(nova, "oslo_messaging_rabbit", "rabbit_quorum_queue")).toBe("true");
    expect(iniGet(nova, "DEFAULT", "transport_url")).toBeUndefined();
    expect(iniGet(nova, "placement", "password")).toBeUndefined();
  });

  test("unset ratios stay unset (nova's defaults then apply — for the policies to see)", () => {
    const f = loadStackFleet("prod", [["defaults.overcommit.ramAllocationRatio", undefined]]);
    const n = ini(doc("cmp-a-001", f), "/etc/nova/nova.conf");
    expect(iniGet(n, "DEFAULT", "ram_allocation_ratio")).toBeUndefined();
  });

  test("a cell override changes only that cell's nova.conf", () => {
    const f = loadStackFleet("prod", [["cells.1.overcommit", { ramAllocationRatio: 1.1 }]]);
    expect(iniGet(ini(doc("cmp-b-001", f), "/etc/nova/nova.conf"), "DEFAULT", "ram_allocation_ratio")).toBe("1.1");
    expect(iniGet(ini(doc("cmp-a-001", f), "/etc/nova/nova.conf"), "DEFAULT", "ram_allocation_ratio")).toBe("1.2");
    expect(iniGet(ini(doc("cmp-b-001", f), "/etc/nova/nova.conf"), "DEFAULT", "cpu_allocation_ratio")).toBe("1.5");
  });

  test("packages pinned exactly with priority 1001, installed and held (L1)", () => {
    const pkgs = docPackages(d);
    expect(pkgs.map((p) => p.name)).toEqual(["linux-image-amd64", "qemu-system-x86", "libvirt-daemon-system", "openvswitch-switch", "nova-compute", "neutron-openvswitch-agent"]);
    const pins = fileOf(d, "/etc/apt/preferences.d/vdi-fleet.pref").content.split("\n\n").filter((b) => b.includes("Package:"));
    const parsed = pins.map((b) => Object.fromEntries(b.split("\n").filter((l) => /^\w/.test(l)).map((l) => l.split(": ", 2) as [string, string])));
    expect(parsed).toEqual(pkgs.map((p) => ({ Package: p.name, Pin: `version ${p.version}`, "Pin-Priority": "1001" })));
    expect(pkgs.find((p) => p.name === "qemu-system-x86")!.version).toBe("1:7.2+dfsg-7+deb12u18+b3");
    // The pins are written before the packages are installed.
    const order = d.entries.map((e) => (e.kind === "file" ? e.file.path : e.kind));
    expect(order.indexOf("/etc/apt/preferences.d/vdi-fleet.pref")).toBeLessThan(order.indexOf("package"));
  });

  test("libvirtd and libvirt-guests start after and stop before Open vSwitch (L6)", () => {
    for (const unit of ["libvirtd.service", "libvirt-guests.service"]) {
      const f = fileOf(d, `/etc/systemd/system/${unit}.d/10-vdi-after-ovs.conf`);
      const u = parseIni(f.content);
      const after = iniGetAll(u, "Unit", "After").flatMap((v) => v.split(/\s+/));
      expect(after).toEqual(expect.arrayContaining(["openvswitch-switch.service", "ovsdb-server.service", "ovs-vswitchd.service", "vdi-ovs-stale-port-cleanup.service"]));
      expect(iniGet(u, "Unit", "Wants")).toBe("openvswitch-switch.service");
      expect(f.actions).toEqual([{ kind: "daemon-reload" }]);
    }
  });

  test("a boot-time stale-port cleanup runs before the OVS agent and nova-compute, and is enabled (L6)", () => {
    const u = parseIni(fileOf(d, "/etc/systemd/system/vdi-ovs-stale-port-cleanup.service").content);
    const before = iniGetAll(u, "Unit", "Before").flatMap((v) => v.split(/\s+/));
    expect(before).toEqual(expect.arrayContaining(["neutron-openvswitch-agent.service", "nova-compute.service", "libvirtd.service", "libvirt-guests.service"]));
    expect(iniGetAll(u, "Unit", "After").join(" ")).toContain("ovs-vswitchd.service");
    expect(iniGet(u, "Service", "Type")).toBe("oneshot");
    expect(iniGet(u, "Service", "ExecStart")).toBe("/usr/local/lib/vdi/ovs-stale-port-cleanup");
    expect(iniGet(u, "Install", "WantedBy")).toBe("multi-user.target");
    expect(docEnabled(d)).toEqual(expect.arrayContaining(["vdi-ovs-stale-port-cleanup.service", "vdi-ksm.service"]));
  });

  test("libvirt-guests does not start every guest at once at boot (L3) and is never restarted by a converge", () => {
    const f = fileOf(d, "/etc/default/libvirt-guests");
    expect(kv(f.content)).toEqual({ ON_BOOT: "ignore", START_DELAY: "20", ON_SHUTDOWN: "shutdown", PARALLEL_SHUTDOWN: "16", SHUTDOWN_TIMEOUT: "600" });
    expect(f.actions).toEqual([]);
  });

  test("OVS bridges and bridge_mappings; tunnel address", () => {
    const a = ini(d, "/etc/neutron/plugins/ml2/openvswitch_agent.ini");
    expect(iniGet(a, "ovs", "bridge_mappings")).toBe("physnet1:br-provider");
    expect(iniGet(a, "ovs", "local_ip")).toBe("10.30.1.11");
    const bridges = fileOf(d, "/usr/local/lib/vdi/ovs-bridges");
    expect(bridges.content).toContain("ovs-vsctl --timeout=60 --may-exist add-br br-provider -- --may-exist add-port br-provider ens2f1");
    // Packages start no daemons, so the script starts OVS first; it runs before the agent restarts.
    expect(bridges.content.indexOf("systemctl start openvswitch-switch.service")).toBeLessThan(bridges.content.indexOf("add-br"));
    expect(bridges.actions).toEqual([{ kind: "exec" }]);
  });

  test("TCP keepalive sysctls below the firewall idle timeout (L7)", () => {
    const f = fileOf(d, "/etc/sysctl.d/60-vdi-tcp-keepalive.conf");
    expect(kv(f.content)).toEqual({ "net.ipv4.tcp_keepalive_time": "600", "net.ipv4.tcp_keepalive_intvl": "30", "net.ipv4.tcp_keepalive_probes": "5" });
    expect(f.actions).toEqual([{ kind: "sysctl" }]);
  });

  test("declared facts for the policies; RAM and CPUs verified on the host", () => {
    expect(docFacts(d)).toMatchObject({ ram_mb: "524288", cpus: "128", numa_nodes: "2", storage_raid: "raid10", storage_iops_budget: "1200", cell: "cell-a", workload_kind: "windows-desktop" });
    const verified = d.entries.flatMap((e) => (e.kind === "fact" && e.fact.verify ? [e.fact.key] : []));
    expect(verified).toEqual(["ram_mb", "cpus"]);
  });
});

describe("daemons: started by the document, never by package installs; credentials first", () => {
  const needs = (d: HostDocument) => d.entries.flatMap((e) => (e.kind === "needs" ? [`${e.unit} ${e.path}`] : []));
  const starts = (d: HostDocument) => d.entries.flatMap((e) => (e.kind === "start" ? [e.unit] : []));
  test("compute: nova-compute and the OVS agent wait for their credentials; OVS, libvirt and nova run", () => {
    const d = doc("cmp-a-001");
    // The OVS agent reads agent.conf.d (Debian's init script passes --config-dir), not neutron.conf.d.
    expect(needs(d)).toEqual(["nova-compute.service /etc/nova/nova.conf.d/50-vdi-credentials.conf", "neutron-openvswitch-agent.service /etc/neutron/agent.conf.d/50-vdi-credentials.conf"]);
    expect(starts(d)).toEqual(["openvswitch-switch.service", "libvirtd.service", "nova-compute.service", "neutron-openvswitch-agent.service"]);
    expect(starts(d)).not.toContain("libvirt-guests.service");
  });
  test("network: every agent and our dnsmasq instances run; the broker waits for its users", () => {
    expect(starts(doc("net-01"))).toEqual(expect.arrayContaining(["neutron-dhcp-agent.service", "neutron-l3-agent.service", "neutron-metadata-agent.service", "vdi-dnsmasq-ens3f0.service"]));
    expect(needs(doc("mq-01"))).toEqual(["rabbitmq-server.service /etc/vdi/rabbitmq-users"]);
  });
});

describe("neutron agents", () => {
  test("keep Debian's rootwrap helper (the neutron user may only sudo neutron-rootwrap)", () => {
    const n = ini(doc("cmp-a-001"), "/etc/neutron/neutron.conf");
    expect(iniGet(n, "agent", "root_helper")).toBe("sudo neutron-rootwrap /etc/neutron/rootwrap.conf");
    expect(iniGet(n, "agent", "root_helper_daemon")).toBe("sudo neutron-rootwrap-daemon /etc/neutron/rootwrap.conf");
  });
  test("network nodes run the metadata agent, with the shared secret only in the credentials", () => {
    const d = doc("net-01");
    expect(docPackages(d).map((p) => p.name)).toContain("neutron-metadata-agent");
    const m = ini(d, "/etc/neutron/metadata_agent.ini");
    expect(iniGet(m, "DEFAULT", "nova_metadata_host")).toBe("nova-metadata.region-1.vdi.example.net");
    expect(iniGet(m, "DEFAULT", "metadata_proxy_shared_secret")).toBeUndefined();
    const host = prod.hosts.find((h) => h.name === "net-01")!;
    const c = parseDocument(renderCredentialsDocument(prod, host, TEST_SECRETS));
    expect(iniGet(parseIni(fileOf(c, "/etc/neutron/neutron.conf.d/50-vdi-credentials.conf").content), "DEFAULT", "metadata_proxy_shared_secret")).toBe("metadata-test-secret");
    const cc = parseDocument(renderCredentialsDocument(prod, prod.hosts.find((h) => h.name === "cmp-a-001")!, TEST_SECRETS));
    expect(fileOf(cc, "/etc/neutron/agent.conf.d/50-vdi-credentials.conf").content).not.toContain("metadata_proxy_shared_secret");
  });
  test("placement region defaults to the fleet's region", () => {
    expect(iniGet(ini(doc("cmp-a-001"), "/etc/nova/nova.conf"), "placement", "region_name")).toBe("region-1");
  });
});

describe("KSM (L2)", () => {
  const sysfs = (values: Record<string, string>) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ksm-"));
    for (const [k, v] of Object.entries(values)) fs.writeFileSync(path.join(dir, k), `${v}\n`);
    return dir;
  };
  const run = (script: string, dir: string) => spawnSync("sh", ["-c", script], { env: { PATH: process.env.PATH!, VDI_KSM_SYSFS: dir }, encoding: "utf8" });
  const read = (dir: string, k: string) => fs.readFileSync(path.join(dir, k), "utf8").trim();
  const script = fileOf(doc("cmp-a-001"), "/usr/local/lib/vdi/ksm-apply").content;

  test("enabled with merge_across_nodes=0 on a 2-NUMA host, applied at boot when nothing is shared", () => {
    const dir = sysfs({ run: "0", merge_across_nodes: "1", pages_shared: "0", pages_to_scan: "100", sleep_millisecs: "20" });
    const r = run(script, dir);
    expect(r.status).toBe(0);
    expect([read(dir, "run"), read(dir, "merge_across_nodes"), read(dir, "pages_to_scan")]).toEqual(["1", "0", "1000"]);
    fs.rmSync(dir, { recursive: true });
  });

  test("merge_across_nodes is left for the next boot while pages are shared (no unmerge storm)", () => {
    const dir = sysfs({ run: "1", merge_across_nodes: "1", pages_shared: "5000", pages_to_scan: "100", sleep_millisecs: "20" });
    const r = run(script, dir);
    expect(r.status).toBe(0);
    expect(read(dir, "merge_across_nodes")).toBe("1");
    expect(r.stderr).toContain("next boot");
    fs.rmSync(dir, { recursive: true });
  });

  test("single-NUMA hosts keep merge_across_nodes=1; disabled KSM writes run=0", () => {
    const lab = loadStackFleet("lab", [["defaults.overcommit.ksm.enabled", false]]);
    const s = fileOf(doc("lab-cmp-1", lab), "/usr/local/lib/vdi/ksm-apply").content;
    expect(s).toMatch(/^MERGE=1$/m);
    expect(s).toMatch(/^RUN=0$/m);
  });
});

describe("stale OVS port cleanup script (L6), against a stub ovs-vsctl", () => {
  test("removes only guest ports whose device is gone; keeps live and host ports", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ovs-"));
    const log = path.join(dir, "log");
    fs.writeFileSync(
      path.join(dir, "ovs-vsctl"),
      [
        "#!/bin/sh",
        `echo "$*" >> ${log}`,
        'case "$*" in',
        '  *"find Interface ofport=-1"*) printf "tapdead1\\ntapdead2\\neth9\\nqr-x\\n" ;;',
        '  *"get Interface qr-x external_ids:iface-id"*) echo "\\"port-uuid\\"" ;;',
        '  *"get Interface eth9 external_ids:iface-id"*) echo "" ;;',
        '  *"port-to-br"*) echo br-int ;;',
        "esac",
      ].join("\n"),
      { mode: 0o755 },
    );
    const script = fileOf(doc("cmp-a-001"), "/usr/local/lib/vdi/ovs-stale-port-cleanup").content;
    const r = spawnSync("sh", ["-c", script], { env: { PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8" });
    expect(r.status).toBe(0);
    const calls = fs.readFileSync(log, "utf8");
    expect(calls).toMatch(/set Open_vSwitch \. external_ids:vdi-stale-port-cleanup=/);
    expect(calls).not.toMatch(/--no-wait/);
    const deleted = [...calls.matchAll(/del-port br-int (\S+)/g)].map((m) => m[1]);
    expect(deleted).toEqual(["tapdead1", "tapdead2", "qr-x"]);
    expect(r.stdout).toContain("kept eth9");
    expect(r.stdout).toContain("removed 3 stale port(s)");
    fs.rmSync(dir, { recursive: true });
  });
});

describe("network node net-01", () => {
  const d = doc("net-01");
  test("dnsmasq pinned; DHCP agent settings; our dnsmasq instances bound per interface (L5)", () => {
    expect(docPackages(d).find((p) => p.name === "dnsmasq-base")!.version).toBe("2.90-4~deb12u2");
    const dhcp = ini(d, "/etc/neutron/dhcp_agent.ini");
    expect(iniGet(dhcp, "DEFAULT", "dhcp_driver")).toBe("neutron.agent.linux.dhcp.Dnsmasq");
    expect(iniGet(dhcp, "DEFAULT", "interface_driver")).toBe("openvswitch");
    expect(iniGet(ini(d, "/etc/neutron/neutron.conf"), "DEFAULT", "dhcp_lease_duration")).toBe("86400");
    for (const iface of ["ens3f0", "ens3f1"]) {
      const lines = fileOf(d, `/etc/vdi/dnsmasq-${iface}.conf`).content.split("\n");
      expect(lines).toEqual(expect.arrayContaining([`interface=${iface}`, "bind-interfaces", "port=0", `pid-file=/run/vdi-dnsmasq-${iface}.pid`]));
      const u = parseIni(fileOf(d, `/etc/systemd/system/vdi-dnsmasq-${iface}.service`).content);
      expect(iniGet(u, "Service", "ExecStart")).toBe(`/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/etc/vdi/dnsmasq-${iface}.conf`);
    }
  });
  test("bind: none renders no bind option (what the policy blocks)", () => {
    const f = loadStackFleet("prod", [["networking.dhcp.extraDnsmasq.0.bind", "none"]]);
    const lines = fileOf(doc("net-01", f), "/etc/vdi/dnsmasq-ens3f0.conf").content.split("\n");
    expect(lines.some((l) => /^bind-/.test(l))).toBe(false);
  });
});

describe("messaging host mq-01 (L7)", () => {
  const d = doc("mq-01");
  const conf = kv(fileOf(d, "/etc/rabbitmq/rabbitmq.conf").content);
  test("keepalive on, written with RabbitMQ's default listen options", () => {
    expect(conf).toMatchObject({
      "tcp_listen_options.keepalive": "true",
      "tcp_listen_options.backlog": "128",
      "tcp_listen_options.nodelay": "true",
      "tcp_listen_options.linger.on": "true",
      "tcp_listen_options.linger.timeout": "0",
      "tcp_listen_options.exit_on_close": "false",
      heartbeat: "30",
      cluster_partition_handling: "pause_minority",
      "listeners.tcp.default": "5672",
    });
  });
  test("a three-node cluster from classic config", () => {
    expect(conf["cluster_formation.classic_config.nodes.3"]).toBe("rabbit@mq-03");
  });
  test("keepalive off is rendered as off (for the policy to block)", () => {
    const f = loadStackFleet("prod", [["rabbitmq.keepalive.enabled", false]]);
    expect(kv(fileOf(doc("mq-01", f), "/etc/rabbitmq/rabbitmq.conf").content)["tcp_listen_options.keepalive"]).toBe("false");
  });
});

describe("credentials document", () => {
  test("transport URL lists every broker with the password URL-encoded; files are private", () => {
    const host = prod.hosts.find((h) => h.name === "cmp-a-001")!;
    const d = parseDocument(renderCredentialsDocument(prod, host, TEST_SECRETS));
    const f = fileOf(d, "/etc/nova/nova.conf.d/50-vdi-credentials.conf");
    const url = iniGet(parseIni(f.content), "DEFAULT", "transport_url")!;
    expect(url).toBe(
      "rabbit://" + ["10.20.0.11", "10.20.0.12", "10.20.0.13"].map((a) => `openstack:p%40ss%2Fword%3Awith%25chars@${a}:5672`).join(",") + "/",
    );
    expect(f.mode).toBe("0640");
    expect(f.actions).toEqual([{ kind: "restart", unit: "nova-compute.service" }]);
    expect(docPackages(d)).toEqual([]);
  });
  test("brokers get the cookie and the user", () => {
    const host = prod.hosts.find((h) => h.name === "mq-01")!;
    const d = parseDocument(renderCredentialsDocument(prod, host, TEST_SECRETS));
    expect(fileOf(d, "/var/lib/rabbitmq/.erlang.cookie")).toMatchObject({ mode: "0400", owner: "rabbitmq" });
    // Users are created after the broker restarted with the new cookie (post runs after restarts).
    expect(fileOf(d, "/var/lib/rabbitmq/.erlang.cookie").actions).toEqual([{ kind: "restart", unit: "rabbitmq-server.service" }]);
    expect(fileOf(d, "/etc/vdi/rabbitmq-users").actions).toEqual([{ kind: "post", path: "/usr/local/lib/vdi/rabbitmq-users" }]);
  });
});

test("rendering is deterministic: the same input gives the same bytes", () => {
  const again = loadStackFleet("prod");
  for (const name of ["cmp-a-001", "net-01", "mq-01", "cmp-d-050"]) {
    expect(renderHostDocument(again, again.hosts.find((h) => h.name === name)!)).toBe(renderHostDocument(prod, prod.hosts.find((h) => h.name === name)!));
  }
});

/** Runs a shipped shell script with stub commands first in PATH (each stub: name → shell body). */
function runWithStubs(script: string, stubs: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-render-stubs-"));
  try {
    for (const [name, body] of Object.entries(stubs)) fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "script"), script, { mode: 0o755 });
    const r = spawnSync("/bin/sh", [path.join(dir, "script")], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: "utf8", timeout: 20_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("installation source (L1)", () => {
  const d = doc("cmp-a-001");
  const src = fileOf(d, "/etc/apt/sources.list.d/vdi-bookworm-2026-10.sources");
  test("a deb822 source Signed-By the archive key shipped next to it, written before the packages", () => {
    const key = fileOf(d, "/etc/apt/keyrings/vdi-bookworm-2026-10.asc");
    expect(key.content).toBe(fs.readFileSync(path.join(__dirname, "..", "inventory", "apt", "example-archive.asc"), "utf8"));
    expect(src.content).toContain("Signed-By: /etc/apt/keyrings/vdi-bookworm-2026-10.asc\n");
    const order = d.entries.map((e) => (e.kind === "file" ? e.file.path : e.kind));
    expect(order.indexOf(src.path)).toBeLessThan(order.indexOf("package"));
  });
  test("apt itself reads it: the index targets are the version set's archive (apt-get indextargets, no network)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-apt-source-"));
    try {
      fs.mkdirSync(path.join(dir, "parts"));
      fs.mkdirSync(path.join(dir, "lists"));
      fs.writeFileSync(path.join(dir, "parts", "vdi.sources"), src.content);
      const r = spawnSync("apt-get", ["-o", "Dir::Etc::SourceList=/dev/null", "-o", `Dir::Etc::SourceParts=${dir}/parts`, "-o", `Dir::State::Lists=${dir}/lists`, "-o", "APT::Architecture=amd64", "indextargets", "--no-release-info", "--format", "$(URI)"], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("https://apt.vdi.example.net/snapshots/bookworm-2026-10/debian/dists/bookworm/main/binary-amd64/Packages");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("brokers cluster under their own names (L7)", () => {
  const d = doc("mq-02");
  test("/etc/hosts names every broker, /etc/hostname is the short name, set before RabbitMQ starts", () => {
    expect(fileOf(d, "/etc/hosts").content).toMatch(/^10\.20\.0\.11\tmq-01\n10\.20\.0\.12\tmq-02\n10\.20\.0\.13\tmq-03\n/m);
    expect(fileOf(d, "/etc/hostname").content).toBe("mq-02\n");
    expect(fileOf(d, "/etc/hostname").actions).toEqual([{ kind: "exec", path: "/usr/local/lib/vdi/set-hostname" }]);
  });
  // `rabbitmqctl -q cluster_status --formatter json` as RabbitMQ 3.10.8 (bookworm) prints it, recorded in the lab;
  // the stub prints it with the running nodes given.
  const statusJson = fs.readFileSync(path.join(__dirname, "fixtures", "rabbitmq", "cluster_status-3.10.8.json"), "utf8").trim();
  const withRunning = (nodes: string[]) => statusJson.replace('"running_nodes":["rabbit@lab-mq-1"]', `"running_nodes":${JSON.stringify(nodes)}`);
  const stub = (nodes: string[]) => ({ rabbitmqctl: `case "$*" in *cluster_status*) cat <<'JSON'\n${withRunning(nodes)}\nJSON\n;; esac` });
  test("the converge fails unless the broker runs clustered with the brokers converged before it", () => {
    expect(d.entries).toContainEqual({ kind: "check", unit: "rabbitmq-server.service", path: "/usr/local/lib/vdi/rabbitmq-cluster-check" });
    const script = fileOf(d, "/usr/local/lib/vdi/rabbitmq-cluster-check").content;
    expect(script).toContain('expected="rabbit@mq-01 rabbit@mq-02"');
    expect(spawnSync("sh", ["-n"], { input: script }).status).toBe(0);
    expect(withRunning(["x"])).not.toBe(statusJson); // the fixture has the field the stub replaces
    const ok = runWithStubs(script, stub(["rabbit@mq-02", "rabbit@mq-01"]));
    expect([ok.status, ok.stdout]).toEqual([0, "rabbitmq-cluster-check: running with rabbit@mq-01 rabbit@mq-02\n"]);
  });
  test("a broker running alone fails the check (bounded: 30 tries); a node whose name only starts like a peer's is not the peer", () => {
    const script = fileOf(d, "/usr/local/lib/vdi/rabbitmq-cluster-check").content.replace("sleep 3", "sleep 0");
    const alone = runWithStubs(script, stub(["rabbit@mq-02"]));
    expect(alone.status).toBe(1);
    expect(alone.stderr).toContain('not clustered with rabbit@mq-01 (running: "rabbit@mq-02")');
    const lookalike = runWithStubs(script, stub(["rabbit@mq-02", "rabbit@mq-010"]));
    expect(lookalike.status).toBe(1);
  });
});

describe("compute hosts: the converge fails unless nova's user reaches libvirt (not half a minute later, when nova-compute dies)", () => {
  const d = doc("cmp-a-001");
  const path_ = "/usr/local/lib/vdi/nova-libvirt-check";
  // runuser as root would: run the command (as nova); virsh connects or is refused as libvirt refuses an unauthorized user.
  const stubs = (virsh: string) => ({ runuser: 'shift 3; exec "$@"', virsh, sleep: "exit 0" });
  test("in the main document and in the credentials document (whose run starts nova-compute), after the starts", () => {
    const check = { kind: "check", unit: "nova-compute.service", path: path_ };
    expect(d.entries[d.entries.length - 1]).toEqual(check);
    const creds = parseDocument(renderCredentialsDocument(prod, prod.hosts.find((h) => h.name === "cmp-a-001")!, TEST_SECRETS));
    expect(creds.entries[creds.entries.length - 1]).toEqual(check);
    expect(doc("mq-01").entries).not.toContainEqual(check);
  });
  test("passes when the user connects; fails, bounded, naming the cause when libvirt refuses it", () => {
    const script = fileOf(d, path_).content;
    expect(spawnSync("sh", ["-n"], { input: script }).status).toBe(0);
    const ok = runWithStubs(script, stubs('[ "$*" = "-q -c qemu:///system uri" ] && echo qemu:///system'));
    expect([ok.status, ok.stdout]).toEqual([0, "nova-libvirt-check: user nova connects to qemu:///system\n"]);
    const refused = runWithStubs(script, stubs("echo \"error: authentication unavailable: no polkit agent available to authenticate action 'org.libvirt.unix.manage'\" >&2; exit 1"));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^nova-libvirt-check: user nova cannot connect to qemu:\/\/\/system, so nova-compute would stop with HypervisorUnavailable: error: authentication unavailable: .*Check that polkitd runs/);
  });
});

describe("compute hosts: instance storage, nova-compute's stop, KSM on bookworm", () => {
  const d = doc("cmp-a-001");
  test("the instance-storage volume is mounted by label, enabled, and nova-compute requires and owns it", () => {
    const mount = ini(d, "/etc/systemd/system/var-lib-nova-instances.mount");
    expect([iniGet(mount, "Mount", "What"), iniGet(mount, "Mount", "Where"), iniGet(mount, "Mount", "Type")]).toEqual(["/dev/disk/by-label/vdi-instances", "/var/lib/nova/instances", "xfs"]);
    expect(docEnabled(d)).toContain("var-lib-nova-instances.mount");
    const dropIn = ini(d, "/etc/systemd/system/nova-compute.service.d/10-vdi.conf");
    expect(iniGet(dropIn, "Unit", "RequiresMountsFor")).toBe("/var/lib/nova/instances");
    expect(iniGet(dropIn, "Service", "ExecStartPre")).toBe("+/bin/chown nova:nova /var/lib/nova/instances");
    // above oslo.service's graceful_shutdown_timeout (written explicitly), not Debian's 15 s
    expect(iniGet(dropIn, "Service", "TimeoutStopSec")).toBe("90");
    expect(iniGet(ini(d, "/etc/nova/nova.conf"), "DEFAULT", "graceful_shutdown_timeout")).toBe("60");
  });
  test("KSM needs no qemu-kvm.service (bookworm has none) and is skipped where sysfs is read-only", () => {
    const ksm = ini(d, "/etc/systemd/system/vdi-ksm.service");
    expect(iniGetAll(ksm, "Unit", "After")).toEqual([]);
    expect(iniGet(ksm, "Unit", "ConditionPathIsReadWrite")).toBe("/sys/kernel/mm/ksm/run");
  });
  test("each pinned package names what restarts when its version changes", () => {
    expect(docPackages(d).map((p) => [p.name, p.restarts])).toEqual([
      ["linux-image-amd64", []],
      ["qemu-system-x86", []],
      ["libvirt-daemon-system", ["libvirtd.service"]],
      ["openvswitch-switch", ["openvswitch-switch.service", "neutron-openvswitch-agent.service"]],
      ["nova-compute", ["nova-compute.service"]],
      ["neutron-openvswitch-agent", ["neutron-openvswitch-agent.service"]],
    ]);
  });
  test("every service the host runs is enabled (it comes back after a reboot)", () => {
    for (const u of ["openvswitch-switch.service", "libvirtd.service", "nova-compute.service", "neutron-openvswitch-agent.service"]) expect(docEnabled(d)).toContain(u);
  });
});

describe("network nodes: credentials where every agent reads them, kernel tables for the desktops", () => {
  const host = prod.hosts.find((h) => h.name === "net-01")!;
  const c = parseDocument(renderCredentialsDocument(prod, host, TEST_SECRETS));
  test("agent.conf.d for the OVS and L3 agents (Debian passes them --config-dir), neutron.conf.d for the DHCP and metadata agents", () => {
    expect(fileOf(c, "/etc/neutron/agent.conf.d/50-vdi-credentials.conf").actions).toEqual([
      { kind: "restart", unit: "neutron-openvswitch-agent.service" },
      { kind: "restart", unit: "neutron-l3-agent.service" },
    ]);
    expect(fileOf(c, "/etc/neutron/neutron.conf.d/50-vdi-credentials.conf").actions).toEqual([
      { kind: "restart", unit: "neutron-dhcp-agent.service" },
      { kind: "restart", unit: "neutron-metadata-agent.service" },
    ]);
    for (const f of ["/etc/neutron/agent.conf.d/50-vdi-credentials.conf", "/etc/neutron/neutron.conf.d/50-vdi-credentials.conf"]) {
      expect(iniGet(parseIni(fileOf(c, f).content), "DEFAULT", "transport_url")).toMatch(/^rabbit:\/\/openstack:/);
    }
  });
  test("neighbour table and conntrack sized for the region's 18,400 desktops, nf_conntrack loaded first", () => {
    const d = doc("net-01");
    expect(kv(fileOf(d, "/etc/sysctl.d/60-vdi-network-node.conf").content)).toEqual({
      "net.ipv4.neigh.default.gc_thresh1": "8192",
      "net.ipv4.neigh.default.gc_thresh2": "32768",
      "net.ipv4.neigh.default.gc_thresh3": "65536",
      "net.netfilter.nf_conntrack_max": "2097152",
    });
    expect(fileOf(d, "/etc/modules-load.d/vdi-network-node.conf").content).toMatch(/^nf_conntrack$/m);
    expect(docFacts(d).desktops_behind).toBe("18400");
  });
});
