/**
 * The offline preview report: what a stack would deploy, its capacity per
 * cell, its rollout waves and the policy verdict — built only from what the
 * program registered (resource inputs, host documents, dependencies) and what
 * the policy pack answered. Pure; formatted as text, Markdown or JSON.
 */
import { hostCommandOf, shippedHostView, shippedHosts } from "../shipped/stack";
import { CELL_TYPE, COMPUTE_HOST_TYPE, hostCommand } from "../shipped/naming";
import { maxResourcesPerComputeHost, type Evaluation, type RegisteredResource } from "./evaluate";
import { plain } from "../formats/pulumiWire";
import type { PolicyDiagnostic } from "./analyzer";
import type { ChangeSet, HostChange } from "./compare";
import { shippedCells } from "../shipped/cells";
import { concurrentBoots, iopsPerBootOf } from "../facts/bootStorm";
import { NOVA_DEFAULTS } from "../facts/nova";

export const REPORT_SCHEMA_VERSION = 1;
export const MARKER = "<!-- vdi-fleet-preview -->";

export interface CellReport {
  cell: string;
  availabilityZone?: string;
  workload?: string;
  flavor?: string;
  hosts: number;
  plannedDesktops: number;
  capacity: number;
  capacityNPlusOne: number;
  headroomNPlusOne: number;
  desktopsPerHost: { min: number; max: number };
  limitedBy: string[];
  /** Desktops that boot at once on a host: the configured max_concurrent_builds, capped by floor(IOPS budget / IOPS per boot) (facts/bootStorm.ts, CTX135986). */
  concurrentBootsPerHost: number;
  /** The IOPS per boot that figure is computed with: the boot-storm policy's effective iopsPerBoot, or the workload's own when higher. */
  iopsPerBoot: number;
  /** Planned desktops per host, booted in waves of concurrentBootsPerHost. */
  bootWavesPerHost: number;
  /** bootWavesPerHost × the assumed boot time: how long a cold boot of the whole cell takes. */
  coldBootMinutes: number;
  /** Effective nova settings of the cell's hosts as shipped (distinct values joined with "/"). */
  settings: {
    ramAllocationRatio: string;
    cpuAllocationRatio: string;
    diskAllocationRatio: string;
    reservedHostMemoryMb: string;
    versionSet: string;
    maxConcurrentBuilds: string;
  };
}

export interface Violation {
  policy: string;
  level: string;
  resourceType: string;
  resourceName: string;
  urn: string;
  description: string;
  message: string;
}

export interface PreviewReport {
  schemaVersion: number;
  stack: string;
  summary: {
    resources: number;
    byType: Record<string, number>;
    computeHosts: number;
    otherHosts: number;
    maxResourcesPerComputeHost: number;
    evaluationSeconds: number;
    /** Resources registered under each cell's component (its hosts, their commands, its aggregate). */
    perCell: Array<{ cell: string; resources: number; hosts: number }>;
  };
  assumptions: { bootSecondsPerDesktop: number; iopsPerBoot: number };
  cells: CellReport[];
  rollout: Array<{ group: string; waves: Array<{ wave: number; hosts: string[] }> }>;
  policies: { pack: string; version: string; mandatory: number; advisory: number; notCheckable: number; violations: Violation[] };
  changes?: ChangeSet;
  /** Host changes grouped where identical up to the host's own name and addresses. */
  changeGroups?: Array<{ hosts: string[]; change: HostChange }>;
  /** With a comparison: every cell's capacity, limit and effective settings before and after. */
  cellChanges?: CellComparison[];
  verdict: { ok: boolean; exitCode: number; text: string };
}

const hostOfCommand = (r: RegisteredResource): string | undefined => hostCommand(r)?.host;

