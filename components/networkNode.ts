import * as pulumi from "@pulumi/pulumi";
import type { Fleet, HostSpec } from "../stack/config/load";
import { renderCredentialsDocument, renderHostDocument, type Secrets } from "../render/document";
import { convergeHost, type SshSettings } from "./hostCommands";

export interface NetworkNodeArgs {
  fleet: Fleet;
  host: HostSpec;
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
  after: pulumi.Resource[];
}

/**
 * A network node (`vdi:network:Node`): pinned dnsmasq (L5) and neutron agents,
 * DHCP agent settings, our own dnsmasq instances bound per interface, OVS
 * bridges. Also carries the messaging role when the host has it.
 */
export class NetworkNode extends pulumi.ComponentResource {
  public readonly document: string;
  public readonly done: pulumi.Resource;

  constructor(name: string, args: NetworkNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:network:Node", name, { host: args.host.name }, opts);
    if (!args.host.roles.includes("network")) {
      throw new pulumi.ResourceError(`host ${args.host.name} has roles [${args.host.roles.join(", ")}]; a network node needs the network role`, this);
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
