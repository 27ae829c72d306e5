import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost, effectiveRatio, who } from "../../shipped/hosts";
import { violation } from "../support/define";
import { KSM_SCRIPT, KSM_UNIT } from "../../facts/paths";


/** KSM as shipped: the run value of the KSM script and whether its unit is enabled. */
export function ksmShipped(h: { file(p: string): { content: string } | undefined; enabled: string[] }): { run?: number; enabled: boolean } {
  const m = /^RUN=(\d)$/m.exec(h.file(KSM_SCRIPT)?.content ?? "");
  return { run: m ? Number(m[1]) : undefined, enabled: h.enabled.includes(KSM_UNIT) };
}

export const ksmWithRamOvercommit: ResourceValidationPolicy = {
  name: "ksm-with-ram-overcommit",
  description: "Blocks compute hosts that overcommit RAM (ratio above 1.0) without KSM running at boot (L2: KSM is what made 1:1.2 possible).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const ratio = effectiveRatio(h, "ram");
    if (ratio === undefined || Number.isNaN(ratio) || ratio <= 1.0) return;
    const k = ksmShipped(h);
    if (k.run !== 1 || !k.enabled) {
      const state = k.run === undefined ? "no KSM settings are shipped" : k.run !== 1 ? `KSM run=${k.run}` : `${KSM_UNIT} is not enabled`;
      violation(report, who(h), `RAM is overcommitted (ram_allocation_ratio ${ratio}) but ${state}`, "set overcommit.ksm.enabled: true, or overcommit.ramAllocationRatio: 1.0");
    }
  },
};
