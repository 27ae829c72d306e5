import type { ResourceValidationPolicy } from "@pulumi/policy";
import { isExactDebVersion, upstreamOf } from "../../formats/dpkg";
import { loadDenyList, satisfies } from "../support/data";
import { shippedHost, who } from "../../shipped/hosts";
import { violation } from "../support/define";

export const packageDenyList: ResourceValidationPolicy = {
  name: "package-deny-list",
  description: "Blocks hosts that would install a package version on the deny list in policy/data/deny-list.yaml (known-bad or insecure versions, each with its reason and source; L1, L5).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const deny = loadDenyList();
    for (const p of h.packages) {
      if (!isExactDebVersion(p.version)) continue; // exact-package-pins reports it
      for (const e of deny) {
        if (e.package !== p.name) continue;
        const v = e.part === "upstream" ? upstreamOf(p.version) : p.version;
        if (satisfies(v, e.constraint)) {
          violation(report, who(h), `${p.name} ${p.version} is on the deny list (${e.part} ${e.constraint.op} ${e.constraint.version}): ${e.reason} [${e.source}]`, `choose a tested version of ${p.name} outside that range in the version set`);
        }
      }
    }
  },
};
