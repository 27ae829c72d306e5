/**
 * Desktop capacity of hosts and cells, from what is shipped: each host's
 * RAM/CPU/storage facts and nova.conf ratios and reservations, and the
 * desktop flavor. Pure; used by the N+1 policy and by reports.
 */

export interface HostCapacityInput {
  host: string;
  ramMb: number;
  cpus: number;
  storageGb?: number;
  ramRatio: number;
  cpuRatio: number;
  diskRatio: number;
  reservedMb: number;
  reservedCpus: number;
}

export interface Flavor {
  ramMb: number;
  vcpus: number;
  diskGb: number;
}

export interface HostCapacity {
  host: string;
  desktops: number;
  limitedBy: "ram" | "cpu" | "disk";
}

/** Desktops one host holds at its ratios: the least of RAM, CPU and disk. */
export function hostCapacity(h: HostCapacityInput, f: Flavor): HostCapacity {
  const ram = Math.floor(((h.ramMb - h.reservedMb) * h.ramRatio) / f.ramMb);
  const cpu = Math.floor(((h.cpus - h.reservedCpus) * h.cpuRatio) / f.vcpus);
  const disk = h.storageGb !== undefined && f.diskGb > 0 ? Math.floor((h.storageGb * h.diskRatio) / f.diskGb) : Infinity;
  const best = Math.max(0, Math.min(ram, cpu, disk));
  return { host: h.host, desktops: best, limitedBy: best === ram ? "ram" : best === cpu ? "cpu" : "disk" };
}

export interface CellCapacity {
  hosts: HostCapacity[];
  total: number;
  /** Capacity with the largest host down (N+1). */
  nPlusOne: number;
  largest?: HostCapacity;
}

export function cellCapacity(hosts: HostCapacityInput[], f: Flavor): CellCapacity {
  const caps = hosts.map((h) => hostCapacity(h, f));
  const total = caps.reduce((n, c) => n + c.desktops, 0);
  const largest = caps.reduce<HostCapacity | undefined>((m, c) => (!m || c.desktops > m.desktops ? c : m), undefined);
  return { hosts: caps, total, nPlusOne: total - (largest?.desktops ?? 0), largest };
}
