/**
 * Formats a preview report: text for a terminal or log, Markdown for a PR
 * comment or step summary (long sections folded, total under a size bound).
 */
import { MARKER, type CellComparison, type PreviewReport, type Violation } from "./report";
import type { ChangeSet } from "./compare";

export const MARKDOWN_LIMIT = 60_000;

function byPack(r: PreviewReport): string {
  return `${r.policies.pack}@v${r.policies.version}`;
}

/** Host lists as ranges: cmp-a-001 … cmp-a-025 (25). */
export function hostList(hosts: string[], max = 6): string {
  if (hosts.length <= max) return hosts.join(", ");
  return `${hosts[0]} … ${hosts[hosts.length - 1]} (${hosts.length})`;
}

/** A policy message as the pack writes it (policy/support/define.ts): "<who>: <what>. Fix: <fix>." */
function messageParts(message: string): { who: string; what: string; fix?: string } | undefined {
  const m = /^([^\n:]+): ([\s\S]*?)\. Fix: ([\s\S]*?)\.?$/.exec(message);
  return m ? { who: m[1], what: m[2], fix: m[3] } : undefined;
}

/** Names folded: all of them up to six, else the first and the last. */
const folded = (names: string[]): string => (names.length <= 6 ? names.join(", ") : `${names[0]} … ${names[names.length - 1]}`);

/**
 * One policy's violations, as `pulumi preview` prints one violation (level, policy, resource, the
 * policy's description, the message) but grouped: the description once, the resources folded, and
 * violations that differ only in whom they are about printed once, with their fix once.
 */
export function policyLines(vs: Violation[]): string[] {
  const ind = "          ";
  const v0 = vs[0];
  if (vs.length === 1) return [`        - [${v0.level}]  ${v0.policy}  (${v0.resourceType}: ${v0.resourceName})`, `${ind}${v0.description}`, ...v0.message.split("\n").map((l) => `${ind}${l}`)];
  const types = [...new Set(vs.map((v) => v.resourceType))];
  const out = [`        - [${v0.level}]  ${v0.policy}  (${vs.length} × ${types.join(", ")}: ${folded(vs.map((v) => v.resourceName))})`, `${ind}${v0.description}`];
  // Violations with the same finding and the same fix, by whom they are about.
  const groups = new Map<string, { what: string; fix?: string; who: string[] }>();
  for (const v of vs) {
    const p = messageParts(v.message) ?? { who: v.resourceName, what: v.message };
    const key = JSON.stringify([p.what, p.fix]);
    (groups.get(key) ?? groups.set(key, { what: p.what, fix: p.fix, who: [] }).get(key)!).who.push(p.who);
  }
  const fixes = new Set([...groups.values()].map((g) => g.fix));
  const oneFix = fixes.size === 1 ? [...fixes][0] : undefined;
  for (const g of groups.values()) {
    const who = [...new Set(g.who)];
    out.push(...`${folded(who)}${who.length > 6 ? ` (${who.length})` : ""}: ${g.what}${g.fix !== undefined && oneFix === undefined ? `. Fix: ${g.fix}.` : ""}`.split("\n").map((l) => `${ind}${l}`));
  }
  if (oneFix !== undefined) out.push(`${ind}Fix: ${oneFix}.`);
  return out;
}

/** A value in a change listing: JSON, or "(unset)" for a key that is absent on one side. */
const show = (x: unknown): string => (x === undefined ? "(unset)" : JSON.stringify(x));

const isScalar = (x: unknown): x is string | number | boolean => ["string", "number", "boolean"].includes(typeof x);

/**
 * One changed key's change, as a reviewer reads it: a list of plain values (an aggregate's hosts, a
 * network's name servers) as the members added and removed, folded; anything else from → to.
 */
export function changeText(k: { from?: unknown; to?: unknown }): string {
  if (Array.isArray(k.from) && Array.isArray(k.to) && k.from.every(isScalar) && k.to.every(isScalar)) {
    const count = (xs: unknown[]) => xs.reduce((m: Map<string, number>, x) => m.set(JSON.stringify(x), (m.get(JSON.stringify(x)) ?? 0) + 1), new Map<string, number>());
    const [before, after] = [count(k.from), count(k.to)];
    const diff = (a: Map<string, number>, b: Map<string, number>) => [...a].flatMap(([x, n]) => Array<string>(Math.max(0, n - (b.get(x) ?? 0))).fill(x)).map((x) => String(JSON.parse(x)));
    const added = diff(after, before);
    const removed = diff(before, after);
    const parts = [...(added.length ? [`+${hostList(added)}`] : []), ...(removed.length ? [`−${hostList(removed)}`] : [])];
    return `${parts.length ? parts.join(", ") : "same members, new order"} (${k.from.length} → ${k.to.length})`;
  }
  return `${show(k.from)} → ${show(k.to)}`;
}

