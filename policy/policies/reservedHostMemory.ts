import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost, effectiveRatio, factNumber, novaNumber, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";
import { NOVA_DEFAULTS } from "../../facts/nova";

const configSchema = {
  properties: {
    baseMb: { type: "number" as const, description: `Fixed part of the floor, MiB, for the host OS, libvirt, OVS and nova-compute (nova's own default of ${NOVA_DEFAULTS.reservedHostMemoryMb} is too small; L2).`, default: 4096 },
    fractionOfRam: { type: "number" as const, description: "Extra floor as a fraction of host RAM when RAM is not overcommitted (headroom under memory pressure, L2).", default: 0.02 },
    fractionOfRamOvercommitted: {
      type: "number" as const,
      description: "Extra floor as a fraction of host RAM when RAM is overcommitted: KSM unmerge may suddenly need more memory than is free (ksm.rst; L2).",
      default: 0.05,
    },
  },
};
type Cfg = { baseMb: number; fractionOfRam: number; fractionOfRamOvercommitted: number };

/** The floor for reserved_host_memory_mb on a host with this RAM and RAM ratio. */
export function reservedFloorMb(ramMb: number, ramRatio: number, c: Cfg): number {
  return Math.ceil(c.baseMb + ramMb * (ramRatio > 1.0 ? c.fractionOfRamOvercommitted : c.fractionOfRam));
}

export const reservedHostMemory: ResourceValidationPolicy = {
  name: "reserved-host-memory",
  description: "Blocks compute hosts whose reserved_host_memory_mb is below a floor that grows with host RAM, and faster when RAM is overcommitted (L2, KSM unmerge).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const c = settings<Cfg>(configSchema, args);
    const ram = factNumber(h, "ram_mb");
    if (ram === undefined) {
      violation(report, who(h), "the host document declares no ram_mb fact, so the reserved-memory floor cannot be judged", "ship the host's hardware profile (fact ram_mb)");
      return;
    }
    const ratio = effectiveRatio(h, "ram") ?? 1.0;
    const floor = reservedFloorMb(ram, Number.isNaN(ratio) ? 2 : ratio, c);
    const reserved = novaNumber(h, "DEFAULT", "reserved_host_memory_mb") ?? NOVA_DEFAULTS.reservedHostMemoryMb;
    if (Number.isNaN(reserved) || reserved < floor) {
      violation(
        report,
        who(h),
        `reserved_host_memory_mb = ${Number.isNaN(reserved) ? "not a number" : reserved} is below ${floor} MiB (${c.baseMb} + ${ratio > 1.0 ? c.fractionOfRamOvercommitted : c.fractionOfRam} × ${ram} MiB RAM${ratio > 1.0 ? ", RAM overcommitted" : ""})`,
        `set overcommit.reservedHostMemoryMb ≥ ${floor}`,
      );
    }
  },
};
