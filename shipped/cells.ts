/**
 * Cells as shipped: each aggregate (planned desktops, flavor, member hosts)
 * joined with its members' host documents and the flavor resource. Used by
 * the N+1 capacity policy and by the preview's capacity report, so both judge
 * the same numbers. Works on the SDK's proxied props and on plain inputs.
 */
import { cellCapacity, type CellCapacity, type Flavor, type HostCapacityInput } from "./capacity";
import { computeHost, effectiveRatio, factNumber, novaNumber } from "./hosts";
import { plainCopy } from "../policy/support/define";
import { NOVA_DEFAULTS } from "../facts/nova";
import { AGGREGATE, FLAVOR } from "./naming";



export interface ShippedCell {
  cell: string;
  zone?: string;
  workload?: string;
  urn: string;
  planned: number;
  flavorName?: string;
  /** Where the flavor's size came from: the stack's flavor resource, or the aggregate's record (cell stacks). */
  flavorSource?: "resource" | "aggregate";
  flavor?: Flavor;
  members: Array<HostCapacityInput & { iopsBudget?: number; bootIopsPerDesktop?: number; maxConcurrentBuilds?: number; versionSet?: string }>;
  capacity?: CellCapacity;
}

export function shippedCells(resources: Array<{ type: string; urn: string; props: Record<string, unknown> }>): ShippedCell[] {
  const hosts = new Map<string, ShippedCell["members"][number]>();
  for (const r of resources) {
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
      reservedMb: num(novaNumber(h, "DEFAULT", "reserved_host_memory_mb"), NOVA_DEFAULTS.reservedHostMemoryMb),
      reservedCpus: num(novaNumber(h, "DEFAULT", "reserved_host_cpus"), NOVA_DEFAULTS.reservedHostCpus),
      iopsBudget: factNumber(h, "storage_iops_budget"),
      bootIopsPerDesktop: factNumber(h, "boot_iops_per_desktop"),
      // 0 means unlimited.
      maxConcurrentBuilds: num(novaNumber(h, "DEFAULT", "max_concurrent_builds"), NOVA_DEFAULTS.maxConcurrentBuilds),
      versionSet: h.facts.version_set,
    });
  }
  const flavors = resources.filter((r) => r.type === FLAVOR);
  const out: ShippedCell[] = [];
  for (const agg of resources.filter((r) => r.type === AGGREGATE)) {
    const md = plainCopy<Record<string, string>>(agg.props.metadata ?? {});
    const planned = Number(md["vdi:planned_desktops"]);
    if (!md["vdi:planned_desktops"] || Number.isNaN(planned)) continue;
    // The flavor resource when the stack has it; in a cell stack (the flavor is the region
    // stack's) the size the cell recorded on its aggregate.
    const f = flavors.find((x) => x.props.name === md["vdi:flavor"]);
    const recorded = ["vdi:flavor_vcpus", "vdi:flavor_ram_mb", "vdi:flavor_disk_gb"].map((k) => Number(md[k]));
    const flavor = f
      ? { ramMb: Number(f.props.ram), vcpus: Number(f.props.vcpus), diskGb: Number(f.props.disk ?? 0) }
      : recorded[0] > 0 && recorded[1] > 0
        ? { vcpus: recorded[0], ramMb: recorded[1], diskGb: Number.isFinite(recorded[2]) ? recorded[2] : 0 }
        : undefined;
    const members = plainCopy<string[]>(agg.props.hosts ?? [])
      .map((n) => hosts.get(n))
      .filter((x): x is ShippedCell["members"][number] => !!x);
    out.push({
      cell: md["vdi:cell"] ?? String(agg.props.name),
      zone: typeof agg.props.zone === "string" ? agg.props.zone : undefined,
      workload: md["vdi:workload"],
      urn: agg.urn,
      planned,
      flavorName: md["vdi:flavor"],
      flavorSource: f ? "resource" : flavor ? "aggregate" : undefined,
      flavor,
      members,
      capacity: flavor ? cellCapacity(members, flavor) : undefined,
    });
  }
  return out;
}
