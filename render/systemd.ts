/**
 * systemd units and drop-ins (L6 ordering, KSM, our own dnsmasq instances).
 *
 * systemd.unit(5): at shutdown the inverse of the start order applies, so a
 * unit with After=X stops before X. libvirtd and libvirt-guests get
 * After= every OVS unit: they start after Open vSwitch and stop before it, so
 * libvirt can still delete its OVS ports at shutdown (docs/lessons.md, L6).
 */
import { CLEANUP_BEFORE, CLEANUP_SCRIPT, CLEANUP_UNIT, INSTANCES_DIR, KSM_SCRIPT, OVS_UNITS, dnsmasqConfPath } from "../facts/paths";
import { MANAGED_HEADER } from "./common";

const header = MANAGED_HEADER.map((h) => `# ${h}`);

export function renderLibvirtAfterOvsDropIn(unit: string): string {
  return [
    ...header,
    `# L6: ${unit} starts after Open vSwitch and stops before it, so libvirt can`,
    "# remove its OVS ports at shutdown; the stale-port cleanup runs first at boot.",
    "[Unit]",
    "Wants=openvswitch-switch.service",
    `After=${[...OVS_UNITS, CLEANUP_UNIT].join(" ")}`,
    "",
  ].join("\n");
}

export function renderCleanupUnit(): string {
  return [
    ...header,
    "[Unit]",
    "Description=Remove stale Open vSwitch guest ports before libvirt, nova and the OVS agent start (vdi-fleet, L6)",
    "Wants=openvswitch-switch.service",
    `After=${OVS_UNITS.join(" ")}`,
    `Before=${CLEANUP_BEFORE.join(" ")}`,
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=${CLEANUP_SCRIPT}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export function renderKsmUnit(): string {
  return [
    ...header,
    "[Unit]",
    "Description=Apply KSM settings before guests start (vdi-fleet, L2)",
    // Bookworm sets KSM only through sysfs (no qemu-kvm.service, no /etc/default/qemu-kvm). Where
    // sysfs is read-only (a container) the unit is skipped, not failed.
    "ConditionPathIsReadWrite=/sys/kernel/mm/ksm/run",
    "Before=libvirtd.service libvirt-guests.service nova-compute.service",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=${KSM_SCRIPT}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export function renderDnsmasqUnit(iface: string): string {
  return [
    ...header,
    "[Unit]",
    `Description=dnsmasq DHCP on ${iface}, bound to its interface (vdi-fleet, L5)`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    `ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file=${dnsmasqConfPath(iface)}`,
    "Restart=on-failure",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** How systemd names the device of an instance-storage volume given as UUID=…, LABEL=…, PARTUUID=… or tmpfs. */
export function mountWhat(device: string): string {
  const [kind, value] = device.split("=", 2);
  if (device === "tmpfs") return "tmpfs";
  const dir = { UUID: "by-uuid", LABEL: "by-label", PARTUUID: "by-partuuid" }[kind];
  if (!dir || !value) throw new Error(`instance storage device ${JSON.stringify(device)} is not UUID=, LABEL=, PARTUUID= or tmpfs`);
  return `/dev/disk/${dir}/${value}`;
}

/** The instance-storage volume (L3: RAID of several disks) mounted at /var/lib/nova/instances. */
export function renderInstancesMount(device: string, fsType: string, sizeGb: number): string {
  return [
    ...header,
    "[Unit]",
    "Description=Instance storage of nova-compute (vdi-fleet, L3: RAID of several disks)",
    "Before=nova-compute.service",
    "",
    "[Mount]",
    `What=${mountWhat(device)}`,
    `Where=${INSTANCES_DIR}`,
    `Type=${fsType}`,
    // A tmpfs (the lab) gets the declared size, so nova reports the disk the profile declares.
    `Options=${fsType === "tmpfs" ? `mode=0755,size=${sizeGb}G` : "defaults,noatime"}`,
    "",
    "[Install]",
    "WantedBy=local-fs.target",
    "",
  ].join("\n");
}

/**
 * nova-compute never starts without its instance storage, and owns it; its stop timeout is above
 * oslo.service's graceful shutdown (60 s), not Debian's 15 s that kills it first.
 */
export function renderNovaComputeDropIn(gracefulShutdownSeconds: number): string {
  return [
    ...header,
    "[Unit]",
    `RequiresMountsFor=${INSTANCES_DIR}`,
    "",
    "[Service]",
    `ExecStartPre=+/bin/chown nova:nova ${INSTANCES_DIR}`,
    `TimeoutStopSec=${gracefulShutdownSeconds + 30}`,
    "",
  ].join("\n");
}
