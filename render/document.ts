/**
 * Assembles each host's documents from the renderers:
 *  - the main document (packages, configuration, units): not secret, so
 *    `pulumi preview --diff` shows every change to a host's files;
 *  - the credentials document (transport URL, service passwords, Erlang
 *    cookie): shipped by its own command as a secret.
 * Pure: config (and secret strings) in, text out.
 */
import type { CellSpec, Fleet, HostSpec } from "../stack/config/load";
import { renderDocument, type DocEntry, type DocFile, type FileAction } from "../formats/document";
import { transportUrl } from "./common";
import {
  APT_PINS,
  CLEANUP_SCRIPT,
  CLEANUP_UNIT,
  DHCP_AGENT_INI,
  HOSTNAME_FILE,
  HOSTS_FILE,
  INSTANCES_MOUNT_UNIT,
  KSM_SCRIPT,
  KSM_UNIT,
  L3_AGENT_INI,
  LIBVIRT_GUESTS,
  LIBVIRT_UNITS,
  LOAD_MODULES_SCRIPT,
  METADATA_AGENT_INI,
  MODULES_NETWORK_NODE,
  NEUTRON_AGENT_CONFIG_DIRS,
  NEUTRON_CONF,
  NEUTRON_CREDENTIALS_FILE,
  NOVA_COMPUTE_DROP_IN,
  NOVA_CONF,
  NOVA_COMPUTE_CONF,
  NOVA_CREDENTIALS,
  OVS_AGENT_INI,
  OVS_BRIDGES_SCRIPT,
  RABBITMQ_CLUSTER_CHECK,
  NOVA_LIBVIRT_CHECK,
  RABBITMQ_CONF,
  RABBITMQ_COOKIE,
  RABBITMQ_USERS,
  RABBITMQ_USERS_SCRIPT,
  SET_HOSTNAME_SCRIPT,
  SYSCTL_KEEPALIVE,
  SYSCTL_NETWORK_NODE,
  aptKeyringPath,
  aptSourcePath,
  dnsmasqConfPath,
  dnsmasqUnitName,
  dropInPath,
  unitPath,
} from "../facts/paths";
import { UPGRADE_RESTARTS, packagesFor } from "../facts/packages";
import { brokerOrder } from "../stack/rollout";
import {
  ksmSettings,
  networkNodeLimits,
  renderAptPins,
  renderAptSource,
  renderBrokerHosts,
  renderCleanupScript,
  renderKeepaliveSysctl,
  renderKsmScript,
  renderLibvirtGuests,
  renderLoadModulesScript,
  renderNetworkNodeModules,
  renderNetworkNodeSysctl,
  renderOvsBridgesScript,
  renderSetHostnameScript,
} from "./host";
import { renderDhcpAgentIni, renderDnsmasqConf, renderL3AgentIni, renderMetadataAgentIni, renderNeutronConf, renderNeutronCredentials, renderOvsAgentIni } from "./neutron";
import { GRACEFUL_SHUTDOWN_SECONDS, renderNovaComputeConf, renderNovaConf, renderNovaCredentials, renderNovaLibvirtCheck } from "./nova";
import { renderRabbitmqClusterCheck, renderRabbitmqConf, renderRabbitmqUsers, renderRabbitmqUsersScript } from "./rabbitmq";
import { renderCleanupUnit, renderDnsmasqUnit, renderInstancesMount, renderKsmUnit, renderLibvirtAfterOvsDropIn, renderNovaComputeDropIn } from "./systemd";
import { shortName } from "./common";

export interface Secrets {
  rabbitmqPassword: string;
  rabbitmqErlangCookie: string;
  novaServicePassword: string;
  neutronServicePassword: string;
  metadataProxySharedSecret: string;
}

const restart = (unit: string): FileAction => ({ kind: "restart", unit });
const reload: FileAction = { kind: "daemon-reload" };

function file(path: string, content: string, actions: FileAction[] = [], mode = "0644", owner = "root", group = "root"): DocEntry {
  const f: DocFile = { path, mode, owner, group, content, actions };
  return { kind: "file", file: f };
}

function cellOf(fleet: Fleet, host: HostSpec): CellSpec | undefined {
  return host.cell ? fleet.cells.find((c) => c.name === host.cell) : undefined;
}

