import * as pulumi from "@pulumi/pulumi";
import { COMPUTE_HOST_TYPE } from "../shipped/naming";
import { hostCommands, requireRole, type HostArgs } from "./hostCommands";

/**
 * One KVM hypervisor (`vdi:compute:Host`): pinned packages, nova.conf with
 * explicit overcommit and boot limits, KSM, libvirt after OVS, stale-port
 * cleanup at boot, OVS bridges, keepalive sysctls — shipped by its two
 * commands. Three resources per host: this component and its two commands.
 * It has no outputs: what a converge applied is in its command's stdout.
 */
export class ComputeHost extends pulumi.ComponentResource {
  /** The host's last command: later rollout waves wait for it. */
  public readonly done: pulumi.Resource;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPUTE_HOST_TYPE, name, { host: args.host.name, cell: args.host.cell }, opts);
    requireRole(this, args.host, "compute", "a compute host");
    this.done = hostCommands(this, args);
    this.registerOutputs({});
  }
}
