import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import type { Flavor } from "../stack/config/schema";

export interface DesktopFlavorArgs {
  workload: string;
  flavor: Flavor;
  region: string;
}

/**
 * A desktop flavor from a workload profile (`vdi:openstack:DesktopFlavor`),
 * with its extra specs (e.g. hw:cpu_policy=shared, quota:disk_total_iops_sec),
 * which nova validates at API microversion ≥ 2.86.
 */
export class DesktopFlavor extends pulumi.ComponentResource {
  public readonly flavor: openstack.compute.Flavor;

  constructor(name: string, args: DesktopFlavorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:openstack:DesktopFlavor", name, { workload: args.workload }, opts);
    const f = args.flavor;
    this.flavor = new openstack.compute.Flavor(
      name,
      {
        name: f.name,
        vcpus: f.vcpus,
        ram: f.ramMb,
        disk: f.diskGb,
        isPublic: f.isPublic,
        extraSpecs: Object.fromEntries(Object.entries(f.extraSpecs).sort(([a], [b]) => a.localeCompare(b))),
        description: `Desktop flavor of workload ${args.workload} (vdi-fleet).`,
        region: args.region,
      },
      { parent: this },
    );
    this.registerOutputs({ flavorId: this.flavor.id });
  }
}
