/** Every lab check, in the order the lab runs them (rollout and idempotency last: they re-converge). */
import type { Check } from "../types";
import { novaCheck } from "./nova";
import { rabbitmqCheck } from "./rabbitmq";
import { ovsCheck } from "./ovs";
import { systemdCheck } from "./systemd";
import { dnsmasqCheck } from "./dnsmasq";
import { aptCheck } from "./apt";
import { idempotencyCheck } from "./idempotency";
import { rolloutCheck } from "./rollout";

export const ALL_CHECKS: Check[] = [novaCheck, rabbitmqCheck, ovsCheck, systemdCheck, dnsmasqCheck, aptCheck, rolloutCheck, idempotencyCheck];

/** The checks with these ids (all when none given); throws naming unknown ids. */
export function selectChecks(only?: string[]): Check[] {
  if (!only?.length) return ALL_CHECKS;
  const unknown = only.filter((id) => !ALL_CHECKS.some((c) => c.id === id));
  if (unknown.length) throw new Error(`unknown check ${unknown.join(", ")}: checks are ${ALL_CHECKS.map((c) => c.id).join(", ")}`);
  return ALL_CHECKS.filter((c) => only.includes(c.id));
}