/** Facts the policies judge the host's settings against; ram_mb and cpus are verified on the host. */
function facts(fleet: Fleet, host: HostSpec): DocEntry[] {
  const cell = cellOf(fleet, host);
  const s = host.hardware.instanceStorage;
  const out: Array<[string, string | number, boolean]> = [
    ["roles", host.roles.join(","), false],
    ["ram_mb", host.hardware.ramMb, true],
    ["cpus", host.hardware.cpus, true],
    ["numa_nodes", host.hardware.numaNodes, false],
    ["hardware_profile", host.hardwareProfile, false],
    ["version_set", host.versionSet, false],
    ["storage_raid", s.raidLevel, false],
    ["storage_disks", s.disks, false],
    ["storage_hot_spares", s.hotSpares, false],
    ["storage_iops_budget", s.iopsBudget, false],
    ["storage_size_gb", s.sizeGb, false],
  ];
  if (cell) {
    out.push(
      ["cell", cell.name, false],
      ["workload", cell.workloadName, false],
      ["workload_kind", cell.workload.kind, false],
      ["tenancy", cell.workload.tenancy, false],
      ["boot_iops_per_desktop", cell.workload.bootIopsPerDesktop, false],
    );
  }
  if (host.roles.includes("network")) out.push(["desktops_behind", networkNodeLimits(fleet).desktops, false]);
  // How many brokers the host's transport URL lists (the URL itself is in the credentials document).
  if (host.roles.includes("compute") || host.roles.includes("network")) out.push(["brokers", fleet.messagingHosts.length, false]);
  if (host.roles.includes("messaging") || host.roles.includes("compute") || host.roles.includes("network")) {
    out.push(["firewall_idle_timeout_s", fleet.spec.rabbitmq.firewallIdleTimeoutSeconds, false]);
  }
  return out.map(([key, value, verify]) => ({ kind: "fact", fact: { key, value: String(value), verify } }));
}

/** The units a host runs, each started (and enabled, so it comes back after a reboot) by its document. */
function services(fleet: Fleet, host: HostSpec): string[] {
  const units: string[] = [];
  if (host.roles.includes("compute") || host.roles.includes("network")) units.push("openvswitch-switch.service");
  if (host.roles.includes("compute")) units.push("libvirtd.service", "nova-compute.service");
  units.push(...neutronAgents(host));
  if (host.roles.includes("network")) units.push(...fleet.spec.networking.dhcp.extraDnsmasq.map((d) => dnsmasqUnitName(d.interface)));
  if (host.roles.includes("messaging")) units.push("rabbitmq-server.service");
  return units;
}

/** The RabbitMQ node names a broker must run clustered with once it has converged: itself and the brokers converged before it. */
function expectedPeers(fleet: Fleet, host: HostSpec): string[] {
  const order = brokerOrder(fleet);
  return order.slice(0, order.findIndex((h) => h.name === host.name) + 1).map((h) => `rabbit@${shortName(h.name)}`);
}

