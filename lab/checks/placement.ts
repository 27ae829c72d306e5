/**
 * Lessons L2 and L4 where they take effect (lab control-plane checks 1, 2 and
 * 4): the compute hosts registered with the lab's control plane, and the
 * ratios the stack ships are what Placement schedules with.
 *
 *  - `openstack compute service list`: nova-compute up for every compute host;
 *    `openstack network agent list`: every agent of every host alive;
 *  - per compute host, Placement's inventory: MEMORY_MB with allocation_ratio
 *    = the shipped ram_allocation_ratio and reserved = reserved_host_memory_mb,
 *    VCPU with the shipped cpu_allocation_ratio (reserved = reserved_host_cpus),
 *    DISK_GB with the shipped disk_allocation_ratio — read from the host's
 *    nova.conf as converged, not from the config;
 *  - capacity: the desktops of the cell's flavor that Placement would allow on
 *    a host (from the inventory read back) equal what the N+1 capacity policy
 *    computes for it (shipped/capacity.ts, the same function the policy uses).
 */
import * as fs from "fs";
import { iniGet, parseIni } from "../../formats/ini";
import { NOVA_CONF } from "../../facts/paths";
import { hostCapacity } from "../../shipped/capacity";
import { waitFor } from "../sys";
import type { Check, Lab, LabHost } from "../types";
import { hostPath } from "../types";

export interface InventoryRow {
  resource_class: string;
  allocation_ratio: number;
  total: number;
  reserved: number;
  min_unit?: number;
  max_unit?: number;
}

/** The host's resource provider and its inventory, as Placement has them (undefined while it has not reported). */
export function inventory(lab: Lab, host: LabHost): Map<string, InventoryRow> | undefined {
  const rps = lab.controlPlane.openstack<Array<{ uuid: string; name: string }>>(["resource", "provider", "list", "--name", host.name]);
  if (!rps.length) return undefined;
  const rows = lab.controlPlane.openstack<InventoryRow[]>(["resource", "provider", "inventory", "list", rps[0].uuid]);
  return new Map(rows.map((r) => [r.resource_class, r]));
}

/** The host's nova.conf [DEFAULT] value, as converged. */
export function novaValue(host: LabHost, key: string): string | undefined {
  return iniGet(parseIni(fs.readFileSync(hostPath(host, NOVA_CONF), "utf8")), "DEFAULT", key);
}

/** Waits (bounded) until Placement shows `want` for the host's resource class ratio; returns the last inventory. */
export async function waitForRatio(lab: Lab, host: LabHost, rc: string, want: number, timeoutMs = 180_000): Promise<Map<string, InventoryRow> | undefined> {
  let inv: Map<string, InventoryRow> | undefined;
  await waitFor(`Placement to show ${rc} allocation_ratio ${want} for ${host.name}`, () => {
    inv = inventory(lab, host);
    return !!inv && Math.abs((inv.get(rc)?.allocation_ratio ?? -1) - want) < 1e-9;
  }, { timeoutMs, intervalMs: 5000 }).catch(() => undefined);
  return inv;
}

