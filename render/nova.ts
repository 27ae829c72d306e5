/**
 * nova.conf for a compute host: explicit overcommit (L2, L4), boot-storm
 * limits (L3), oslo.messaging heartbeat settings (L7). Credentials are not
 * here: they go to nova.conf.d/50-vdi-credentials.conf in the secret document.
 */
import type { Fleet, HostSpec, CellSpec } from "../stack/config/load";
import { fmtFloat, renderIni, type IniDoc } from "../formats/ini";
import { MANAGED_HEADER, shellScript } from "./common";

const f = (n: number | undefined) => (n === undefined ? undefined : fmtFloat(n));

export function renderNovaConf(fleet: Fleet, host: HostSpec, cell: CellSpec): string {
  const o = cell.overcommit;
  const b = cell.bootStorm;
  const cp = fleet.spec.controlPlane;
  const mq = fleet.spec.rabbitmq;
  const keystoneAuth = (username: string): Array<[string, string]> => [
    ["auth_type", "password"],
    ["auth_url", cp.keystoneUrl],
    ["project_domain_name", "Default"],
    ["user_domain_name", "Default"],
    ["project_name", "service"],
    ["username", username],
    ["region_name", cp.placementRegion ?? fleet.spec.region],
  ];
  const doc: IniDoc = [
    [
      "DEFAULT",
      [
        ["host", host.name],
        ["my_ip", host.address],
        // oslo.service waits this long for RPC handlers on stop (nova-compute's unit allows more).
        ["graceful_shutdown_timeout", GRACEFUL_SHUTDOWN_SECONDS],
        ["compute_driver", "libvirt.LibvirtDriver"],
        ["state_path", "/var/lib/nova"],
        // L2/L4: explicit ratios; unset means nova's defaults (Zed: 16.0 CPU, 1.5 RAM initial).
        ["cpu_allocation_ratio", f(o.cpuAllocationRatio)],
        ["ram_allocation_ratio", f(o.ramAllocationRatio)],
        ["disk_allocation_ratio", f(o.diskAllocationRatio)],
        ["initial_cpu_allocation_ratio", f(o.initialCpuAllocationRatio)],
        ["initial_ram_allocation_ratio", f(o.initialRamAllocationRatio)],
        ["initial_disk_allocation_ratio", f(o.initialDiskAllocationRatio)],
        ["reserved_host_memory_mb", o.reservedHostMemoryMb],
        ["reserved_host_cpus", o.reservedHostCpus],
        // L3: boot storms.
        ["max_concurrent_builds", b.maxConcurrentBuilds],
        ["resume_guests_state_on_host_boot", b.resumeGuestsStateOnHostBoot],
        ["use_cow_images", b.useCowImages],
      ],
    ],
    ["compute", [["max_concurrent_disk_ops", b.maxConcurrentDiskOps]]],
    ["image_cache", [["precache_concurrency", b.imagePrecacheConcurrency]]],
    [
      "libvirt",
      [
        ["virt_type", host.hardware.virtType],
        ["cpu_mode", "host-model"],
      ],
    ],
    [
      "vnc",
      [
        ["enabled", true],
        ["server_listen", host.address],
        ["server_proxyclient_address", host.address],
        ["novncproxy_base_url", cp.novncBaseUrl],
      ],
    ],
    ["glance", [["api_servers", cp.glanceUrl]]],
    // Placement is reached as the nova service user, with its password (the README says so).
    ["placement", keystoneAuth("nova")],
    ["neutron", keystoneAuth("neutron")],
    [
      "oslo_messaging_rabbit",
      [
        ["heartbeat_timeout_threshold", mq.heartbeatTimeoutThreshold],
        ["heartbeat_rate", mq.heartbeatRate],
        ["rabbit_quorum_queue", mq.quorumQueues ? true : undefined],
      ],
    ],
    ["oslo_concurrency", [["lock_path", "/var/lib/nova/tmp"]]],
  ];
  return renderIni(doc, [...MANAGED_HEADER, `nova-compute for ${host.name}, cell ${cell.name} (${cell.workloadName}).`]);
}

/**
 * /etc/nova/nova-compute.conf, which Debian's nova-compute reads last: the package's file sets
 * [libvirt] virt_type = kvm, which would override nova.conf's virt_type (seen in the lab: a
 * qemu host stayed kvm). The same driver and virt type as nova.conf, and nothing else.
 */
export function renderNovaComputeConf(host: HostSpec): string {
  return renderIni(
    [
      ["DEFAULT", [["compute_driver", "libvirt.LibvirtDriver"]]],
      ["libvirt", [["virt_type", host.hardware.virtType]]],
    ],
    [...MANAGED_HEADER, "Read by nova-compute after nova.conf (Debian's init script passes it last): it repeats nova.conf's driver and virt type."],
  );
}

/** oslo.service's graceful shutdown of nova-compute, seconds (its default). */
export const GRACEFUL_SHUTDOWN_SECONDS = 60;

/** The secret part: RabbitMQ transport URL and service passwords ([placement] logs in as nova, with nova's password). */
export function renderNovaCredentials(transportUrl: string, novaPassword: string, neutronPassword: string): string {
  return renderIni(
    [
      ["DEFAULT", [["transport_url", transportUrl]]],
      ["placement", [["password", novaPassword]]],
      ["neutron", [["password", neutronPassword]]],
    ],
    MANAGED_HEADER,
  );
}

/**
 * Fails (bounded: 10 tries, 3 s apart) unless user nova can open qemu:///system as nova-compute
 * does. nova-compute connects to libvirt only after it has started (so systemd and the apply
 * script's settle see it active) and then stops with HypervisorUnavailable when libvirt refuses
 * it: on Debian 12 libvirt authorizes the libvirt group through polkit, and polkitd does not run
 * when the dbus reload its postinst asked for was denied (facts: found on a booted host). This
 * check names that cause instead of letting the canary's nova-compute die half a minute later.
 */
export function renderNovaLibvirtCheck(): string {
  return shellScript(
    ["Fails unless user nova can connect to libvirt (qemu:///system), as nova-compute does."],
    [
      "i=0",
      "while :; do",
      '  if out="$(runuser -u nova -- virsh -q -c qemu:///system uri 2>&1)"; then echo "nova-libvirt-check: user nova connects to $out"; exit 0; fi',
      "  i=$((i + 1))",
      '  if [ "$i" -ge 10 ]; then echo "nova-libvirt-check: user nova cannot connect to qemu:///system, so nova-compute would stop with HypervisorUnavailable: $(printf %s "$out" | tr "\\n" " " | sed "s/[. ]*\$//"). Check that polkitd runs (systemctl status polkit; after polkitd was installed, dbus must have been reloaded) and that nova is in the libvirt group" >&2; exit 1; fi',
      "  sleep 3",
      "done",
    ],
  );
}

