import type { Fleet, HostSpec } from "./config/load";

/**
 * The order brokers converge in, one at a time: the hosts that are only brokers first (the RabbitMQ
 * component), then network nodes that are brokers too (converged with the network nodes). A broker
 * must run clustered with the brokers before it in this order once it has converged.
 */
export function brokerOrder(fleet: Fleet): HostSpec[] {
  const only = fleet.messagingHosts.filter((h) => !h.roles.includes("network") && !h.roles.includes("compute"));
  return [...only, ...fleet.messagingHosts.filter((h) => !only.includes(h))];
}

/**
 * Rollout waves (safe rollout): in each cell one canary wave first, then
 * batches of `batchSize` hosts, each wave depending on the one before, so a
 * host that fails to converge stops the rollout before it reaches the rest.
 * Linear in the number of hosts. Pure.
 */
export function planWaves<T>(hosts: T[], canaryHosts: number, batchSize: number): T[][] {
  if (canaryHosts < 1 || batchSize < 1) throw new Error("canaryHosts and batchSize must be ≥ 1");
  const waves: T[][] = [];
  if (hosts.length === 0) return waves;
  waves.push(hosts.slice(0, canaryHosts));
  for (let i = canaryHosts; i < hosts.length; i += batchSize) waves.push(hosts.slice(i, i + batchSize));
  return waves;
}
