/**
 * Shared judgement of nova's allocation ratios (L2, L4): the explicit ratio
 * and initial_* as shipped in nova.conf, against a cap.
 */
import type { PolicyConfigSchema, ReportViolation, ResourceValidationPolicy } from "@pulumi/policy";
import type { ComputeView, RatioKind } from "../../shipped/hosts";
import { computeHost, novaNumber, who } from "../../shipped/hosts";
import { settings, violation } from "./define";
import { NOVA_CONF } from "../../facts/paths";

const CONFIG_KEY: Record<RatioKind, string> = { cpu: "cpuAllocationRatio", ram: "ramAllocationRatio", disk: "diskAllocationRatio" };
const cap1 = (s: string) => s[0].toUpperCase() + s.slice(1);

export function checkRatio(h: ComputeView, kind: RatioKind, cap: number, why: string, report: ReportViolation, opts: { explicitRequired: boolean }): void {
  const key = `${kind}_allocation_ratio`;
  const initialKey = `initial_${key}`;
  const cfg = CONFIG_KEY[kind];
  const explicit = novaNumber(h, "DEFAULT", key);
  const where = `${NOVA_CONF} [DEFAULT]`;
  if (explicit === undefined || explicit === 0) {
    if (opts.explicitRequired) {
      violation(report, who(h), `${where} ${key} is ${explicit === 0 ? "0.0" : "unset"}, so nova keeps whatever ratio the node record has (initial_${key} for new nodes)`, `set overcommit.${cfg} (≤ ${cap}) in the stack config`);
    }
  } else if (Number.isNaN(explicit)) {
    violation(report, who(h), `${where} ${key} is not a number`, `set overcommit.${cfg} to a number ≤ ${cap}`);
  } else if (explicit > cap) {
    violation(report, who(h), `${where} ${key} = ${explicit} is above the cap ${cap} (${why})`, `set overcommit.${cfg} ≤ ${cap}`);
  }
  const initial = novaNumber(h, "DEFAULT", initialKey);
  if (initial === undefined) {
    const dflt = h.release?.initial[kind];
    if (dflt === undefined) {
      violation(report, who(h), `${where} ${initialKey} is unset and the nova release of ${h.novaVersion ?? "this host"} is not recorded in facts/nova.ts, so its default is unknown`, `set overcommit.initial${cap1(cfg)} ≤ ${cap}`);
    } else if (dflt > cap) {
      violation(report, who(h), `${where} ${initialKey} is unset, so nova ${h.release!.name} uses its default ${dflt}, above the cap ${cap} (${why})`, `set overcommit.initial${cap1(cfg)} ≤ ${cap}`);
    }
  } else if (Number.isNaN(initial)) {
    violation(report, who(h), `${where} ${initialKey} is not a number`, `set overcommit.initial${cap1(cfg)} to a number ≤ ${cap}`);
  } else if (initial > cap) {
    violation(report, who(h), `${where} ${initialKey} = ${initial} is above the cap ${cap} (${why})`, `set overcommit.initial${cap1(cfg)} ≤ ${cap}`);
  }
}

/** The shape shared by the three ratio policies: judge one ratio of every compute host against a cap. */
export function ratioPolicy<C>(p: {
  name: string;
  description: string;
  kind: RatioKind;
  configSchema: PolicyConfigSchema;
  cap: (config: C, host: ComputeView) => { cap: number; why: string };
  explicitRequired: boolean;
}): ResourceValidationPolicy {
  return {
    name: p.name,
    description: p.description,
    enforcementLevel: "mandatory",
    configSchema: p.configSchema,
    validateResource: (args, report) => {
      const h = computeHost(args.type, args.props);
      if (!h) return;
      const { cap, why } = p.cap(settings<C>(p.configSchema, args), h);
      checkRatio(h, p.kind, cap, why, report, { explicitRequired: p.explicitRequired });
    },
  };
}
