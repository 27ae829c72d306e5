import type { ResourceValidationPolicy } from "@pulumi/policy";
import { factNumber, shippedHost, profile, who } from "../../shipped/hosts";
import { violation } from "../support/define";

export const raidHotSpare: ResourceValidationPolicy = {
  name: "raid-hot-spare",
  description: "Warns when a compute host's instance-storage RAID has no hot spare: a degraded array rebuilds only after a manual swap, under boot-storm load (L3).",
  enforcementLevel: "advisory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h || !h.roles.includes("compute")) return;
    const raid = h.facts.storage_raid;
    if (!raid || raid === "none" || raid === "raid0") return;
    if ((factNumber(h, "storage_hot_spares") ?? 0) === 0) {
      violation(report, who(h), `${raid} instance storage has no hot spare`, `add a hot spare (${profile(h)}.instanceStorage.hotSpares: 1)`);
    }
  },
};
