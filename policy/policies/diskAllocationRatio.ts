import { ratioPolicy } from "../support/ratios";

export const diskAllocationRatio = ratioPolicy<{ max: number }>({
  name: "disk-allocation-ratio",
  description: "Blocks compute hosts whose disk_allocation_ratio or initial_disk_allocation_ratio is above 1.0 (L3, L4: instance storage is not overcommitted).",
  kind: "disk",
  configSchema: {
    properties: {
      max: { type: "number", description: "Maximum disk_allocation_ratio. 1.0: no disk overcommit for instance storage sized for boot storms (L3, L4).", default: 1.0 },
    },
  },
  cap: (c) => ({ cap: c.max, why: "instance storage is not overcommitted" }),
  explicitRequired: false,
});
