import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost } from "../support/hosts";
import { settings } from "../support/define";
import { checkRatio } from "../support/ratios";

const configSchema = {
  properties: {
    max: { type: "number" as const, description: "Maximum cpu_allocation_ratio. 2.0: L4, beyond 1:2 desktop experience degraded.", default: 2.0 },
  },
};

export const cpuAllocationRatio: ResourceValidationPolicy = {
  name: "cpu-allocation-ratio",
  description: "Blocks compute hosts whose cpu_allocation_ratio is unset or above 2.0, or whose initial_cpu_allocation_ratio (default 16.0 on Zed) is above it (L4).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ max: number }>(configSchema, args);
    checkRatio(h, "cpu", c.max, "L4: beyond 1:2 CPU overcommit desktops degrade", report, { explicitRequired: true });
  },
};