/** Rollout waves as registered: a host's wave is one more than the waves of the hosts its commands wait for. */
export function rolloutWaves(resources: RegisteredResource[]): PreviewReport["rollout"] {
  const stack = { resources };
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const hosts = shippedHosts(stack);
  const group = new Map<string, string>();
  for (const h of hosts) {
    let cell = "infrastructure";
    try {
      cell = shippedHostView(stack, h)?.facts.cell ?? "infrastructure";
    } catch {
      /* a malformed document is the policies' to report */
    }
    group.set(h, cell);
  }
  const wave = new Map<string, number>();
  const waveOf = (host: string, seen: Set<string>): number => {
    const known = wave.get(host);
    if (known !== undefined) return known;
    if (seen.has(host)) return 1;
    seen.add(host);
    const c = hostCommandOf(stack, host, "converge");
    let w = 1;
    for (const dep of c?.dependencies ?? []) {
      const d = byUrn.get(dep);
      const dh = d ? hostOfCommand(d) : undefined;
      if (dh && dh !== host) w = Math.max(w, waveOf(dh, seen) + 1);
    }
    wave.set(host, w);
    return w;
  };
  const groups = new Map<string, Map<number, string[]>>();
  for (const h of hosts) {
    const g = group.get(h)!;
    const w = waveOf(h, new Set());
    const waves = groups.get(g) ?? groups.set(g, new Map()).get(g)!;
    (waves.get(w) ?? waves.set(w, []).get(w)!).push(h);
  }
  return [...groups]
    .sort(([a], [b]) => (a === "infrastructure" ? -1 : b === "infrastructure" ? 1 : a.localeCompare(b)))
    .map(([g, waves]) => {
      const sorted = [...waves].sort(([a], [b]) => a - b);
      const base = sorted[0]?.[0] ?? 1;
      // Cells are numbered from their own canary; the infrastructure waves come first.
      return { group: g, waves: sorted.map(([w, hosts]) => ({ wave: g === "infrastructure" ? w : w - base + 1, hosts: hosts.sort() })) };
    });
}

/** Distinct values, sorted, joined with "/" ("1.2", or "1.2/1.3" when the cell's hosts differ). */
const distinct = (xs: Array<string | number | undefined>): string => [...new Set(xs.map((x) => (x === undefined ? "?" : String(x))))].sort().join("/") || "?";

/**
 * Every cell's capacity, boot figures and effective settings, from a stack's resources (their
 * plain inputs): the same numbers for the preview's table and for both sides of a comparison.
 */
export function cellReports(resources: Array<{ type: string; urn: string; props: Record<string, unknown> }>, opts: { iopsPerBoot: number; bootSecondsPerDesktop: number }): CellReport[] {
  return shippedCells(resources)
    .map((c) => {
      const cap = c.capacity;
      const per = cap?.hosts.map((h) => h.desktops) ?? [0];
      const perBoot = Math.max(0, ...c.members.map((m) => iopsPerBootOf(opts.iopsPerBoot, m.bootIopsPerDesktop)));
      const boots = Math.min(...c.members.map((m) => concurrentBoots(m.maxConcurrentBuilds ?? NOVA_DEFAULTS.maxConcurrentBuilds, m.iopsBudget ?? 0, iopsPerBootOf(opts.iopsPerBoot, m.bootIopsPerDesktop))), Infinity);
      const concurrent = Number.isFinite(boots) ? Math.max(0, boots) : 0;
      const perHostPlanned = c.members.length ? Math.ceil(c.planned / c.members.length) : 0;
      const waves = concurrent > 0 ? Math.ceil(perHostPlanned / concurrent) : perHostPlanned;
      return {
        cell: c.cell,
        availabilityZone: c.zone,
        workload: c.workload,
        flavor: c.flavorName,
        hosts: c.members.length,
        plannedDesktops: c.planned,
        capacity: cap?.total ?? 0,
        capacityNPlusOne: cap?.nPlusOne ?? 0,
        headroomNPlusOne: (cap?.nPlusOne ?? 0) - c.planned,
        desktopsPerHost: { min: Math.min(...per), max: Math.max(...per) },
        limitedBy: [...new Set(cap?.hosts.map((h) => h.limitedBy) ?? [])].sort(),
        concurrentBootsPerHost: concurrent,
        iopsPerBoot: perBoot || opts.iopsPerBoot,
        bootWavesPerHost: waves,
        coldBootMinutes: Math.round((waves * opts.bootSecondsPerDesktop) / 6) / 10,
        settings: {
          ramAllocationRatio: distinct(c.members.map((m) => m.ramRatio)),
          cpuAllocationRatio: distinct(c.members.map((m) => m.cpuRatio)),
          diskAllocationRatio: distinct(c.members.map((m) => m.diskRatio)),
          versionSet: distinct(c.members.map((m) => m.versionSet)),
          maxConcurrentBuilds: distinct(c.members.map((m) => m.maxConcurrentBuilds)),
          reservedHostMemoryMb: distinct(c.members.map((m) => m.reservedMb)),
        },
      };
    })
    .sort((a, b) => a.cell.localeCompare(b.cell));
}

