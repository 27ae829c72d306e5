/**
 * Which Debian packages each role pins, from a version set (L1), and what
 * must restart when a pinned version changes.
 *
 * Only the packages named here are pinned, installed at the exact version and
 * held; their same-source dependencies follow through their exact-version
 * Depends (e.g. nova-compute → nova-common (= version); the 31 erlang-*
 * packages → erlang-base (= version)). What floats beyond that (python3-oslo.*,
 * for nova) is fixed by the version set's apt source: a snapshot of the archive.
 * Read from the bookworm packages' control files.
 */

/** The roles a host can have. */
export const ROLES = ["compute", "network", "messaging"] as const;
export type Role = (typeof ROLES)[number];

/** The components of a version set: each names the exact Debian version of its packages. */
export const COMPONENTS = ["kernel", "qemu", "libvirt", "openvswitch", "dnsmasq", "rabbitmq", "erlang", "nova", "neutron"] as const;
export type Component = (typeof COMPONENTS)[number];
export type VersionSet = Record<Component, string>;

/** Debian package → the version-set component it takes its version from. */
export const ROLE_PACKAGES: Record<Role, Array<[string, Component]>> = {
  compute: [
    ["qemu-system-x86", "qemu"],
    ["libvirt-daemon-system", "libvirt"],
    ["openvswitch-switch", "openvswitch"],
    ["nova-compute", "nova"],
    ["neutron-openvswitch-agent", "neutron"],
  ],
  network: [
    ["openvswitch-switch", "openvswitch"],
    ["dnsmasq-base", "dnsmasq"],
    ["neutron-openvswitch-agent", "neutron"],
    ["neutron-dhcp-agent", "neutron"],
    ["neutron-l3-agent", "neutron"],
    ["neutron-metadata-agent", "neutron"],
  ],
  // rabbitmq-server depends on erlang-base without a version: pinned here, it fixes every erlang-* package.
  messaging: [
    ["rabbitmq-server", "rabbitmq"],
    ["erlang-base", "erlang"],
  ],
};

/**
 * The units that run a package's code, restarted in this order when another version of the package
 * was installed (an upgrade or downgrade), one host at a time through the rollout waves. A package
 * not listed restarts nothing: the kernel runs after the next reboot, a new QEMU in each guest after
 * the guest restarts (or migrates) — restarting libvirt-guests would stop every guest. Restarting
 * libvirtd leaves guests running. Restarting Open vSwitch drops the flows for a few seconds until the
 * OVS agent, restarted right after it, has set them again. dnsmasq-base's code runs in our own
 * instances (see `dnsmasqUnits`) and in the DHCP agent's children, which the agent restarts.
 */
export const UPGRADE_RESTARTS: Record<string, string[]> = {
  "libvirt-daemon-system": ["libvirtd.service"],
  "openvswitch-switch": ["openvswitch-switch.service", "neutron-openvswitch-agent.service"],
  "dnsmasq-base": ["neutron-dhcp-agent.service"],
  "nova-compute": ["nova-compute.service"],
  "neutron-openvswitch-agent": ["neutron-openvswitch-agent.service"],
  "neutron-dhcp-agent": ["neutron-dhcp-agent.service"],
  "neutron-l3-agent": ["neutron-l3-agent.service"],
  "neutron-metadata-agent": ["neutron-metadata-agent.service"],
  "rabbitmq-server": ["rabbitmq-server.service"],
  "erlang-base": ["rabbitmq-server.service"],
};

/** Every host runs the pinned kernel. */
export const KERNEL_PACKAGE: [string, Component] = ["linux-image-amd64", "kernel"];

/** Packages of a host with these roles, each once, in a stable order. */
export function packagesFor(roles: readonly Role[], versions: VersionSet): Array<{ name: string; version: string; component: Component }> {
  const out: Array<{ name: string; version: string; component: Component }> = [];
  const seen = new Set<string>();
  for (const [name, component] of [KERNEL_PACKAGE, ...(["messaging", "network", "compute"] as Role[]).filter((r) => roles.includes(r)).flatMap((r) => ROLE_PACKAGES[r])]) {
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ name, version: versions[component], component });
  }
  return out;
}

/** Debian package → version-set component, from the same table the stack pins with. */
export const PACKAGE_COMPONENT: Record<string, Component> = Object.fromEntries([KERNEL_PACKAGE, ...Object.values(ROLE_PACKAGES).flat()].map(([pkg, comp]) => [pkg, comp]));
