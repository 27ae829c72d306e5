/**
 * Small host files: the apt source and pins (L1), keepalive sysctls (L7),
 * libvirt-guests (L3), KSM (L2), the stale OVS port cleanup (L6), OVS
 * bridges, brokers' names, network nodes' kernel tables.
 */
import type { CellSpec, Fleet, HostSpec, ResolvedAptSource } from "../stack/config/load";
import type { LibvirtGuests, RabbitmqSpec } from "../stack/config/schema";
import { aptKeyringPath } from "../facts/paths";
import { MANAGED_HEADER, shellScript, shortName } from "./common";

const comment = (lines: string[]) => lines.map((l) => `# ${l}`);

/** apt preferences pinning each package to its exact version with priority 1001 (L1). */
export function renderAptPins(versionSet: string, packages: Array<{ name: string; version: string }>): string {
  const blocks = packages.map((p) => [`Package: ${p.name}`, `Pin: version ${p.version}`, "Pin-Priority: 1001"].join("\n"));
  return [...comment([...MANAGED_HEADER, `L1: exact versions of version set ${versionSet}; 1001 also allows a downgrade to them.`]), "", blocks.join("\n\n"), ""].join("\n");
}

/**
 * The version set's apt source, deb822 with Signed-By naming the archive key shipped next to it: the
 * hosts install the pinned versions from the snapshot the version set names (L1).
 */
export function renderAptSource(versionSet: string, apt: ResolvedAptSource): string {
  return [
    ...comment([...MANAGED_HEADER, `L1: version set ${versionSet} installs from this archive snapshot, signed by ${aptKeyringPath(versionSet)}.`]),
    "Types: deb",
    `URIs: ${apt.uri}`,
    `Suites: ${apt.suite}`,
    `Components: ${apt.components.join(" ")}`,
    `Signed-By: ${aptKeyringPath(versionSet)}`,
    "",
  ].join("\n");
}

/** Kernel TCP keepalive, so idle AMQP connections are probed before the firewall drops them (L7). */
export function renderKeepaliveSysctl(mq: RabbitmqSpec): string {
  const k = mq.keepalive;
  return [
    ...comment([
      ...MANAGED_HEADER,
      `L7: an idle connection is probed after ${k.timeSeconds} s and given up after ${k.timeSeconds + k.intervalSeconds * k.probes} s;`,
      `the firewall between services and the broker drops idle sessions after ${mq.firewallIdleTimeoutSeconds} s.`,
    ]),
    `net.ipv4.tcp_keepalive_time = ${k.timeSeconds}`,
    `net.ipv4.tcp_keepalive_intvl = ${k.intervalSeconds}`,
    `net.ipv4.tcp_keepalive_probes = ${k.probes}`,
    "",
  ].join("\n");
}

/** /etc/default/libvirt-guests (L3: no all-at-once guest starts at host boot). */
export function renderLibvirtGuests(g: LibvirtGuests): string {
  return [
    ...comment([...MANAGED_HEADER, "L3: guests are not all started at once at host boot."]),
    `ON_BOOT=${g.onBoot}`,
    `START_DELAY=${g.startDelaySeconds}`,
    `ON_SHUTDOWN=${g.onShutdown}`,
    `PARALLEL_SHUTDOWN=${g.parallelShutdown}`,
    `SHUTDOWN_TIMEOUT=${g.shutdownTimeoutSeconds}`,
    "",
  ].join("\n");
}

/** The effective KSM settings of a compute host (merge_across_nodes "auto": 0 on multi-NUMA hosts). */
export function ksmSettings(host: HostSpec, cell: CellSpec): { run: 0 | 1; mergeAcrossNodes: 0 | 1; pagesToScan: number; sleepMillisecs: number } {
  const k = cell.overcommit.ksm;
  const merge = !k || k.mergeAcrossNodes === "auto" ? (host.hardware.numaNodes > 1 ? 0 : 1) : k.mergeAcrossNodes;
  return { run: k?.enabled ? 1 : 0, mergeAcrossNodes: merge, pagesToScan: k?.pagesToScan ?? 100, sleepMillisecs: k?.sleepMillisecs ?? 20 };
}

