import * as pulumi from "@pulumi/pulumi";
import { hostCommands, requireRole, type HostArgs } from "./hostCommands";

/**
 * A network node (`vdi:network:Node`): pinned dnsmasq (L5) and neutron agents,
 * DHCP agent settings, our own dnsmasq instances bound per interface, OVS
 * bridges. Also carries the messaging role when the host has it. It has no
 * outputs: what a converge applied is in its command's stdout.
 */
export class NetworkNode extends pulumi.ComponentResource {
  /** The host's last command: what converges after the network nodes waits for it. */
  public readonly done: pulumi.Resource;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:network:Node", name, { host: args.host.name }, opts);
    requireRole(this, args.host, "network", "a network node");
    this.done = hostCommands(this, args);
    this.registerOutputs({});
  }
}
