import * as pulumi from "@pulumi/pulumi";
import type { Fleet, HostSpec } from "../stack/config/load";
import { renderCredentialsDocument, renderHostDocument, type Secrets } from "../render/document";
import { convergeHost, type SshSettings } from "./hostCommands";
import { COMPUTE_HOST_TYPE } from "../shipped/naming";

export interface ComputeHostArgs {
  fleet: Fleet;
  host: HostSpec;
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
  /** The previous rollout wave. */
  after: pulumi.Resource[];
}

/**
 * One KVM hypervisor (`vdi:compute:Host`): pinned packages, nova.conf with
 * explicit overcommit and boot limits, KSM, libvirt after OVS, stale-port
 * cleanup at boot, OVS bridges, keepalive sysctls — one document, one command.
 * Three resources per host: this component and its two commands.
 */
export class ComputeHost extends pulumi.ComponentResource {
  /** The host's main document, as shipped. */
  public readonly document: string;
  /** The last command of the host: later waves depend on it. */
  public readonly done: pulumi.Resource;

  constructor(name: string, args: ComputeHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPUTE_HOST_TYPE, name, { host: args.host.name, cell: args.host.cell }, opts);
    if (!args.host.roles.includes("compute")) {
      throw new pulumi.ResourceError(`host ${args.host.name} has roles [${args.host.roles.join(", ")}]; a compute host needs the compute role`, this);
    }
    this.document = renderHostDocument(args.fleet, args.host);
    this.done = convergeHost(this, {
      host: args.host,
      ssh: args.ssh,
      document: this.document,
      credentials: args.secrets.apply((s) => renderCredentialsDocument(args.fleet, args.host, s)),
      after: args.after,
    });
    this.registerOutputs({});
  }
}
