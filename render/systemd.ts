/**
 * systemd units and drop-ins (L6 ordering, KSM, our own dnsmasq instances).
 *
 * systemd.unit(5): at shutdown the inverse of the start order applies, so a
 * unit with After=X stops before X. libvirtd and libvirt-guests get
 * After= every OVS unit: they start after Open vSwitch and stop before it, so
 * libvirt can still delete its OVS ports at shutdown (facts.md, L6).
 */
import { MANAGED_HEADER, VDI_LIB } from "./common";

export const OVS_UNITS = ["openvswitch-switch.service", "ovsdb-server.service", "ovs-vswitchd.service"];
export const LIBVIRT_UNITS = ["libvirtd.service", "libvirt-guests.service"];
export const CLEANUP_UNIT = "vdi-ovs-stale-port-cleanup.service";
export const CLEANUP_SCRIPT = `${VDI_LIB}/ovs-stale-port-cleanup`;
export const KSM_UNIT = "vdi-ksm.service";
export const KSM_SCRIPT = `${VDI_LIB}/ksm-apply`;
/** Units the stale-port cleanup must run before (L6). */
export const CLEANUP_BEFORE = ["libvirtd.service", "libvirt-guests.service", "nova-compute.service", "neutron-openvswitch-agent.service"];

export const dropInPath = (unit: string) => `/etc/systemd/system/${unit}.d/10-vdi-after-ovs.conf`;
export const unitPath = (unit: string) => `/etc/systemd/system/${unit}`;

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
    "After=qemu-kvm.service",
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

export const dnsmasqUnitName = (iface: string) => `vdi-dnsmasq-${iface}.service`;
export const dnsmasqConfPath = (iface: string) => `/etc/vdi/dnsmasq-${iface}.conf`;

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