/** The figures a reviewer reads first for a cell: capacity, N+1 and what limits a host. */
const HEADLINE = ["capacity", "N+1 capacity", "limited by"];

/**
 * Each cell before and after, as lines: the headline (capacity, N+1, limit) always, before → after;
 * then what else changed; then the cell's effective settings that did not. An unchanged cell is one
 * line. Empty without a comparison.
 */
export function cellChangeLines(cells: CellComparison[] | undefined): string[] {
  const out: string[] = [];
  for (const c of cells ?? []) {
    const fig = (k: string) => c.figures.find((f) => f.key === k)!;
    const pair = (f: { key: string; before?: string | number; after?: string | number; changed: boolean }) =>
      c.kind === "added" ? `${f.key} ${f.after}` : c.kind === "removed" ? `${f.key} ${f.before}` : f.changed ? `${f.key} ${f.before} → ${f.after}` : `${f.key} ${f.after}`;
    if (c.kind === "unchanged") {
      out.push(`${c.cell}: unchanged (${HEADLINE.map((k) => pair(fig(k))).join(", ")})`);
      continue;
    }
    // The headline of a changed cell always reads before → after, with the difference, so an
    // unchanged capacity is visible as such (a ratio raised on a resource that does not limit).
    const delta = (f: { before?: string | number; after?: string | number }) =>
      typeof f.before === "number" && typeof f.after === "number" ? ` (${f.after - f.before > 0 ? "+" : f.after === f.before ? "±" : "−"}${Math.abs(f.after - f.before)})` : "";
    const headline = HEADLINE.map((k) => fig(k))
      .map((f) => (c.kind === "changed" && (f.changed || typeof f.after === "number") ? `${f.key} ${f.before} → ${f.after}${delta(f)}` : pair(f)))
      .join(", ");
    out.push(`${c.cell}${c.kind === "changed" ? "" : ` (${c.kind})`}: ${headline}`);
    const rest = c.figures.filter((f) => !HEADLINE.includes(f.key));
    if (c.kind === "changed") {
      const changed = rest.filter((f) => f.changed);
      if (changed.length) out.push(`  changed: ${changed.map(pair).join(", ")}`);
      const same = rest.filter((f) => !f.changed);
      if (same.length) out.push(`  same: ${same.map(pair).join(", ")}`);
    } else out.push(`  ${rest.map(pair).join(", ")}`);
  }
  return out;
}

/** What the change restarts, per unit, from the apply script's rules; plus what cannot be told here. */
export function restartLines(c: ChangeSet): string[] {
  const out = c.restarts.map((x) => `${x.unit} on ${x.hosts.length} host${x.hosts.length === 1 ? "" : "s"} (${hostList(x.hosts)})`);
  const creds = c.hosts.filter((h) => h.credentialsChanged).map((h) => h.host);
  if (creds.length) out.push(`credentials changed on ${creds.length} host${creds.length === 1 ? "" : "s"} (${hostList(creds)}): each restarts the units its credential files name (secret: not shown)`);
  if (c.hostsAdded.length) out.push(`${c.hostsAdded.length} new host${c.hostsAdded.length === 1 ? "" : "s"} converge from nothing (every service installed and started)`);
  if (!out.length) out.push("nothing (no changed file or package that restarts a unit)");
  return out;
}