/** The main (non-secret) document of a host, as the entries the apply script runs in order. */
export function hostEntries(fleet: Fleet, host: HostSpec): DocEntry[] {
  const cell = cellOf(fleet, host);
  const isCompute = host.roles.includes("compute");
  const isNetwork = host.roles.includes("network");
  const isMessaging = host.roles.includes("messaging");
  const packages = packagesFor(host.roles, host.versions);
  const runs = services(fleet, host);
  const entries: DocEntry[] = [...facts(fleet, host)];

  // Written before packages are installed: the apt source and pins (L1), sysctls (L7), a broker's name.
  if (host.apt) {
    entries.push(file(aptKeyringPath(host.versionSet), host.apt.signingKey));
    entries.push(file(aptSourcePath(host.versionSet), renderAptSource(host.versionSet, host.apt)));
  }
  entries.push(file(APT_PINS, renderAptPins(host.versionSet, packages)));
  entries.push(file(SYSCTL_KEEPALIVE, renderKeepaliveSysctl(fleet.spec.rabbitmq), [{ kind: "sysctl" }]));
  if (isMessaging) {
    // RabbitMQ's node name is rabbit@<short host name>: name and peers resolve before it first starts.
    entries.push(file(HOSTS_FILE, renderBrokerHosts(fleet)));
    entries.push(file(SET_HOSTNAME_SCRIPT, renderSetHostnameScript(), [], "0755"));
    entries.push(file(HOSTNAME_FILE, `${shortName(host.name)}\n`, [{ kind: "exec", path: SET_HOSTNAME_SCRIPT }]));
  }
  if (isCompute || isNetwork) {
    // Ordering drop-ins before the packages start their daemons for the first time (L6).
    for (const u of isCompute ? LIBVIRT_UNITS : []) entries.push(file(dropInPath(u), renderLibvirtAfterOvsDropIn(u), [reload]));
    entries.push(file(CLEANUP_SCRIPT, renderCleanupScript(), [], "0755"));
    entries.push(file(unitPath(CLEANUP_UNIT), renderCleanupUnit(), [reload]));
  }
  if (isCompute) {
    // The instance storage (L3) is mounted before nova-compute ever starts, and nova-compute needs it.
    const st = host.hardware.instanceStorage;
    entries.push(file(unitPath(INSTANCES_MOUNT_UNIT), renderInstancesMount(st.device, st.fsType, st.sizeGb), [reload]));
    entries.push(file(NOVA_COMPUTE_DROP_IN, renderNovaComputeDropIn(GRACEFUL_SHUTDOWN_SECONDS), [reload, restart("nova-compute.service")]));
  }
  const dnsmasqUnits = isNetwork ? fleet.spec.networking.dhcp.extraDnsmasq.map((d) => dnsmasqUnitName(d.interface)) : [];
  for (const p of packages) {
    // After an upgrade, what runs the package's code restarts (the units this host runs, in order).
    const restarts = [...(UPGRADE_RESTARTS[p.name] ?? []), ...(p.name === "dnsmasq-base" ? dnsmasqUnits : [])].filter((u) => runs.includes(u));
    entries.push({ kind: "package", name: p.name, version: p.version, ...(restarts.length ? { restarts } : {}) });
  }

  // Package installs start no daemons; a service that needs credentials waits for them (they arrive
  // with the credentials document, after this one).
  const needs = (unit: string, path: string) => entries.push({ kind: "needs", unit, path });
  if (isCompute) needs("nova-compute.service", NOVA_CREDENTIALS);
  for (const u of neutronAgents(host)) needs(u, neutronCredentialsFor(u));
  if (isMessaging) needs("rabbitmq-server.service", RABBITMQ_USERS);

  if (isCompute) entries.push({ kind: "enable", unit: INSTANCES_MOUNT_UNIT });
  if (isCompute || isNetwork) {
    entries.push({ kind: "enable", unit: CLEANUP_UNIT });
    entries.push(file(OVS_BRIDGES_SCRIPT, renderOvsBridgesScript(fleet), [{ kind: "exec" }], "0755"));
    entries.push(file(NEUTRON_CONF, renderNeutronConf(fleet, host), agentRestarts(host), "0640", "root", "neutron"));
    entries.push(file(OVS_AGENT_INI, renderOvsAgentIni(fleet, host), [restart("neutron-openvswitch-agent.service")], "0640", "root", "neutron"));
  }
  if (isCompute && cell) {
    const ksm = ksmSettings(host, cell);
    entries.push(file(KSM_SCRIPT, renderKsmScript(ksm), [restart(KSM_UNIT)], "0755"));
    entries.push(file(unitPath(KSM_UNIT), renderKsmUnit(), [reload, restart(KSM_UNIT)]));
    entries.push({ kind: "enable", unit: KSM_UNIT });
    // Read by libvirt-guests at its next start/stop; restarting it would stop every guest.
    entries.push(file(LIBVIRT_GUESTS, renderLibvirtGuests(cell.bootStorm.libvirtGuests)));
    entries.push(file(NOVA_CONF, renderNovaConf(fleet, host, cell), [restart("nova-compute.service")], "0640", "root", "nova"));
    entries.push(file(NOVA_COMPUTE_CONF, renderNovaComputeConf(host), [restart("nova-compute.service")], "0640", "root", "nova"));
    entries.push(file(NOVA_LIBVIRT_CHECK, renderNovaLibvirtCheck(), [], "0755"));
  }
  if (isNetwork) {
    entries.push(file(DHCP_AGENT_INI, renderDhcpAgentIni(), [restart("neutron-dhcp-agent.service")], "0640", "root", "neutron"));
    entries.push(file(L3_AGENT_INI, renderL3AgentIni(), [restart("neutron-l3-agent.service")], "0640", "root", "neutron"));
    entries.push(file(METADATA_AGENT_INI, renderMetadataAgentIni(fleet), [restart("neutron-metadata-agent.service")], "0640", "root", "neutron"));
    // Sized for the desktops behind the node; nf_conntrack loaded first (its key exists only then).
    entries.push(file(LOAD_MODULES_SCRIPT, renderLoadModulesScript(), [], "0755"));
    entries.push(file(MODULES_NETWORK_NODE, renderNetworkNodeModules(), [{ kind: "exec", path: LOAD_MODULES_SCRIPT }]));
    entries.push(file(SYSCTL_NETWORK_NODE, renderNetworkNodeSysctl(networkNodeLimits(fleet)), [{ kind: "sysctl" }]));
    for (const d of fleet.spec.networking.dhcp.extraDnsmasq) {
      const unit = dnsmasqUnitName(d.interface);
      entries.push(file(dnsmasqConfPath(d.interface), renderDnsmasqConf(d), [restart(unit)]));
      entries.push(file(unitPath(unit), renderDnsmasqUnit(d.interface), [reload, restart(unit)]));
    }
  }
  if (isMessaging) {
    entries.push(file(RABBITMQ_CONF, renderRabbitmqConf(fleet), [restart("rabbitmq-server.service")], "0644", "root", "rabbitmq"));
    entries.push(file(RABBITMQ_USERS_SCRIPT, renderRabbitmqUsersScript(), [], "0755"));
    entries.push(file(RABBITMQ_CLUSTER_CHECK, renderRabbitmqClusterCheck(expectedPeers(fleet, host)), [], "0755"));
  }
  // Daemons that must run, enabled so they come back after a reboot; the ones with credentials start once those exist.
  for (const unit of runs) entries.push({ kind: "enable", unit });
  for (const unit of runs) entries.push({ kind: "start", unit });
  if (isMessaging) entries.push({ kind: "check", unit: "rabbitmq-server.service", path: RABBITMQ_CLUSTER_CHECK });
  if (isCompute && cell) entries.push({ kind: "check", unit: "nova-compute.service", path: NOVA_LIBVIRT_CHECK });
  return entries;
}

