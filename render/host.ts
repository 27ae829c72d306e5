/**
 * Small host files: apt pins (L1), keepalive sysctls (L7), libvirt-guests
 * (L3), KSM (L2), the stale OVS port cleanup (L6) and OVS bridges.
 */
import type { CellSpec, Fleet, HostSpec } from "../stack/config/load";
import type { LibvirtGuests, RabbitmqSpec } from "../stack/config/schema";
import { MANAGED_HEADER, shellScript } from "./common";

const comment = (lines: string[]) => lines.map((l) => `# ${l}`);

/** apt preferences pinning each package to its exact version with priority 1001 (L1). */
export function renderAptPins(versionSet: string, packages: Array<{ name: string; version: string }>): string {
  const blocks = packages.map((p) => [`Package: ${p.name}`, `Pin: version ${p.version}`, "Pin-Priority: 1001"].join("\n"));
  return [...comment([...MANAGED_HEADER, `L1: exact versions of version set ${versionSet}; 1001 also allows a downgrade to them.`]), "", blocks.join("\n\n"), ""].join("\n");
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
      ...fleet.spec.networking.bridges.map((b) => `ovs-vsctl --timeout=60 --may-exist add-br ${b.name} -- --may-exist add-port ${b.name} ${b.interface}`),
    ],
  );
}

export function bridgeMappings(fleet: Fleet): string {
  return fleet.spec.networking.bridges.map((b) => `${b.physnet}:${b.name}`).join(",");
}