export const placementCheck: Check = {
  id: "placement",
  lesson: "L2, L4",
  title: "nova-compute and every agent registered; Placement's inventory has the shipped RAM, CPU and disk ratios and reserved memory; its capacity is the N+1 policy's",
  needs: [],
  async run(lab, rec) {
    const computes = lab.hostsWithRole("compute");
    let services: Array<{ Binary: string; Host: string; State: string; Status: string }> = [];
    await waitFor("nova-compute to be up for every compute host", () => {
      services = lab.controlPlane.openstack(["compute", "service", "list", "--service", "nova-compute"]);
      return computes.every((h) => services.some((s) => s.Host === h.name && s.State === "up"));
    }, { timeoutMs: 120_000, intervalMs: 5000 }).catch(() => undefined);
    for (const h of computes) {
      const s = services.find((x) => x.Host === h.name);
      rec.expect(s?.State === "up" && s.Status === "enabled", `${h.name}: nova-compute is up in the compute service list`, s ? `${s.Binary} ${s.State} ${s.Status}` : `not listed (${services.map((x) => x.Host).join(", ") || "none"})`);
    }
    const wantAgents: Array<[string, string]> = [
      ...computes.map((h) => [h.name, "Open vSwitch agent"] as [string, string]),
      ...lab.hostsWithRole("network").flatMap((h) => ["Open vSwitch agent", "DHCP agent", "L3 agent", "Metadata agent"].map((t) => [h.name, t] as [string, string])),
    ];
    let agents: Array<{ "Agent Type": string; Host: string; Alive: boolean | string; State: boolean | string }> = [];
    await waitFor("every agent to be alive", () => {
      agents = lab.controlPlane.openstack(["network", "agent", "list"]);
      return wantAgents.every(([host, type]) => agents.some((a) => a.Host === host && a["Agent Type"] === type && (a.Alive === true || a.Alive === ":-)")));
    }, { timeoutMs: 120_000, intervalMs: 5000 }).catch(() => undefined);
    for (const [host, type] of wantAgents) {
      const a = agents.find((x) => x.Host === host && x["Agent Type"] === type);
      rec.expect(!!a && (a.Alive === true || a.Alive === ":-)"), `${host}: neutron ${type} alive`, a ? `alive ${String(a.Alive)}, state ${String(a.State)}` : "not listed");
    }

    const flavor = lab.fleet.cells[0]?.workload.flavor;
    for (const h of computes) {
      const ratios = { ram: Number(novaValue(h, "ram_allocation_ratio")), cpu: Number(novaValue(h, "cpu_allocation_ratio")), disk: Number(novaValue(h, "disk_allocation_ratio")) };
      const reservedMb = Number(novaValue(h, "reserved_host_memory_mb"));
      const reservedCpus = Number(novaValue(h, "reserved_host_cpus") ?? 0);
      const inv = await waitForRatio(lab, h, "VCPU", ratios.cpu);
      if (!rec.expect(!!inv, `${h.name}: Placement has its resource provider and inventory`, inv ? [...inv.keys()].join(", ") : "none")) continue;
      const mem = inv!.get("MEMORY_MB");
      const cpu = inv!.get("VCPU");
      const disk = inv!.get("DISK_GB");
      rec.expect(mem?.allocation_ratio === ratios.ram && mem?.reserved === reservedMb, `${h.name}: MEMORY_MB allocation_ratio = ram_allocation_ratio ${ratios.ram}, reserved = reserved_host_memory_mb ${reservedMb}`, `Placement: ratio ${mem?.allocation_ratio}, reserved ${mem?.reserved}, total ${mem?.total}`);
      rec.expect(cpu?.allocation_ratio === ratios.cpu && cpu?.reserved === reservedCpus, `${h.name}: VCPU allocation_ratio = cpu_allocation_ratio ${ratios.cpu} (reserved ${reservedCpus})`, `Placement: ratio ${cpu?.allocation_ratio}, reserved ${cpu?.reserved}, total ${cpu?.total}`);
      rec.expect(disk?.allocation_ratio === ratios.disk, `${h.name}: DISK_GB allocation_ratio = disk_allocation_ratio ${ratios.disk}`, `Placement: ratio ${disk?.allocation_ratio}, total ${disk?.total} GB`);
      if (!flavor || !mem || !cpu) continue;
      // What the scheduler allows: per class floor((total − reserved) × ratio / the flavor's need), the smallest.
      const fit = (r: InventoryRow | undefined, need: number) => (r && need > 0 ? Math.floor(((r.total - r.reserved) * r.allocation_ratio) / need) : Infinity);
      const placement = Math.min(fit(mem, flavor.ramMb), fit(cpu, flavor.vcpus), fit(disk, flavor.diskGb));
      // The policy's figure, from the same numbers as shipped (the host's real totals as Placement reports them).
      const policy = hostCapacity(
        { host: h.name, ramMb: mem.total, cpus: cpu.total, storageGb: disk?.total, ramRatio: ratios.ram, cpuRatio: ratios.cpu, diskRatio: ratios.disk, reservedMb, reservedCpus },
        { ramMb: flavor.ramMb, vcpus: flavor.vcpus, diskGb: flavor.diskGb },
      );
      rec.expect(policy.desktops === placement, `${h.name}: desktops of ${flavor.name} Placement allows = the capacity policy's figure`, `Placement ${placement}; policy ${policy.desktops} (limited by ${policy.limitedBy}); MEMORY_MB ${mem.total}−${mem.reserved}×${mem.allocation_ratio}, VCPU ${cpu.total}×${cpu.allocation_ratio}, DISK_GB ${disk?.total ?? "?"}×${disk?.allocation_ratio ?? "?"}`);
    }
  },
};
