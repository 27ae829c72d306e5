import type { StackValidationPolicy } from "@pulumi/policy";
import { cellCapacity, type HostCapacityInput } from "../../lib/capacity";
import { computeHost, effectiveRatio, factNumber, novaNumber } from "../support/hosts";
import { plainCopy } from "../support/define";

const AGGREGATE = "openstack:compute/aggregateV2:AggregateV2";
const FLAVOR = "openstack:compute/flavor:Flavor";

export const cellCapacityNPlusOne: StackValidationPolicy = {
  name: "cell-capacity-n-plus-one",
  description: "Blocks a cell whose planned desktops do not fit its compute hosts with the largest host down (N+1), at the shipped ratios, reserved memory and desktop flavor (L2, L4).",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const hosts = new Map<string, HostCapacityInput>();
    for (const r of args.resources) {
      const h = computeHost(r.type, r.props);
      if (!h) continue;
      const ram = factNumber(h, "ram_mb");
      const cpus = factNumber(h, "cpus");
      if (ram === undefined || cpus === undefined) continue;
      const num = (v: number | undefined, d: number) => (v === undefined || Number.isNaN(v) ? d : v);
      hosts.set(h.name, {
        host: h.name,
        ramMb: ram,
        cpus,
        storageGb: factNumber(h, "storage_size_gb"),
        ramRatio: num(effectiveRatio(h, "ram"), 1.0),
        cpuRatio: num(effectiveRatio(h, "cpu"), 1.0),
        diskRatio: num(effectiveRatio(h, "disk"), 1.0),
        reservedMb: num(novaNumber(h, "DEFAULT", "reserved_host_memory_mb"), 512),
        reservedCpus: num(novaNumber(h, "DEFAULT", "reserved_host_cpus"), 0),
      });
    }
    const flavors = args.resources.filter((r) => r.type === FLAVOR);
    for (const agg of args.resources.filter((r) => r.type === AGGREGATE)) {
      const md = plainCopy<Record<string, string>>(agg.props.metadata ?? {});
      const planned = Number(md["vdi:planned_desktops"]);
      if (!md["vdi:planned_desktops"] || Number.isNaN(planned)) continue;
      const cell = md["vdi:cell"] ?? agg.props.name;
      const flavorName = md["vdi:flavor"];
      const flavor = flavors.find((f) => f.props.name === flavorName);
      if (!flavor) {
        report(`cell ${cell}: its desktop flavor ${flavorName ?? "(none)"} is not in the stack, so capacity cannot be judged. Fix: declare the workload's flavor.`, agg.urn);
        continue;
      }
      const members = plainCopy<string[]>(agg.props.hosts ?? []).map((n) => hosts.get(n)).filter((x): x is HostCapacityInput => !!x);
      const cap = cellCapacity(members, { ramMb: Number(flavor.props.ram), vcpus: Number(flavor.props.vcpus), diskGb: Number(flavor.props.disk ?? 0) });
      if (planned > cap.nPlusOne) {
        const lim = cap.largest ? `; a host holds ${cap.largest.desktops} desktops, limited by ${cap.largest.limitedBy}` : "";
        report(
          `cell ${cell}: ${planned} planned desktops do not fit with the largest host down: ${members.length} hosts hold ${cap.total}, N+1 ${cap.nPlusOne} (flavor ${flavorName}${lim}). Fix: add ${Math.ceil((planned - cap.nPlusOne) / Math.max(1, cap.largest?.desktops ?? 1))} or more hosts to the cell, or plan fewer desktops.`,
          agg.urn,
        );
      }
    }
  },
};
