import * as pulumi from "@pulumi/pulumi";
import type { Fleet as FleetModel } from "../stack/config/load";
import type { StackPart } from "../stack/config/part";
import { regionHosts, regionRevision, type RegionOutput } from "../stack/region";
import type { Secrets } from "../render/document";
import { Cell } from "./cell";
import { DesktopFlavor } from "./desktopFlavor";
import type { SshSettings } from "./hostCommands";
import { NetworkNode } from "./networkNode";
import { RabbitMQ } from "./rabbitmq";
import { TenantNetworking } from "./tenantNetworking";
import { FLEET_TYPE } from "../shipped/naming";

export interface FleetArgs {
  fleet: FleetModel;
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
  /** The part of the region this stack deploys (default: all of it). */
  part?: StackPart;
}

/**
 * The fleet, or the part of it this stack deploys (`vdi:fleet:Fleet`).
 * Rollout order: brokers one by one, then network nodes one by one, then every
 * cell's waves (cells in parallel). A host with several roles is converged
 * once, by the component of its first role among compute, network, messaging.
 *
 * Split regions (stack/config/part.ts): the region stack has the brokers,
 * network nodes, flavors and networks and exports `region`; a cell stack has
 * one cell (the program checks the region stack before creating it: index.ts).
 */
export class Fleet extends pulumi.ComponentResource {
  public readonly cells: Cell[] = [];
  public readonly flavors: Record<string, DesktopFlavor> = {};
  public readonly networking?: TenantNetworking;
  public readonly rabbitmq?: RabbitMQ;
  public readonly networkNodes: NetworkNode[] = [];
  /** The region stack's output (region and whole-fleet stacks). */
  public readonly region?: RegionOutput;

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    // Where the fleet-wide settings were written, for the policy pack's fixes (never shipped:
    // stack/config/provenance.ts); inputs and outputs, as for a cell.
    super(FLEET_TYPE, name, { region: args.fleet.spec.region, provenance: args.fleet.provenance }, opts);
    const { fleet, ssh, secrets } = args;
    const part = args.part ?? { kind: "fleet" };
    const region = fleet.spec.region;
    const child = { parent: this };
    let after: pulumi.Resource[] = [];

    if (part.kind !== "cell") {
      for (const cell of fleet.cells) {
        if (!this.flavors[cell.workloadName]) {
          this.flavors[cell.workloadName] = new DesktopFlavor(cell.workload.flavor.name, { workload: cell.workloadName, flavor: cell.workload.flavor, region }, child);
        }
      }
      this.networking = new TenantNetworking(`${name}-networking`, { networking: fleet.spec.networking, region }, child);
      const inRegion = new Set(regionHosts(fleet).map((h) => h.name));
      const brokers = fleet.messagingHosts.filter((h) => inRegion.has(h.name) && !h.roles.includes("network"));
      this.rabbitmq = new RabbitMQ(`${name}-rabbitmq`, { fleet, brokers, ssh, secrets }, child);
      after = this.rabbitmq.done;
      for (const host of fleet.networkHosts.filter((h) => inRegion.has(h.name))) {
        const node = new NetworkNode(host.name, { fleet, host, ssh, secrets, after }, child);
        this.networkNodes.push(node);
        after = [node.done];
      }
      this.region = { region, revision: regionRevision(fleet), cells: fleet.cells.map((c) => c.name) };
    }

    const cells = part.kind === "region" ? [] : part.kind === "cell" ? fleet.cells.filter((c) => c.name === part.cell) : fleet.cells;
    for (const cell of cells) {
      this.cells.push(new Cell(cell.name, { fleet, cell, ssh, secrets, after }, child));
    }
    this.registerOutputs({ region: this.region, provenance: args.fleet.provenance });
  }
}
