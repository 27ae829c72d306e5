/**
 * Which Debian packages each role pins, from a version set (L1).
 *
 * Only the packages named here are pinned, installed at the exact version and
 * held; their same-source dependencies follow through their exact-version
 * Depends (e.g. nova-compute → nova-common (= version)).
 */

/** The roles a host can have. */
export const ROLES = ["compute", "network", "messaging"] as const;
export type Role = (typeof ROLES)[number];

/** The components of a version set: each names the exact Debian version of its packages. */
export const COMPONENTS = ["kernel", "qemu", "libvirt", "openvswitch", "dnsmasq", "rabbitmq", "nova", "neutron"] as const;
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
  messaging: [["rabbitmq-server", "rabbitmq"]],
};

/** Every host runs the pinned kernel. */
export const KERNEL_PACKAGE: [string, Component] = ["linux-image-amd64", "kernel"];

/** Packages of a host with these roles, each once, in a stable order. */
export function packagesFor(roles: Role[], versions: VersionSet): Array<{ name: string; version: string; component: Component }> {
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
