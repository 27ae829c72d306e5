/**
 * The wiring every host component shares: a host's two documents, rendered by
 * the pure renderers, and the two remote commands that ship them.
 *
 *  - `<host>-converge`: the main document on stdin (not secret, so previews show
 *    each file change), applied by host/apply.sh. Re-runs only when the document
 *    (or the apply script) changes.
 *  - `<host>-credentials`: the credentials document, a Pulumi secret, with logging
 *    off and stdout/stderr marked secret. Runs after the main document, which
 *    installs the packages whose users own the credential files. It runs the
 *    copy of the apply script the converge run kept (host/applyScript.ts).
 *
 * Every connection pins the host's SSH key; the private key is a secret.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { Fleet, HostSpec } from "../stack/config/load";
import { hostCommandName } from "../shipped/naming";
import { applyCommand, documentRoot, installedApplyCommand } from "../host/applyScript";
import { renderCredentialsDocument, renderHostDocument, type Secrets } from "../render/document";
import { RemoteCommand } from "./remoteCommand";

export interface SshSettings {
  user: string;
  privateKey: pulumi.Output<string>;
  perDialTimeoutSeconds: number;
  dialErrorLimit: number;
}

/** What every component that converges hosts takes. */
export interface FleetWiring {
  fleet: Fleet;
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
  /** Resources that must converge first (the previous rollout wave, or the infrastructure). */
  after: pulumi.Resource[];
}

/** What every host component takes. */
export interface HostArgs extends FleetWiring {
  host: HostSpec;
}

/** The SSH connection to a host, its key pinned (a fleet host, or the control plane's discovery host). */
export function connectionFor(host: Pick<HostSpec, "address" | "sshPort" | "hostKey">, ssh: SshSettings): command.types.input.remote.ConnectionArgs {
  return {
    host: host.address,
    port: host.sshPort,
    user: ssh.user,
    privateKey: ssh.privateKey,
    hostKey: host.hostKey,
    perDialTimeout: ssh.perDialTimeoutSeconds,
    dialErrorLimit: ssh.dialErrorLimit,
  };
}

/**
 * Renders the host's documents and creates its two commands as children of `parent`.
 * Returns the last command: what later rollout waves wait for.
 */
export function hostCommands(parent: pulumi.ComponentResource, args: HostArgs): RemoteCommand {
  const { fleet, host, ssh } = args;
  const document = renderHostDocument(fleet, host);
  const credentials = args.secrets.apply((s) => renderCredentialsDocument(fleet, host, s));
  const connection = connectionFor(host, ssh);
  const main = new RemoteCommand(
    hostCommandName(host.name, "converge"),
    { connection, create: applyCommand(ssh.user), stdin: document, logging: "stdoutAndStderr" },
    { parent, dependsOn: args.after, customTimeouts: { create: "60m", update: "60m" } },
  );
  return new RemoteCommand(
    hostCommandName(host.name, "credentials"),
    { connection, create: installedApplyCommand(ssh.user, documentRoot(document), hostCommandName(host.name, "converge")), stdin: pulumi.secret(credentials), logging: "none" },
    { parent, dependsOn: [main], additionalSecretOutputs: ["stdout", "stderr"], customTimeouts: { create: "20m", update: "20m" } },
  );
}

/**
 * `nova-manage cell_v2 discover_hosts --by-service` on the control plane's discovery host, for the
 * hosts of a cell once they have converged (their nova-compute registered): nova then maps them to
 * their cell, which the scheduler needs to place desktops there. It runs again when the cell's hosts
 * change (the host list is its trigger). The cell's aggregate waits for it.
 */
export function discoverHosts(parent: pulumi.ComponentResource, name: string, args: FleetWiring & { hosts: string[] }): RemoteCommand {
  const target = args.fleet.discoveryHost;
  return new RemoteCommand(
    name,
    {
      connection: connectionFor(target, args.ssh),
      create: `${args.ssh.user === "root" ? "" : "sudo -n "}nova-manage cell_v2 discover_hosts --by-service`,
      triggers: [...args.hosts].sort(),
      logging: "stdoutAndStderr",
    },
    { parent, dependsOn: args.after, customTimeouts: { create: "10m", update: "10m" } },
  );
}

/** Throws unless the host has the role its component stands for. */
export function requireRole(component: pulumi.ComponentResource, host: HostSpec, role: HostSpec["roles"][number], what: string): void {
  if (!host.roles.includes(role)) {
    throw new pulumi.ResourceError(`host ${host.name} has roles [${host.roles.join(", ")}]; ${what} needs the ${role} role`, component);
  }
}
