import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import type { Networking } from "../stack/config/schema";

export interface TenantNetworkingArgs {
  networking: Networking;
  region: string;
}

/**
 * Provider and tenant networks (`vdi:network:TenantNetworking`): the external
 * provider network on its physnet, desktop networks with DHCP, and a router
 * with the provider network as gateway and an interface on each desktop subnet.
 */
export class TenantNetworking extends pulumi.ComponentResource {
  public readonly providerNetwork: openstack.networking.Network;
  public readonly router: openstack.networking.Router;
  public readonly networks: Record<string, openstack.networking.Network> = {};

  constructor(name: string, args: TenantNetworkingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:network:TenantNetworking", name, {}, opts);
    const { networking: net, region } = args;
    const pn = net.providerNetwork;
    const child = { parent: this };
    this.providerNetwork = new openstack.networking.Network(
      `${name}-${pn.name}`,
      {
        name: pn.name,
        external: true,
        shared: false,
        segments: [{ networkType: pn.type, physicalNetwork: pn.physnet, segmentationId: pn.segmentationId }],
        region,
      },
      child,
    );
    const providerSubnet = new openstack.networking.Subnet(
      `${name}-${pn.name}-subnet`,
      {
        name: `${pn.name}-subnet`,
        networkId: this.providerNetwork.id,
        cidr: pn.cidr,
        gatewayIp: pn.gatewayIp,
        enableDhcp: false,
        allocationPools: pn.allocationPools.map((p) => ({ start: p.start, end: p.end })),
        region,
      },
      child,
    );
    this.router = new openstack.networking.Router(
      `${name}-${net.router.name}`,
      { name: net.router.name, externalNetworkId: this.providerNetwork.id, region },
      { parent: this, dependsOn: [providerSubnet] },
    );
    for (const t of net.tenantNetworks) {
      const network = new openstack.networking.Network(`${name}-${t.name}`, { name: t.name, region }, child);
      this.networks[t.name] = network;
      const subnet = new openstack.networking.Subnet(
        `${name}-${t.name}-subnet`,
        {
          name: `${t.name}-subnet`,
          networkId: network.id,
          cidr: t.cidr,
          gatewayIp: t.gatewayIp,
          enableDhcp: t.enableDhcp,
          dnsNameservers: t.dnsNameservers,
          allocationPools: t.allocationPools?.map((p) => ({ start: p.start, end: p.end })),
          region,
        },
        child,
      );
      new openstack.networking.RouterInterface(`${name}-${t.name}-router-interface`, { routerId: this.router.id, subnetId: subnet.id, region }, child);
    }
    this.registerOutputs({ providerNetworkId: this.providerNetwork.id, routerId: this.router.id, networkIds: Object.fromEntries(Object.entries(this.networks).map(([n, net]) => [n, net.id])) });
  }
}
