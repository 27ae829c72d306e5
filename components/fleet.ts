import * as pulumi from "@pulumi/pulumi";
import type { Fleet as FleetModel } from "../lib/config/load";
import type { Secrets } from "../render/document";
import { Cell } from "./cell";
import { DesktopFlavor } from "./desktopFlavor";
import type { SshSettings } from "./hostConvergence";
import { NetworkNode } from "./networkNode";
import { RabbitMQ } from "./rabbitmq";
import { TenantNetworking } from "./tenantNetworking";

export interface FleetArgs {
  fleet: FleetModel;
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
}

/**
 * The whole fleet (`vdi:fleet:Fleet`). Rollout order: brokers one by one,
 * then network nodes one by one, then every cell's waves (cells in parallel).
 * A host with several roles is converged once, by the component of its first
 * role among compute, network, messaging.
 */
export class Fleet extends pulumi.ComponentResource {
  public readonly cells: Cell[] = [];
  public readonly flavors: Record<string, DesktopFlavor> = {};
  public readonly networking: TenantNetworking;
  public readonly rabbitmq: RabbitMQ;
  public readonly networkNodes: NetworkNode[] = [];

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:fleet:Fleet", name, { region: args.fleet.spec.region }, opts);
    const { fleet, ssh, secrets } = args;
    const region = fleet.spec.region;
    const child = { parent: this };

    for (const cell of fleet.cells) {
      if (!this.flavors[cell.workloadName]) {
        this.flavors[cell.workloadName] = new DesktopFlavor(cell.workload.flavor.name, { workload: cell.workloadName, flavor: cell.workload.flavor, region }, child);
      }
    }
    this.networking = new TenantNetworking(`${name}-networking`, { networking: fleet.spec.networking, region }, child);

    const brokers = fleet.messagingHosts.filter((h) => !h.roles.includes("compute") && !h.roles.includes("network"));
    this.rabbitmq = new RabbitMQ(`${name}-rabbitmq`, { fleet, brokers, ssh, secrets }, child);

    let after: pulumi.Resource[] = this.rabbitmq.done;
    for (const host of fleet.networkHosts.filter((h) => !h.roles.includes("compute"))) {
      const node = new NetworkNode(host.name, { fleet, host, ssh, secrets, after }, child);
      this.networkNodes.push(node);
      after = [node.done];
    }
    for (const cell of fleet.cells) {
      this.cells.push(new Cell(cell.name, { fleet, cell, ssh, secrets, after }, child));
    }
    this.registerOutputs({});
  }
}
