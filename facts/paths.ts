/**
 * Where things live on a Debian 12 host: every file path and systemd unit
 * name the stack writes or relies on, defined once. The renderers write these
 * paths, the policies and the review tooling read them back from the shipped
 * documents, and the lab checks them on real hosts.
 *
 * Pure constants and tiny helpers; no imports.
 */

/** Directory of the small scripts the stack ships to hosts. */
export const VDI_LIB = "/usr/local/lib/vdi";

// --- apt and kernel (L1, L7) ---------------------------------------------------------
/** apt preferences pinning every pinned package to its exact version (L1). */
export const APT_PINS = "/etc/apt/preferences.d/vdi-fleet.pref";
/** The version set's apt source (deb822) and the archive key it names in Signed-By. */
export const aptSourcePath = (versionSet: string): string => `/etc/apt/sources.list.d/vdi-${versionSet}.sources`;
export const aptKeyringPath = (versionSet: string): string => `/etc/apt/keyrings/vdi-${versionSet}.asc`;
export const APT_SOURCES_DIR = "/etc/apt/sources.list.d/";
/** Kernel TCP keepalive sysctls (L7). */
export const SYSCTL_KEEPALIVE = "/etc/sysctl.d/60-vdi-tcp-keepalive.conf";
/** Where sysctl drop-ins live (the policies read every file here). */
export const SYSCTL_DIR = "/etc/sysctl.d/";
/** Network nodes' neighbour-table and conntrack limits, and the module conntrack's keys need. */
export const SYSCTL_NETWORK_NODE = "/etc/sysctl.d/60-vdi-network-node.conf";
export const MODULES_NETWORK_NODE = "/etc/modules-load.d/vdi-network-node.conf";

// --- nova ------------------------------------------------------------------------------
export const NOVA_CONF = "/etc/nova/nova.conf";
/** oslo.config reads /etc/<project>/<project>.conf.d/ after the main file. */
export const NOVA_CONF_DIR = "/etc/nova/nova.conf.d/";
/**
 * Debian's nova-compute passes this file after nova.conf (--config-file=/etc/nova/nova.conf
 * --config-file=/etc/nova/nova-compute.conf), so what it sets wins; the package's own sets
 * [libvirt] virt_type = kvm.
 */
export const NOVA_COMPUTE_CONF = "/etc/nova/nova-compute.conf";
export const NOVA_CREDENTIALS = `${NOVA_CONF_DIR}50-vdi-credentials.conf`;
/** Where the instances' disks live: the instance-storage volume is mounted here. */
export const INSTANCES_DIR = "/var/lib/nova/instances";
/** systemd's name for the mount unit of INSTANCES_DIR. */
export const INSTANCES_MOUNT_UNIT = "var-lib-nova-instances.mount";
/** nova-compute's drop-in: the instance storage mounted first, a stop timeout above oslo's graceful shutdown. */
export const NOVA_COMPUTE_DROP_IN = "/etc/systemd/system/nova-compute.service.d/10-vdi.conf";

// --- neutron ---------------------------------------------------------------------------
export const NEUTRON_CONF = "/etc/neutron/neutron.conf";
/**
 * Where each neutron agent reads extra config from. Debian's init scripts start the OVS and L3
 * agents with --config-dir=/etc/neutron/agent.conf.d (neutron-common's postinst creates it), which
 * replaces oslo.config's default directories; the DHCP and metadata agents get no --config-dir and
 * read /etc/neutron/neutron.conf.d (read from the bookworm packages, 2:21.0.0-7+deb12u1).
 */
export const NEUTRON_AGENT_CONFIG_DIRS: Record<string, string> = {
  "neutron-openvswitch-agent.service": "/etc/neutron/agent.conf.d/",
  "neutron-l3-agent.service": "/etc/neutron/agent.conf.d/",
  "neutron-dhcp-agent.service": "/etc/neutron/neutron.conf.d/",
  "neutron-metadata-agent.service": "/etc/neutron/neutron.conf.d/",
};
export const NEUTRON_CREDENTIALS_FILE = "50-vdi-credentials.conf";
export const OVS_AGENT_INI = "/etc/neutron/plugins/ml2/openvswitch_agent.ini";
export const DHCP_AGENT_INI = "/etc/neutron/dhcp_agent.ini";
export const L3_AGENT_INI = "/etc/neutron/l3_agent.ini";
export const METADATA_AGENT_INI = "/etc/neutron/metadata_agent.ini";

