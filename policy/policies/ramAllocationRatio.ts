import { ratioPolicy } from "../support/ratios";

export const ramAllocationRatio = ratioPolicy<{ caps: Record<string, number>; defaultCap: number }>({
  name: "ram-allocation-ratio",
  description: "Blocks compute hosts whose ram_allocation_ratio is unset or above the workload's cap, or whose initial_ram_allocation_ratio (default 1.5 on Zed) is above it (L2).",
  kind: "ram",
  configSchema: {
    properties: {
      caps: {
        type: "object",
        description: "Maximum ram_allocation_ratio per workload kind. windows-desktop 1.2: L2, production reached only 1:1.2 with KSM.",
        additionalProperties: { type: "number" },
        default: { "windows-desktop": 1.2 },
      },
      defaultCap: { type: "number", description: "Cap for workload kinds not listed in caps (L2).", default: 1.2 },
    },
  },
  cap: (c, h) => {
    const kind = h.facts.workload_kind ?? "unknown";
    return { cap: c.caps[kind] ?? c.defaultCap, why: `L2: ${kind} memory overcommit cap` };
  },
  explicitRequired: true,
});