/**
 * Applies KSM settings through sysfs (Linux admin-guide/mm/ksm.rst).
 * merge_across_nodes can only change while no pages are shared, so on a running
 * host with shared pages it is left for the next boot (the unit runs before
 * libvirt), rather than unmerging — which may suddenly need more memory than is free.
 */
export function renderKsmScript(s: ReturnType<typeof ksmSettings>): string {
  return shellScript(
    [`L2: KSM run=${s.run}, merge_across_nodes=${s.mergeAcrossNodes}, pages_to_scan=${s.pagesToScan}, sleep_millisecs=${s.sleepMillisecs}.`],
    [
      'KSM="${VDI_KSM_SYSFS:-/sys/kernel/mm/ksm}"',
      `RUN=${s.run}`,
      `MERGE=${s.mergeAcrossNodes}`,
      `PAGES=${s.pagesToScan}`,
      `SLEEP=${s.sleepMillisecs}`,
      'put() { [ "$(cat "$KSM/$1")" = "$2" ] || echo "$2" > "$KSM/$1"; }',
      'if [ -e "$KSM/merge_across_nodes" ] && [ "$(cat "$KSM/merge_across_nodes")" != "$MERGE" ]; then',
      '  if [ "$(cat "$KSM/pages_shared")" = 0 ]; then',
      '    echo "$MERGE" > "$KSM/merge_across_nodes"',
      "  else",
      '    echo "ksm-apply: pages are shared; merge_across_nodes=$MERGE takes effect at the next boot" >&2',
      "  fi",
      "fi",
      "put pages_to_scan \"$PAGES\"",
      "put sleep_millisecs \"$SLEEP\"",
      "put run \"$RUN\"",
      'echo "ksm-apply: run=$(cat "$KSM/run") merge_across_nodes=$(cat "$KSM/merge_across_nodes" 2>/dev/null || echo n/a)"',
    ],
  );
}

/**
 * Boot-time removal of stale OVS guest ports (L6): interfaces whose device
 * could not be opened (ofport -1) and that belong to guests (tap*, vnet*,
 * qvo*, qvb* or carrying a neutron iface-id). Live ports and the host's own
 * ports are kept. Writing a value to the Open_vSwitch row without --no-wait
 * makes ovs-vsctl wait until ovs-vswitchd has applied the database, so ofport
 * values are final before we read them.
 */
export function renderCleanupScript(): string {
  return shellScript(
    ["L6: remove OVS ports left by guests that no longer exist; runs at boot before libvirt, nova and the OVS agent."],
    [
      'VSCTL="ovs-vsctl --timeout=60"',
      '$VSCTL set Open_vSwitch . external_ids:vdi-stale-port-cleanup="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo boot)"',
      "removed=0",
      "for ifc in $($VSCTL --bare --columns=name find Interface ofport=-1); do",
      '  case "$ifc" in',
      "    tap*|vnet*|qvo*|qvb*) ;;",
      '    *) iid="$($VSCTL --if-exists get Interface "$ifc" external_ids:iface-id 2>/dev/null || true)"',
      '       if [ -z "$iid" ]; then echo "kept $ifc: not a guest port"; continue; fi ;;',
      "  esac",
      '  br="$($VSCTL port-to-br "$ifc" 2>/dev/null)" || continue',
      '  $VSCTL --if-exists del-port "$br" "$ifc"',
      '  echo "removed stale port $ifc from $br"',
      "  removed=$((removed + 1))",
      "done",
      'echo "vdi-ovs-stale-port-cleanup: removed $removed stale port(s)"',
    ],
  );
}

/** Creates the provider bridges and plugs their NICs (idempotent: --may-exist). */
export function renderOvsBridgesScript(fleet: Fleet): string {
  return shellScript(
    ["OVS bridges for the bridge mappings; br-int and br-tun belong to the OVS agent."],
    [
      // Package installs do not start daemons (policy-rc.d); the bridges need ovs-vswitchd.
      "systemctl is-active --quiet openvswitch-switch.service || systemctl start openvswitch-switch.service",
      ...fleet.spec.networking.bridges.map(
        (b) =>
          `ovs-vsctl --timeout=60 --may-exist add-br ${b.name}${fleet.spec.networking.datapathType === "netdev" ? ` -- set bridge ${b.name} datapath_type=netdev` : ""} -- --may-exist add-port ${b.name} ${b.interface}`,
      ),
    ],
  );
}