export function formatText(r: PreviewReport): string {
  const out: string[] = [];
  out.push(`Offline preview of stack ${r.stack} (Pulumi mocks; no cloud, no credentials)`, "");
  out.push(`Resources: ${r.summary.resources} (${r.summary.computeHosts} compute hosts at ${r.summary.maxResourcesPerComputeHost} resources each, ${r.summary.otherHosts} other hosts)`);
  for (const [t, n] of Object.entries(r.summary.byType).sort()) out.push(`  ${String(n).padStart(5)}  ${t}`);
  out.push("", "Resources per cell:");
  for (const c of r.summary.perCell) out.push(`  ${c.cell.padEnd(10)} ${String(c.resources).padStart(5)} resources, ${c.hosts} compute hosts`);
  out.push("", "Capacity per cell (N+1: with its largest host down):");
  out.push(`  ${"cell".padEnd(10)} ${"hosts".padStart(5)} ${"planned".padStart(8)} ${"capacity".padStart(8)} ${"N+1".padStart(6)} ${"headroom".padStart(8)}  per host  boots/host  boot waves  cold boot`);
  for (const c of r.cells) {
    out.push(
      `  ${c.cell.padEnd(10)} ${String(c.hosts).padStart(5)} ${String(c.plannedDesktops).padStart(8)} ${String(c.capacity).padStart(8)} ${String(c.capacityNPlusOne).padStart(6)} ${String(c.headroomNPlusOne).padStart(8)}  ${`${c.desktopsPerHost.min === c.desktopsPerHost.max ? c.desktopsPerHost.max : `${c.desktopsPerHost.min}-${c.desktopsPerHost.max}`} (${c.limitedBy.join("/")})`.padEnd(8)}  ${String(c.concurrentBootsPerHost).padStart(10)}  ${String(c.bootWavesPerHost).padStart(10)}  ${c.coldBootMinutes} min`,
    );
  }
  out.push(`  (boots per host: max_concurrent_builds capped by floor(IOPS budget / ${r.assumptions.iopsPerBoot} IOPS per boot), the boot-storm policy's figure; cold boot: boot waves × ${r.assumptions.bootSecondsPerDesktop} s per desktop boot at its IOPS share, an assumption: --boot-seconds)`);
  out.push("", "Rollout waves (hosts converged together; each waits for the previous one):");
  for (const g of r.rollout) {
    out.push(`  ${g.group}: ${g.waves.length} rollout wave${g.waves.length === 1 ? "" : "s"}`);
    for (const w of g.waves) out.push(`    ${String(w.wave).padStart(3)}. ${hostList(w.hosts)}`);
  }
  if (r.changes) out.push("", ...changesText(r));
  out.push("", "Policies:");
  const vs = r.policies.violations;
  out.push(`    ${vs.some((v) => v.level === "mandatory") ? "❌" : "✅"} ${byPack(r)} (local: policy)`);
  const byPolicy = new Map<string, Violation[]>();
  for (const v of vs) (byPolicy.get(v.policy) ?? byPolicy.set(v.policy, []).get(v.policy)!).push(v);
  for (const list of byPolicy.values()) out.push(...policyLines(list));
  out.push("", r.verdict.text);
  return out.join("\n") + "\n";
}

function changesText(r: PreviewReport): string[] {
  const c = r.changes!;
  const out = [`Changes from ${c.base} to ${c.head}:`];
  const cells = cellChangeLines(r.cellChanges);
  if (cells.length) out.push("  Cells, before → after (capacity in desktops; N+1: with its largest host down; effective settings as shipped):", ...cells.map((l) => `    ${l}`));
  if (!c.hostsAdded.length && !c.hostsRemoved.length && !c.hosts.length && !c.resources.length) return [...out, "  No change in desired state."];
  out.push("  Restarts when converged (host/apply.sh's rules: a changed file's restart actions, an upgraded package's units):", ...restartLines(c).map((l) => `    ${l}`));
  if (c.hostsAdded.length) out.push(`  hosts added: ${hostList(c.hostsAdded, 20)}`);
  if (c.hostsRemoved.length) out.push(`  hosts removed: ${hostList(c.hostsRemoved, 20)}`);
  for (const g of r.changeGroups ?? []) {
    out.push(`  ${g.hosts.length === 1 ? g.hosts[0] : `${g.hosts.length} hosts (${hostList(g.hosts)})`}:`);
    for (const p of g.change.packages) out.push(`    package ${p.name}: ${p.from ?? "(none)"} → ${p.to ?? "(removed)"}`);
    for (const f of g.change.facts) out.push(`    fact ${f.key}: ${f.from ?? "(none)"} → ${f.to ?? "(removed)"}`);
    for (const u of g.change.units) out.push(`    ${u.kind} ${u.unit} ${u.change}`);
    if (g.change.credentialsChanged) out.push("    credentials document changed (contents not shown)");
    if (g.change.commandChanges.length) out.push(`    commands re-run: ${g.change.commandChanges.join(", ")} changed`);
    for (const f of g.change.files) out.push(`    ${f.kind} ${f.path}`, ...f.diff.split("\n").filter(Boolean).map((l) => `      ${l}`));
  }
  for (const x of c.resources) {
    out.push(`  ${x.kind} ${x.type} ${x.name}`);
    for (const k of x.changes) out.push(`    ${k.key}: ${changeText(k)}`);
  }
  return out;
}

