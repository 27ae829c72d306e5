/**
 * How the stack's resources are named and typed: the type tokens of the
 * components and provider resources the review tooling, the policies and the
 * lab look for, and the names of a host's two commands — `<host>-converge`
 * ships the main document, `<host>-credentials` the secret one. The components
 * create them by these names; everything else finds them by these names.
 */
export const COMMAND_TYPE = "command:remote:Command";
export const COMPUTE_HOST_TYPE = "vdi:compute:Host";
export const CELL_TYPE = "vdi:fleet:Cell";
export const FLEET_TYPE = "vdi:fleet:Fleet";
export const AGGREGATE = "openstack:compute/aggregateV2:AggregateV2";
export const FLAVOR = "openstack:compute/flavor:Flavor";

export type HostCommandKind = "converge" | "credentials";

export const hostCommandName = (host: string, kind: HostCommandKind): string => `${host}-${kind}`;

/** The host and kind of a host command, or undefined for any other resource. */
export function hostCommand(r: { type: string; name: string }): { host: string; kind: HostCommandKind } | undefined {
  if (r.type !== COMMAND_TYPE) return undefined;
  const m = /^(.*)-(converge|credentials)$/.exec(r.name);
  return m ? { host: m[1], kind: m[2] as HostCommandKind } : undefined;
}