/** The neutron agents a host runs. */
function neutronAgents(host: HostSpec): string[] {
  const units: string[] = [];
  if (host.roles.includes("compute") || host.roles.includes("network")) units.push("neutron-openvswitch-agent.service");
  if (host.roles.includes("network")) units.push("neutron-dhcp-agent.service", "neutron-l3-agent.service", "neutron-metadata-agent.service");
  return units;
}

/** Where an agent reads its credentials: a file in the config directory its Debian init script gives it. */
function neutronCredentialsFor(agent: string): string {
  return `${NEUTRON_AGENT_CONFIG_DIRS[agent]}${NEUTRON_CREDENTIALS_FILE}`;
}

function agentRestarts(host: HostSpec): FileAction[] {
  return neutronAgents(host).map(restart);
}

export function renderHostDocument(fleet: Fleet, host: HostSpec): string {
  return renderDocument({ host: host.name, root: hostRootOf(fleet, host), entries: hostEntries(fleet, host) });
}

/** The credentials document (secret): files that carry passwords, each restarting the services that read it. */
export function renderCredentialsDocument(fleet: Fleet, host: HostSpec, secrets: Secrets): string {
  const url = transportUrl(fleet, secrets.rabbitmqPassword);
  const entries: DocEntry[] = [];
  if (host.roles.includes("compute")) {
    entries.push(file(NOVA_CREDENTIALS, renderNovaCredentials(url, secrets.novaServicePassword, secrets.neutronServicePassword), [restart("nova-compute.service")], "0640", "root", "nova"));
  }
  // One file in each config directory the host's agents read (the OVS and L3 agents do not read
  // neutron.conf.d), each restarting the agents that read it.
  const metadata = host.roles.includes("network") ? secrets.metadataProxySharedSecret : undefined;
  const byFile = new Map<string, string[]>();
  for (const agent of neutronAgents(host)) {
    const f = neutronCredentialsFor(agent);
    byFile.set(f, [...(byFile.get(f) ?? []), agent]);
  }
  for (const [f, agents] of byFile) {
    entries.push(file(f, renderNeutronCredentials(url, metadata), agents.map(restart), "0640", "root", "neutron"));
  }
  if (host.roles.includes("messaging")) {
    entries.push(file(RABBITMQ_COOKIE, `${secrets.rabbitmqErlangCookie}\n`, [restart("rabbitmq-server.service")], "0400", "rabbitmq", "rabbitmq"));
    entries.push(
      // After the broker restarted with the new cookie: rabbitmqctl must share the node's cookie.
      file(RABBITMQ_USERS, renderRabbitmqUsers(fleet.spec.rabbitmq.user, secrets.rabbitmqPassword, fleet.spec.rabbitmq.vhost), [{ kind: "post", path: RABBITMQ_USERS_SCRIPT }], "0600"),
    );
    entries.push({ kind: "check", unit: "rabbitmq-server.service", path: RABBITMQ_CLUSTER_CHECK });
  }
  // The run that gives nova-compute its credentials is the one that starts it (the main document defers it).
  if (host.roles.includes("compute") && host.cell) entries.push({ kind: "check", unit: "nova-compute.service", path: NOVA_LIBVIRT_CHECK });
  return renderDocument({ host: host.name, root: hostRootOf(fleet, host), entries });
}

/** Where the host's documents are applied: "/" in production; "{host}" is replaced by the host name (the lab). */
export function hostRootOf(fleet: Fleet, host: HostSpec): string {
  return fleet.spec.hostRoot.replace("{host}", host.name);
}
