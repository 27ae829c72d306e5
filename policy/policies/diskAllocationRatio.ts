import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost } from "../support/hosts";
import { settings } from "../support/define";
import { checkRatio } from "../support/ratios";

const configSchema = {
  properties: {
    max: { type: "number" as const, description: "Maximum disk_allocation_ratio. 1.0: no disk overcommit for instance storage sized for boot storms (L3, L4).", default: 1.0 },
  },
};

export const diskAllocationRatio: ResourceValidationPolicy = {
  name: "disk-allocation-ratio",
  description: "Blocks compute hosts whose disk_allocation_ratio or initial_disk_allocation_ratio is above 1.0 (L3, L4: instance storage is not overcommitted).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ max: number }>(configSchema, args);
    checkRatio(h, "disk", c.max, "instance storage is not overcommitted", report, { explicitRequired: false });
  },
};
