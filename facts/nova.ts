/**
 * What the stack relies on about nova: option defaults and, per release, the
 * libvirt/QEMU minimums and the initial_* allocation ratios nova uses when the
 * explicit ratio is unset. Defined once; the renderers, the policies, the
 * review tooling and the lab import it.
 *
 * Sources: nova/conf/compute.py (option defaults), nova/virt/libvirt/driver.py
 * (MIN_LIBVIRT_VERSION, MIN_QEMU_VERSION), Debian python3-nova 2:26.2.2 (Zed).
 * A release not listed here is refused by the policies until it is recorded.
 */
import { isExactDebVersion, upstreamOf } from "../formats/dpkg";

/** nova's defaults of the options the stack sets or judges (nova/conf/compute.py; the same on Zed and 2026.1). */
export const NOVA_DEFAULTS = {
  /** [DEFAULT] max_concurrent_builds: 0 means unlimited. */
  maxConcurrentBuilds: 10,
  /** [compute] max_concurrent_disk_ops: 0 means no limit. */
  maxConcurrentDiskOps: 0,
  /** [DEFAULT] reserved_host_memory_mb. */
  reservedHostMemoryMb: 512,
  /** [DEFAULT] reserved_host_cpus. */
  reservedHostCpus: 0,
  /** [DEFAULT] resume_guests_state_on_host_boot: true restarts every guest at host boot (a boot storm). */
  resumeGuestsStateOnHostBoot: false,
} as const;

export type RatioKind = "cpu" | "ram" | "disk";

export interface NovaRelease {
  /** Major version of the Debian nova-compute package (2:26.2.2-1~deb12u5 → 26). */
  novaMajor: number;
  name: string;
  minLibvirt: string;
  minQemu: string;
  /** Defaults of initial_{cpu,ram,disk}_allocation_ratio: used for new compute nodes when the explicit ratio is unset. */
  initial: Record<RatioKind, number>;
}

export const NOVA_RELEASES: readonly NovaRelease[] = [
  // Zed (Debian 12): initial_cpu 16.0 and initial_ram 1.5, both above L4 and L2.
  { novaMajor: 26, name: "zed", minLibvirt: "6.0.0", minQemu: "4.2.0", initial: { cpu: 16.0, ram: 1.5, disk: 1.0 } },
  { novaMajor: 33, name: "2026.1", minLibvirt: "8.0.0", minQemu: "6.2.0", initial: { cpu: 4.0, ram: 1.0, disk: 1.0 } },
];

/** The nova release of a nova-compute Debian version, if recorded. */
export function novaRelease(novaVersion: string): NovaRelease | undefined {
  if (!isExactDebVersion(novaVersion)) return undefined;
  const major = Number(upstreamOf(novaVersion).split(".")[0]);
  return NOVA_RELEASES.find((r) => r.novaMajor === major);
}
