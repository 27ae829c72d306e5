/**
 * Boot storms (L3): how many desktops may boot at once on a host, from its
 * instance-storage IOPS budget. One formula, used by the boot-storm policy and
 * by the preview's capacity report (with the same inputs), so they agree.
 */

/**
 * IOPS one pooled desktop needs while it boots: Citrix CTX135986 gives about 150
 * (400–450 for a personal desktop), 60–70 % reads.
 */
export const IOPS_PER_BOOT = 150;

/** Boots the storage carries at once: floor(IOPS budget / IOPS per boot). */
export function bootsByIops(iopsBudget: number, iopsPerBoot: number): number {
  return Math.floor(iopsBudget / iopsPerBoot);
}

/** The IOPS a boot is judged at: the policy's figure, or the workload's own when it is higher. */
export function iopsPerBootOf(configured: number, workloadFigure: number | undefined): number {
  return Math.max(configured, workloadFigure ?? 0);
}

/** Desktops that really boot at once on a host: nova's build limit (0 = unlimited), capped by what the storage carries. */
export function concurrentBoots(maxConcurrentBuilds: number, iopsBudget: number, iopsPerBoot: number): number {
  const byIops = bootsByIops(iopsBudget, iopsPerBoot);
  return maxConcurrentBuilds > 0 ? Math.min(maxConcurrentBuilds, byIops) : byIops;
}

/** Debian's /etc/default/libvirt-guests defaults (libvirt-daemon-system 9.0.0). */
export const DEBIAN_LIBVIRT_GUESTS = {
  onBoot: "ignore",
  startDelaySeconds: 0,
  onShutdown: "shutdown",
  shutdownTimeoutSeconds: 300,
  parallelShutdown: 0,
} as const;
