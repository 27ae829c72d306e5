import type { ResourceValidationPolicy } from "@pulumi/policy";
import { factNumber, shippedHost, profile, who } from "../../shipped/hosts";
import { violation } from "../support/define";

export const instanceStorageRaid: ResourceValidationPolicy = {
  name: "instance-storage-raid",
  description: "Blocks compute hosts whose instance storage is a single disk or RAID 0 (L3: boot storms saturated single disks; instance storage goes on RAID of several disks).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h || !h.roles.includes("compute")) return;
    const raid = h.facts.storage_raid;
    const disks = factNumber(h, "storage_disks");
    if (raid === undefined || disks === undefined) {
      violation(report, who(h), "the host document declares no instance-storage layout (storage_raid, storage_disks)", `give ${profile(h)}.instanceStorage`);
    } else if (raid === "none" || raid === "raid0" || disks < 2) {
      violation(report, who(h), `instance storage is ${raid === "none" ? "a single disk" : raid === "raid0" ? `RAID 0 over ${disks} disks (one failure loses every desktop)` : `${raid} on ${disks} disk`} (L3)`, `put instance storage on RAID 10 (or RAID 1/5/6) of several disks in ${profile(h)}.instanceStorage`);
    }
  },
};
