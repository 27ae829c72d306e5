import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost, who } from "../../shipped/hosts";
import { violation } from "../support/define";
import { ksmShipped } from "./ksmWithRamOvercommit";

export const ksmSharedTenancy: ResourceValidationPolicy = {
  name: "ksm-shared-tenancy",
  description: "Warns when KSM runs on hosts whose desktops belong to different tenants: memory deduplication enables cross-VM side channels (VUSec Flip Feng Shui, USENIX Security 2016).",
  enforcementLevel: "advisory",
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h || h.facts.tenancy !== "shared") return;
    if (ksmShipped(h).run === 1) {
      violation(report, who(h), "KSM merges memory across the desktops of different tenants on this host (tenancy: shared)", "dedicate hosts (cells) to a tenant, or accept the side-channel risk explicitly by disabling this policy for the stack");
    }
  },
};
