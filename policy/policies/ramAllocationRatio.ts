import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost } from "../support/hosts";
import { settings } from "../support/define";
import { checkRatio } from "../support/ratios";

const configSchema = {
  properties: {
    caps: {
      type: "object" as const,
      description: "Maximum ram_allocation_ratio per workload kind. windows-desktop 1.2: L2, production reached only 1:1.2 with KSM.",
      additionalProperties: { type: "number" as const },
      default: { "windows-desktop": 1.2 },
    },
    defaultCap: {
      type: "number" as const,
      description: "Cap for workload kinds not listed in caps (L2).",
      default: 1.2,
    },
  },
};

export const ramAllocationRatio: ResourceValidationPolicy = {
  name: "ram-allocation-ratio",
  description: "Blocks compute hosts whose ram_allocation_ratio is unset or above the workload's cap, or whose initial_ram_allocation_ratio (default 1.5 on Zed) is above it (L2).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ caps: Record<string, number>; defaultCap: number }>(configSchema, args);
    const kind = h.facts.workload_kind ?? "unknown";
    const cap = c.caps[kind] ?? c.defaultCap;
    checkRatio(h, "ram", cap, `L2: ${kind} memory overcommit cap`, report, { explicitRequired: true });
  },
};
