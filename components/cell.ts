import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import type { CellSpec } from "../stack/config/load";
import { planWaves } from "../stack/rollout";
import { ComputeHost } from "./computeHost";
import { discoverHosts, type FleetWiring } from "./hostCommands";
import { CELL_TYPE } from "../shipped/naming";

/** `after`: the infrastructure the cell's hosts need first (brokers, network nodes). */
export interface CellArgs extends FleetWiring {
  cell: CellSpec;
}

/**
 * A cell (`vdi:fleet:Cell`): its compute hosts converged in waves — a canary,
 * then batches, each wave after the previous one — and the aggregate /
 * availability zone holding the hosts once they have converged. The
 * aggregate's metadata records the workload and planned desktops, which the
 * capacity policy reads.
 */
export class Cell extends pulumi.ComponentResource {
  public readonly hosts: ComputeHost[] = [];
  /** Host names per rollout wave: the canary first, then batches. */
  public readonly waves: string[][];
  /** nova-manage cell_v2 discover_hosts for the cell's hosts, on the control plane. */
  public readonly discovery: pulumi.Resource;
  public readonly aggregate: openstack.compute.AggregateV2;
  public readonly aggregateId: pulumi.Output<string>;

  constructor(name: string, args: CellArgs, opts?: pulumi.ComponentResourceOptions) {
    // The provenance of the cell's settings is registered with the component (inputs and outputs:
    // the policy pack reads it in Analyze and in AnalyzeStack) so a policy's fix names the line to
    // edit; it never reaches a host (stack/config/provenance.ts).
    super(CELL_TYPE, name, { cell: args.cell.name, provenance: args.cell.provenance }, opts);
    const { fleet, cell } = args;
    const plan = planWaves(cell.hosts, fleet.spec.rollout.canaryHosts, fleet.spec.rollout.batchSize);
    this.waves = plan.map((w) => w.map((h) => h.name));
    let after = args.after;
    for (const wave of plan) {
      const members = wave.map((host) => new ComputeHost(host.name, { fleet, host, ssh: args.ssh, secrets: args.secrets, after }, { parent: this }));
      this.hosts.push(...members);
      after = members.map((m) => m.done);
    }
    this.discovery = discoverHosts(this, `${name}-discover-hosts`, { fleet, ssh: args.ssh, secrets: args.secrets, after, hosts: cell.hosts.map((h) => h.name) });
    this.aggregate = new openstack.compute.AggregateV2(
      `${name}-aggregate`,
      {
        name: cell.name,
        zone: cell.availabilityZone,
        hosts: cell.hosts.map((h) => h.name),
        metadata: {
          "vdi:cell": cell.name,
          "vdi:workload": cell.workloadName,
          "vdi:workload_kind": cell.workload.kind,
          "vdi:flavor": cell.workload.flavor.name,
          // The flavor's size, recorded with the cell: a cell stack's flavor lives in the region
          // stack (same region revision, stack/region.ts), and capacity is judged from these.
          "vdi:flavor_vcpus": String(cell.workload.flavor.vcpus),
          "vdi:flavor_ram_mb": String(cell.workload.flavor.ramMb),
          "vdi:flavor_disk_gb": String(cell.workload.flavor.diskGb),
          "vdi:planned_desktops": String(cell.desktops),
        },
        region: fleet.spec.region,
      },
      // nova adds a host only once its nova-compute has registered, and schedules to it only once it
      // is mapped to its cell: after the last wave and the discovery.
      { parent: this, dependsOn: [this.discovery] },
    );
    this.aggregateId = this.aggregate.id;
    this.registerOutputs({ aggregateId: this.aggregateId, waves: this.waves, provenance: cell.provenance });
  }
}
