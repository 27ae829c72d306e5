/**
 * vdi-fleet: an OpenStack cloud-desktop fleet, converged over SSH.
 * Config: Pulumi.<stack>.yaml (`vdi-fleet:fleet`, see README); secrets via
 * `pulumi config set --secret` or the stack's ESC environment.
 */
import { Fleet } from "./components/fleet";
import { readStack } from "./lib/stack";

const { fleet, ssh, secrets } = readStack();
const vdi = new Fleet("vdi", { fleet, ssh, secrets });

/** What the stack deploys, without anything secret. */
export const summary = {
  region: fleet.spec.region,
  cells: fleet.cells.map((c) => ({
    name: c.name,
    availabilityZone: c.availabilityZone,
    workload: c.workloadName,
    desktops: c.desktops,
    hosts: c.hosts.length,
  })),
  computeHosts: fleet.hosts.filter((h) => h.roles.includes("compute")).length,
  networkHosts: fleet.networkHosts.length,
  messagingHosts: fleet.messagingHosts.length,
};
export const rolloutWaves = vdi.cells.map((c) => ({ cell: c.aggregate.name, waves: c.waves.length }));