const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/\n/g, "<br>");

function details(summary: string, body: string[]): string[] {
  return ["<details>", `<summary>${summary}</summary>`, "", ...body, "", "</details>", ""];
}

export function formatMarkdown(r: PreviewReport, limit = MARKDOWN_LIMIT): string {
  const head: string[] = [MARKER, `## ${r.verdict.ok ? "✅" : "❌"} Offline preview: \`${r.stack}\``, "", `**${esc(r.verdict.text)}**`, ""];
  const cells = [
    "### Capacity per cell",
    "",
    "| cell | zone | hosts | resources | planned | capacity | N+1 | headroom | desktops/host (limit) | boots/host | boot waves | cold boot |",
    "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ...r.cells.map(
      (c) =>
        `| ${c.cell} | ${c.availabilityZone ?? ""} | ${c.hosts} | ${r.summary.perCell.find((p) => p.cell === c.cell)?.resources ?? ""} | ${c.plannedDesktops} | ${c.capacity} | ${c.capacityNPlusOne} | ${c.headroomNPlusOne < 0 ? `**${c.headroomNPlusOne}**` : c.headroomNPlusOne} | ${c.desktopsPerHost.max} (${c.limitedBy.join("/")}) | ${c.concurrentBootsPerHost} | ${c.bootWavesPerHost} | ${c.coldBootMinutes} min |`,
    ),
    "",
    `Boots per host = the configured max_concurrent_builds, capped by floor(IOPS budget / ${r.assumptions.iopsPerBoot} IOPS per boot) (the boot-storm policy's figure, CTX135986); cold boot = boot waves × ${r.assumptions.bootSecondsPerDesktop} s per desktop (an assumption).`,
    "",
  ];
  const vs = r.policies.violations;
  const title = `### Policies: ${byPack(r)} — ${r.policies.mandatory} mandatory, ${r.policies.advisory} advisory${r.policies.notCheckable ? `, ${r.policies.notCheckable} not checkable in preview` : ""}`;
  const fullPolicies = [title, "", ...(vs.length ? ["| level | policy | resource | message |", "|---|---|---|---|", ...vs.map((v) => `| ${v.level} | \`${v.policy}\` | ${esc(v.resourceName)} | ${esc(v.message)} |`), ""] : ["No violations.", ""])];
  // Folded: one row per policy with its count and a few examples.
  const byPolicy = new Map<string, Violation[]>();
  for (const v of vs) (byPolicy.get(v.policy) ?? byPolicy.set(v.policy, []).get(v.policy)!).push(v);
  const foldedPolicies = [
    title,
    "",
    "| level | policy | resources | examples |",
    "|---|---|---:|---|",
    ...[...byPolicy].map(([p, list]) => `| ${list[0].level} | \`${p}\` | ${list.length} | ${list.slice(0, 3).map((v) => esc(v.message)).join("<br>")}${list.length > 3 ? `<br>… and ${list.length - 3} more` : ""} |`),
    "",
    `_${vs.length} violations, folded by policy; run \`npm run preview -- --stack ${r.stack}\` for every one._`,
    "",
  ];
  const summary = details(`Resources: ${r.summary.resources} (${r.summary.computeHosts} compute hosts × ${r.summary.maxResourcesPerComputeHost})`, [
    "| type | count |",
    "|---|---:|",
    ...Object.entries(r.summary.byType)
      .sort()
      .map(([t, n]) => `| \`${t}\` | ${n} |`),
  ]);
  const rollout = details(`Rollout waves: ${r.rollout.map((g) => `${g.group} ${g.waves.length}`).join(", ")}`, r.rollout.flatMap((g) => [`**${g.group}**`, "", ...g.waves.map((w) => `${w.wave}. ${hostList(w.hosts)}`), ""]));
  const oneLine = [`_Resources: ${r.summary.resources}; rollout waves: ${r.rollout.map((g) => `${g.group} ${g.waves.length}`).join(", ")}._`, ""];
  const changes = r.changes ? changesMarkdown(r, Infinity) : [];
  const attempts = [
    [head, fullPolicies, cells, changes, summary, rollout],
    [head, foldedPolicies, cells, changes, summary, rollout],
    [head, foldedPolicies, cells, r.changes ? changesMarkdown(r, 10) : [], summary, rollout],
    [head, foldedPolicies, cells, r.changes ? changesMarkdown(r, 0) : [], oneLine],
  ];
  for (const parts of attempts) {
    const md = parts.flat().join("\n");
    if (md.length <= limit) return md;
  }
  // Still too long (thousands of host groups): keep whole lines up to the limit, outside any fold.
  const note = `\n\n_Report cut to ${limit} characters; run \`npm run preview -- --stack ${r.stack}\` for all of it._\n`;
  const lines = attempts[attempts.length - 1].flat();
  const out: string[] = [];
  let size = note.length;
  for (const l of lines) {
    if (size + l.length + 1 > limit) break;
    out.push(l);
    size += l.length + 1;
  }
  return out.join("\n") + note;
}

