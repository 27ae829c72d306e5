/**
 * How a host's commands are named: `<host>-converge` ships the main document,
 * `<host>-credentials` the secret one. The components create them; the report,
 * the comparison, the plan and the tests find hosts by these names.
 */
export const COMMAND_TYPE = "command:remote:Command";

export type HostCommandKind = "converge" | "credentials";

export const hostCommandName = (host: string, kind: HostCommandKind): string => `${host}-${kind}`;

/** The host and kind of a host command, or undefined for any other resource. */
export function hostCommand(r: { type: string; name: string }): { host: string; kind: HostCommandKind } | undefined {
  if (r.type !== COMMAND_TYPE) return undefined;
  const m = /^(.*)-(converge|credentials)$/.exec(r.name);
  return m ? { host: m[1], kind: m[2] as HostCommandKind } : undefined;
}
