/** Every lab check, in the order the lab runs them (those that re-converge, upgrade and reboot last). */
import type { Check } from "../types";
import { novaCheck } from "./nova";
import { novaLibvirtCheck } from "./novaLibvirt";
import { rabbitmqCheck } from "./rabbitmq";
import { ovsCheck } from "./ovs";
import { systemdCheck } from "./systemd";
import { dnsmasqCheck } from "./dnsmasq";
import { aptCheck } from "./apt";
import { idempotencyCheck } from "./idempotency";
import { rolloutCheck } from "./rollout";
import { hostsCheck } from "./hosts";
import { pinsCheck } from "./pins";
import { brokersCheck } from "./brokers";
import { brokerLossCheck } from "./brokerLoss";
import { placementCheck } from "./placement";
import { resourcesCheck } from "./resources";
import { upgradeCheck } from "./upgrade";
import { rebootCheck } from "./reboot";

export const ALL_CHECKS: Check[] = [
  hostsCheck,
  pinsCheck,
  brokersCheck,
  placementCheck,
  brokerLossCheck,
  resourcesCheck,
  novaCheck,
  novaLibvirtCheck,
  systemdCheck,
  aptCheck,
  dnsmasqCheck,
  ovsCheck,
  rabbitmqCheck,
  rolloutCheck,
  idempotencyCheck,
  upgradeCheck,
  rebootCheck,
];

/** The checks with these ids (all when none given); throws naming unknown ids. */
export function selectChecks(only?: string[]): Check[] {
  if (!only?.length) return ALL_CHECKS;
  const unknown = only.filter((id) => !ALL_CHECKS.some((c) => c.id === id));
  if (unknown.length) throw new Error(`unknown check ${unknown.join(", ")}: checks are ${ALL_CHECKS.map((c) => c.id).join(", ")}`);
  return ALL_CHECKS.filter((c) => only.includes(c.id));
}