/** The figures a reviewer compares per cell (CellReport minus what only restates them). */
const COMPARED: Array<[string, (c: CellReport) => string | number]> = [
  ["hosts", (c) => c.hosts],
  ["planned desktops", (c) => c.plannedDesktops],
  ["capacity", (c) => c.capacity],
  ["N+1 capacity", (c) => c.capacityNPlusOne],
  ["N+1 headroom", (c) => c.headroomNPlusOne],
  ["desktops per host", (c) => (c.desktopsPerHost.min === c.desktopsPerHost.max ? c.desktopsPerHost.max : `${c.desktopsPerHost.min}-${c.desktopsPerHost.max}`)],
  ["limited by", (c) => c.limitedBy.join("/") || "?"],
  ["ram_allocation_ratio", (c) => c.settings.ramAllocationRatio],
  ["cpu_allocation_ratio", (c) => c.settings.cpuAllocationRatio],
  ["disk_allocation_ratio", (c) => c.settings.diskAllocationRatio],
  ["reserved_host_memory_mb", (c) => c.settings.reservedHostMemoryMb],
  ["version set", (c) => c.settings.versionSet],
  ["max_concurrent_builds", (c) => c.settings.maxConcurrentBuilds],
  ["boots per host", (c) => c.concurrentBootsPerHost],
  ["boot waves", (c) => c.bootWavesPerHost],
  ["cold boot minutes", (c) => c.coldBootMinutes],
];

export interface CellComparison {
  cell: string;
  /** "added" or "removed" when the cell exists on one side only. */
  kind: "added" | "removed" | "changed" | "unchanged";
  /** Every compared figure, before and after (one side absent for an added or removed cell). */
  figures: Array<{ key: string; before?: string | number; after?: string | number; changed: boolean }>;
}

/** Each cell's figures before (base) and after (head), every cell of either side, by name. */
export function compareCells(base: CellReport[], head: CellReport[]): CellComparison[] {
  const b = new Map(base.map((c) => [c.cell, c]));
  const h = new Map(head.map((c) => [c.cell, c]));
  const names = [...new Set([...b.keys(), ...h.keys()])].sort((x, y) => x.localeCompare(y));
  return names.map((cell) => {
    const before = b.get(cell);
    const after = h.get(cell);
    const figures = COMPARED.map(([key, f]) => {
      const x = before && f(before);
      const y = after && f(after);
      return { key, ...(before ? { before: x } : {}), ...(after ? { after: y } : {}), changed: x !== y };
    });
    const kind = !before ? "added" : !after ? "removed" : figures.some((x) => x.changed) ? "changed" : "unchanged";
    return { cell, kind, figures };
  });
}