/** The change section; host groups beyond `maxDiffs` are listed without their diffs. */
function changesMarkdown(r: PreviewReport, maxDiffs: number): string[] {
  const c = r.changes!;
  const out = [`### Changes from \`${c.base}\` to \`${c.head}\``, ""];
  const cells = cellChangeLines(r.cellChanges);
  if (cells.length) out.push("**Cells**, before → after (capacity in desktops; N+1: with its largest host down; effective settings as shipped):", "", "```", ...cells, "```", "");
  if (!c.hostsAdded.length && !c.hostsRemoved.length && !c.hosts.length && !c.resources.length) return [...out, "No change in desired state.", ""];
  out.push("**Restarts when converged** (host/apply.sh's rules: a changed file's restart actions, an upgraded package's units):", "", ...restartLines(c).map((l) => `- ${esc(l)}`), "");
  if (c.hostsAdded.length) out.push(`- **hosts added:** ${hostList(c.hostsAdded, 20)}`);
  if (c.hostsRemoved.length) out.push(`- **hosts removed:** ${hostList(c.hostsRemoved, 20)}`);
  for (const x of c.resources) out.push(`- **${x.kind}** \`${x.type}\` ${x.name}${x.changes.length ? `: ${x.changes.map((k) => `\`${k.key}\` ${esc(changeText(k))}`).join(", ")}` : ""}`);
  out.push("");
  const groups = r.changeGroups ?? [];
  for (const [i, g] of groups.entries()) {
    const who = g.hosts.length === 1 ? g.hosts[0] : `${g.hosts.length} hosts: ${hostList(g.hosts)}`;
    if (i >= maxDiffs) {
      out.push(`- ${who}: ${[...g.change.files.map((f) => f.path), ...(g.change.packages.length ? ["packages"] : [])].join(", ")}`);
      continue;
    }
    const body: string[] = [];
    for (const p of g.change.packages) body.push(`- package \`${p.name}\`: ${p.from ?? "(none)"} → ${p.to ?? "(removed)"}`);
    for (const f of g.change.facts) body.push(`- fact \`${f.key}\`: ${f.from ?? "(none)"} → ${f.to ?? "(removed)"}`);
    for (const u of g.change.units) body.push(`- ${u.kind} \`${u.unit}\` ${u.change}`);
    if (g.change.credentialsChanged) body.push("- credentials document changed (contents not shown)");
    if (g.change.commandChanges.length) body.push(`- commands re-run: ${g.change.commandChanges.join(", ")} changed`);
    for (const f of g.change.files) body.push(`\`${f.path}\` (${f.kind})`, "", "```diff", f.diff.trimEnd(), "```", "");
    const what = [...g.change.files.map((f) => f.path), ...(g.change.packages.length ? ["packages"] : []), ...(g.change.units.length ? ["units"] : []), ...(g.change.facts.length ? ["facts"] : []), ...(g.change.credentialsChanged ? ["credentials"] : []), ...g.change.commandChanges.map((c) => `command ${c}`)];
    out.push(...details(`${who} — ${what.join(", ")}`, body));
  }
  return out;
}

export function formatJson(r: PreviewReport): string {
  return JSON.stringify(r, null, 2) + "\n";
}
