import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost, effectiveRatio, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";

const configSchema = {
  properties: {
    comfortable: { type: "number" as const, description: "CPU ratio above which desktops start to feel slow under load; L4 saw degradation beyond 1:2, so warn from 1.5.", default: 1.5 },
  },
};

export const cpuRatioComfort: ResourceValidationPolicy = {
  name: "cpu-ratio-comfort",
  description: "Warns when a compute host's CPU overcommit is above 1.5, approaching the 1:2 where desktop experience degraded (L4).",
  enforcementLevel: "advisory",
  configSchema,
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ comfortable: number }>(configSchema, args);
    const r = effectiveRatio(h, "cpu");
    if (r !== undefined && r > c.comfortable) {
      violation(report, who(h), `CPU overcommit ${r} is above ${c.comfortable}; at peak load desktops share cores (L4)`, `consider overcommit.cpuAllocationRatio ≤ ${c.comfortable}`);
    }
  },
};