export function bridgeMappings(fleet: Fleet): string {
  return fleet.spec.networking.bridges.map((b) => `${b.physnet}:${b.name}`).join(",");
}

/**
 * /etc/hosts of a broker: RabbitMQ's classic peer discovery names peers rabbit@<short host name>, so
 * each broker's short name must resolve on every broker to the address its peers reach it at.
 */
export function renderBrokerHosts(fleet: Fleet): string {
  return [
    ...comment([...MANAGED_HEADER, "RabbitMQ node names (rabbit@<short name>) resolve to the brokers' addresses."]),
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    ...fleet.messagingHosts.map((h) => `${h.address}\t${h.name === shortName(h.name) ? h.name : `${h.name} ${shortName(h.name)}`}`),
    "",
  ].join("\n");
}

/** Sets the running host name from /etc/hostname when it differs (a broker's node name is its short host name). */
export function renderSetHostnameScript(): string {
  return shellScript(
    ["Makes the running host name the one in /etc/hostname (RabbitMQ's node name is rabbit@<short host name>)."],
    ['want="$(cat /etc/hostname)"', '[ "$(hostname)" = "$want" ] || hostname "$want"', 'echo "set-hostname: $(hostname)"'],
  );
}

/** The neighbour-table and conntrack limits of a network node with this many desktops behind it. */
export function networkNodeLimits(fleet: Fleet): { neighbourEntries: number; conntrackEntries: number; desktops: number } {
  const desktops = fleet.cells.reduce((n, c) => n + c.desktops, 0);
  const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
  const given = fleet.spec.networking.networkNodeLimits;
  return {
    desktops,
    // Every desktop behind the node can be a neighbour of its routers: room for two entries each
    // (kernel default 1024; kolla-ansible's 32768, OpenStack-Ansible's 16384 are fixed sizes).
    neighbourEntries: given.neighbourEntries ?? Math.max(1024, pow2(2 * desktops)),
    // 64 tracked connections per desktop (an assumption, like OpenStack-Ansible's fixed 262144: measure yours).
    conntrackEntries: given.conntrackEntries ?? Math.max(262144, pow2(64 * desktops)),
  };
}

/** Network nodes' kernel tables sized for the desktops behind them (a full neighbour table drops new peers). */
export function renderNetworkNodeSysctl(limits: ReturnType<typeof networkNodeLimits>): string {
  const n = limits.neighbourEntries;
  return [
    ...comment([
      ...MANAGED_HEADER,
      `Network node: neighbour entries up to ${n} (kernel default 1024), conntrack up to ${limits.conntrackEntries}, sized for the planned desktops behind it.`,
      "In a container these keys belong to the host kernel: vdi-apply skips them there and says so.",
    ]),
    `net.ipv4.neigh.default.gc_thresh1 = ${Math.max(128, Math.floor(n / 8))}`,
    `net.ipv4.neigh.default.gc_thresh2 = ${Math.floor(n / 2)}`,
    `net.ipv4.neigh.default.gc_thresh3 = ${n}`,
    `net.netfilter.nf_conntrack_max = ${limits.conntrackEntries}`,
    "",
  ].join("\n");
}

/** nf_conntrack loaded at boot before systemd-sysctl applies its limit. */
export function renderNetworkNodeModules(): string {
  return [...comment([...MANAGED_HEADER, "Loaded before systemd-sysctl, so net.netfilter.nf_conntrack_max exists when it is set."]), "nf_conntrack", ""].join("\n");
}

/** Loads the modules of /etc/modules-load.d/vdi-*.conf now (at boot systemd-modules-load does); nothing in a container. */
export function renderLoadModulesScript(): string {
  return shellScript(
    ["Loads the kernel modules the stack's sysctls need (/etc/modules-load.d/vdi-*.conf); a container cannot load modules."],
    [
      'if systemd-detect-virt --quiet --container; then echo "load-modules: skipped in a container (the host kernel loads modules)"; exit 0; fi',
      'for f in /etc/modules-load.d/vdi-*.conf; do [ -e "$f" ] || continue; grep -v "^[[:space:]]*#" "$f" | while read -r m; do [ -n "$m" ] && modprobe "$m"; done; done',
    ],
  );
}
