/**
 * systemd units and drop-ins (L6 ordering, KSM, our own dnsmasq instances).
 *
 * systemd.unit(5): at shutdown the inverse of the start order applies, so a
 * unit with After=X stops before X. libvirtd and libvirt-guests get
 * After= every OVS unit: they start after Open vSwitch and stop before it, so
 * libvirt can still delete its OVS ports at shutdown (docs/lessons.md, L6).
 */
import { CLEANUP_BEFORE, CLEANUP_SCRIPT, CLEANUP_UNIT, KSM_SCRIPT, OVS_UNITS, dnsmasqConfPath } from "../facts/paths";
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
