import type { ResourceValidationPolicy } from "@pulumi/policy";
import { computeHost, factNumber, keyValues, novaBool, novaNumber, profile, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";
import { LIBVIRT_GUESTS } from "../../facts/paths";
import { NOVA_DEFAULTS } from "../../facts/nova";
import { IOPS_PER_BOOT, bootsByIops, iopsPerBootOf } from "../../facts/bootStorm";

const configSchema = {
  properties: {
    iopsPerBoot: { type: "number" as const, description: `IOPS one desktop needs while booting: ${IOPS_PER_BOOT} for a pooled desktop (Citrix CTX135986). A host's own boot_iops_per_desktop fact wins when higher.`, default: IOPS_PER_BOOT },
  },
};

export const bootStormLimits: ResourceValidationPolicy = {
  name: "boot-storm-limits",
  description: "Blocks compute hosts with unlimited concurrent builds or disk operations, more concurrent boots than the storage IOPS budget carries, or guests all started at once at host boot (L3).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = computeHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ iopsPerBoot: number }>(configSchema, args);
    // nova's defaults when unset (max_concurrent_disk_ops 0 = unlimited).
    const builds = novaNumber(h, "DEFAULT", "max_concurrent_builds") ?? NOVA_DEFAULTS.maxConcurrentBuilds;
    const diskOps = novaNumber(h, "compute", "max_concurrent_disk_ops") ?? NOVA_DEFAULTS.maxConcurrentDiskOps;
    if (builds === 0 || Number.isNaN(builds)) {
      violation(report, who(h), `nova.conf [DEFAULT] max_concurrent_builds = ${Number.isNaN(builds) ? "not a number" : 0} means unlimited concurrent builds (L3: a boot storm took 40 minutes at 100% disk)`, "set bootStorm.maxConcurrentBuilds ≥ 1");
    }
    if (diskOps === 0 || Number.isNaN(diskOps)) {
      violation(report, who(h), "nova.conf [compute] max_concurrent_disk_ops is 0 or unset, which means no limit on concurrent image downloads and conversions (L3)", "set bootStorm.maxConcurrentDiskOps ≥ 1");
    }
    const iops = factNumber(h, "storage_iops_budget");
    const perBoot = iopsPerBootOf(c.iopsPerBoot, factNumber(h, "boot_iops_per_desktop"));
    if (iops === undefined) {
      violation(report, who(h), "the host document declares no storage_iops_budget, so concurrent boots cannot be judged", `give ${profile(h)}.instanceStorage.iopsBudget`);
    } else if (builds > 0) {
      const limit = bootsByIops(iops, perBoot);
      if (builds > limit) {
        violation(report, who(h), `max_concurrent_builds = ${builds} exceeds floor(${iops} IOPS / ${perBoot} IOPS per boot) = ${limit} concurrent boots (L3, CTX135986)`, `set bootStorm.maxConcurrentBuilds ≤ ${Math.max(limit, 1)}${limit < 1 ? " and give the hosts faster instance storage" : ""}`);
      }
    }
    if (novaBool(h, "DEFAULT", "resume_guests_state_on_host_boot") === true) {
      violation(report, who(h), "resume_guests_state_on_host_boot = true restarts every guest at once when the host boots (L3)", "set bootStorm.resumeGuestsStateOnHostBoot: false and let desktops start on demand");
    }
    const guests = h.file(LIBVIRT_GUESTS);
    if (guests) {
      const kv = keyValues(guests.content);
      if ((kv.get("ON_BOOT") ?? "ignore") === "start" && Number(kv.get("START_DELAY") ?? "0") === 0) {
        violation(report, who(h), `${LIBVIRT_GUESTS} ON_BOOT=start with START_DELAY=0 starts every guest at once at host boot (L3)`, "set bootStorm.libvirtGuests.onBoot: ignore, or a startDelaySeconds > 0");
      }
    }
  },
};