// --- libvirt, KSM, Open vSwitch (L2, L3, L6) ------------------------------------------
/** Debian's libvirt-guests settings (read at its start and stop). */
export const LIBVIRT_GUESTS = "/etc/default/libvirt-guests";
export const KSM_UNIT = "vdi-ksm.service";
export const KSM_SCRIPT = `${VDI_LIB}/ksm-apply`;
export const OVS_BRIDGES_SCRIPT = `${VDI_LIB}/ovs-bridges`;
export const CLEANUP_UNIT = "vdi-ovs-stale-port-cleanup.service";
export const CLEANUP_SCRIPT = `${VDI_LIB}/ovs-stale-port-cleanup`;
/**
 * Debian's Open vSwitch units: openvswitch-switch.service and every unit it Requires= in
 * Debian 12 (openvswitch-switch 3.1: ovsdb-server, ovs-vswitchd, ovs-record-hostname).
 */
export const OVS_UNITS = ["openvswitch-switch.service", "ovsdb-server.service", "ovs-vswitchd.service", "ovs-record-hostname.service"];
/** Debian's libvirt units that must start after and stop before Open vSwitch (L6). */
export const LIBVIRT_UNITS = ["libvirtd.service", "libvirt-guests.service"];
/** Units the stale-port cleanup must run before (L6). */
export const CLEANUP_BEFORE = ["libvirtd.service", "libvirt-guests.service", "nova-compute.service", "neutron-openvswitch-agent.service"];

// --- systemd ---------------------------------------------------------------------------
export const UNIT_DIR = "/etc/systemd/system";
export const unitPath = (unit: string): string => `${UNIT_DIR}/${unit}`;
/** The stack's ordering drop-in for a unit (L6). */
export const dropInPath = (unit: string): string => `${UNIT_DIR}/${unit}.d/10-vdi-after-ovs.conf`;

// --- dnsmasq instances of our own (L5) -----------------------------------------------------
export const dnsmasqUnitName = (iface: string): string => `vdi-dnsmasq-${iface}.service`;
export const dnsmasqConfPath = (iface: string): string => `/etc/vdi/dnsmasq-${iface}.conf`;
export const dnsmasqLeaseFile = (iface: string): string => `/var/lib/misc/vdi-dnsmasq-${iface}.leases`;
export const dnsmasqPidFile = (iface: string): string => `/run/vdi-dnsmasq-${iface}.pid`;

// --- host identity (brokers: RabbitMQ's node names are host names) ----------------------------
export const HOSTNAME_FILE = "/etc/hostname";
export const HOSTS_FILE = "/etc/hosts";
export const SET_HOSTNAME_SCRIPT = `${VDI_LIB}/set-hostname`;
export const LOAD_MODULES_SCRIPT = `${VDI_LIB}/load-modules`;

// --- RabbitMQ (L7) ---------------------------------------------------------------------
export const RABBITMQ_CONF = "/etc/rabbitmq/rabbitmq.conf";
export const RABBITMQ_COOKIE = "/var/lib/rabbitmq/.erlang.cookie";
/** "user password vhost" lines (secret document), applied by the users script. */
export const RABBITMQ_USERS = "/etc/vdi/rabbitmq-users";
export const RABBITMQ_USERS_SCRIPT = `${VDI_LIB}/rabbitmq-users`;
/** Fails unless this broker runs clustered with the brokers converged before it. */
export const RABBITMQ_CLUSTER_CHECK = `${VDI_LIB}/rabbitmq-cluster-check`;
export const NOVA_LIBVIRT_CHECK = `${VDI_LIB}/nova-libvirt-check`;

// --- the apply script --------------------------------------------------------------------
/** Where a converge run keeps its copy of host/apply.sh, named by its SHA-256 (under the document's root). */
export const APPLY_LIB_DIR = "/usr/local/lib/vdi-apply";
