import { ratioPolicy } from "../support/ratios";

export const cpuAllocationRatio = ratioPolicy<{ max: number }>({
  name: "cpu-allocation-ratio",
  description: "Blocks compute hosts whose cpu_allocation_ratio is unset or above 2.0, or whose initial_cpu_allocation_ratio (default 16.0 on Zed) is above it (L4).",
  kind: "cpu",
  configSchema: {
    properties: {
      max: { type: "number", description: "Maximum cpu_allocation_ratio. 2.0: L4, beyond 1:2 desktop experience degraded.", default: 2.0 },
    },
  },
  cap: (c) => ({ cap: c.max, why: "L4: beyond 1:2 CPU overcommit desktops degrade" }),
  explicitRequired: true,
});
