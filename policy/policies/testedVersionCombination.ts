import type { ResourceValidationPolicy } from "@pulumi/policy";
import { loadCombinations } from "../support/data";
import { PACKAGE_COMPONENT } from "../../facts/packages";
import { shippedHost, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";

const configSchema = {
  properties: {
    minSoakHours: { type: "number" as const, description: "Minimum user-simulation soak of a combination, hours: 168 = 7×24 (L1).", default: 168 },
    maxFailures: { type: "number" as const, description: "Maximum failures recorded in the soak (L1, L8).", default: 0 },
  },
};

export const testedVersionCombination: ResourceValidationPolicy = {
  name: "tested-version-combination",
  description: "Blocks hosts whose package versions are not a combination in policy/data/tested-combinations.yaml with a user-simulation soak of at least 168 hours and no failures (L1, L8).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h || h.packages.length === 0) return;
    const c = settings<{ minSoakHours: number; maxFailures: number }>(configSchema, args);
    const mine = new Map<string, string>();
    for (const p of h.packages) {
      const comp = PACKAGE_COMPONENT[p.name];
      if (comp) mine.set(comp, p.version);
    }
    const combos = loadCombinations();
    const matching = combos.filter((k) => [...mine].every(([comp, v]) => k.versions[comp as keyof typeof k.versions] === v));
    const shown = [...mine].map(([k, v]) => `${k} ${v}`).join(", ");
    if (matching.length === 0) {
      violation(report, who(h), `its versions (${shown}) are not a tested combination in policy/data/tested-combinations.yaml`, "use a version set recorded there, or soak-test this combination (≥ 7×24 h of user simulation) and record it");
      return;
    }
    const good = matching.filter((k) => k.soak.hours >= c.minSoakHours && k.soak.failures <= c.maxFailures);
    if (good.length === 0) {
      const k = matching[0];
      violation(report, who(h), `its versions are combination ${k.id}, whose soak lasted ${k.soak.hours} h with ${k.soak.failures} failure(s) (needs ≥ ${c.minSoakHours} h and ≤ ${c.maxFailures})`, "complete a 7×24 user-simulation soak of this combination and record it, or use a soaked version set");
    }
  },
};