export function buildReport(opts: {
  stack: string;
  evaluation: Evaluation;
  evaluationSeconds: number;
  diagnostics: PolicyDiagnostic[];
  pack: { name: string; version: string };
  bootSecondsPerDesktop: number;
  /** The boot-storm policy's effective iopsPerBoot (defaults and --policy-config applied), so the report computes what the policy computes. */
  iopsPerBoot: number;
  changes?: ChangeSet;
  changeGroups?: Array<{ hosts: string[]; change: HostChange }>;
  /** The compared side's cells (cellReports of its resources), with `changes`. */
  baseCells?: CellReport[];
}): PreviewReport {
  const rs = opts.evaluation.resources;
  const byType: Record<string, number> = {};
  for (const r of rs) byType[r.type] = (byType[r.type] ?? 0) + 1;
  const computeHosts = rs.filter((r) => r.type === COMPUTE_HOST_TYPE);
  const perHost = maxResourcesPerComputeHost(rs);
  const hostsTotal = shippedHosts(opts.evaluation).length;

  const cells = cellReports(
    rs.map((r) => ({ type: r.type, urn: r.urn, props: plain(r.inputs) as Record<string, unknown> })),
    opts,
  );

  const byUrn = new Map(rs.map((r) => [r.urn, r]));
  // Resources per cell: everything whose parent chain reaches a vdi:fleet:Cell component.
  const cellOf = new Map<string, string | undefined>();
  const cellFor = (urn: string): string | undefined => {
    if (cellOf.has(urn)) return cellOf.get(urn);
    const r = byUrn.get(urn);
    const c = !r ? undefined : r.type === CELL_TYPE ? r.name : r.parent ? cellFor(r.parent) : undefined;
    cellOf.set(urn, c);
    return c;
  };
  const perCellMap = new Map<string, { cell: string; resources: number; hosts: number }>();
  for (const r of rs) {
    const c = cellFor(r.urn);
    if (!c) continue;
    const e = perCellMap.get(c) ?? perCellMap.set(c, { cell: c, resources: 0, hosts: 0 }).get(c)!;
    e.resources++;
    if (r.type === COMPUTE_HOST_TYPE) e.hosts++;
  }
  const violations: Violation[] = opts.diagnostics.map((d) => {
    const r = byUrn.get(d.urn);
    // The SDK sends "<description>\n<message>"; keep the two apart as `pulumi preview` prints them.
    const message = d.description && d.message.startsWith(`${d.description}\n`) ? d.message.slice(d.description.length + 1) : d.message;
    return {
      policy: d.policyName,
      level: d.enforcementLevel,
      resourceType: r?.type ?? "pulumi:pulumi:Stack",
      resourceName: r?.name ?? opts.stack,
      urn: d.urn,
      description: d.description,
      message,
    };
  });
  const notCheckable = violations.filter((v) => /during preview/.test(v.message)).length;
  const mandatory = violations.filter((v) => v.level === "mandatory").length;
  const advisory = violations.length - mandatory - notCheckable;
  const ok = mandatory === 0;
  const text = ok
    ? `✔ ${opts.stack}: ${rs.length} resources, ${hostsTotal} hosts, no mandatory policy violation${advisory ? ` (${advisory} advisory)` : ""} — pulumi up would not be blocked by policy`
    : `✘ ${opts.stack}: ${mandatory} mandatory policy violation${mandatory === 1 ? "" : "s"} (${[...new Set(violations.filter((v) => v.level === "mandatory").map((v) => v.policy))].join(", ")}) — pulumi up would be blocked`;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    stack: opts.stack,
    summary: {
      resources: rs.length,
      byType,
      computeHosts: computeHosts.length,
      otherHosts: hostsTotal - computeHosts.length,
      maxResourcesPerComputeHost: perHost,
      evaluationSeconds: opts.evaluationSeconds,
      perCell: [...perCellMap.values()].sort((a, b) => a.cell.localeCompare(b.cell)),
    },
    assumptions: { bootSecondsPerDesktop: opts.bootSecondsPerDesktop, iopsPerBoot: opts.iopsPerBoot },
    cells,
    rollout: rolloutWaves(rs),
    policies: { pack: opts.pack.name, version: opts.pack.version, mandatory, advisory, notCheckable, violations },
    changes: opts.changes,
    changeGroups: opts.changeGroups,
    cellChanges: opts.baseCells ? compareCells(opts.baseCells, cells) : undefined,
    verdict: { ok, exitCode: ok ? 0 : 1, text },
  };
}
