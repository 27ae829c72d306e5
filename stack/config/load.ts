/**
 * Validates the raw fleet config once and expands it into the fleet model:
 * every host with its resolved hardware, versions, host key, cell settings.
 *
 * Pure apart from reading the known_hosts file through the `readFile`
 * callback. Returns every problem at once; never throws on bad input.
 */
import { COMPONENTS } from "../../facts/packages";
import {
  fleetSchema,
  type AptSource,
  type BootStorm,
  type FleetSpec,
  type HardwareProfile,
  type LibvirtGuests,
  type Overcommit,
  type Role,
  type VersionSet,
  type Workload,
} from "./schema";
import { problemsFromZod, showPath, showValue, type ConfigProblem } from "./problems";
import { originAt, type OriginTree } from "../../formats/yaml";
import { KnownHosts, noHostKey, parseKnownHosts } from "../../formats/knownHosts";
import { cidrContains, cidrsOverlap, ipToInt, intToIp } from "../../formats/ip";
import { DEBIAN_LIBVIRT_GUESTS } from "../../facts/bootStorm";
import { cellProvenance, fleetProvenance, type Provenance } from "./provenance";

export const CONFIG_ROOT = "vdi-fleet:fleet";

export interface ResolvedBootStorm {
  maxConcurrentBuilds?: number;
  maxConcurrentDiskOps?: number;
  resumeGuestsStateOnHostBoot?: boolean;
  useCowImages?: boolean;
  imagePrecacheConcurrency?: number;
  /** Debian's defaults filled in for keys the config leaves out. */
  libvirtGuests: LibvirtGuests;
}

export interface HostSpec {
  name: string;
  address: string;
  tunnelAddress: string;
  sshPort: number;
  /** Pinned key, "<type> <base64>". */
  hostKey: string;
  roles: Role[];
  /** Compute hosts only. */
  cell?: string;
  hardwareProfile: string;
  hardware: HardwareProfile;
  versionSet: string;
  versions: VersionSet;
  /** The apt source the version set installs from, with its signing key's text; undefined when the version set names none (a policy blocks that). */
  apt?: ResolvedAptSource;
  /** Index of the host group in config, for error messages. */
  group: number;
}

export interface ResolvedAptSource extends AptSource {
  /** The ASCII-armored signing key read from signingKeyFile. */
  signingKey: string;
}

/** A host the stack reaches over SSH that it does not converge (the control plane's discovery host). */
export interface SshTarget {
  name: string;
  address: string;
  sshPort: number;
  hostKey: string;
}

export interface CellSpec {
  name: string;
  availabilityZone: string;
  workloadName: string;
  workload: Workload;
  desktops: number;
  versionSet: string;
  overcommit: Overcommit;
  bootStorm: ResolvedBootStorm;
  /** Compute hosts of the cell, in inventory order. */
  hosts: HostSpec[];
  /** Where each effective setting of the cell was written (./provenance.ts): for policy fixes, never shipped. */
  provenance: Provenance;
}

export interface Fleet {
  spec: FleetSpec;
  cells: CellSpec[];
  hosts: HostSpec[];
  messagingHosts: HostSpec[];
  networkHosts: HostSpec[];
  /** Where `nova-manage cell_v2 discover_hosts` runs (controlPlane.cellDiscovery). */
  discoveryHost: SshTarget;
  /** Where each value of the fleet-wide sections was written (./provenance.ts): for policy fixes, never shipped. */
  provenance: Provenance;
}

export type LoadResult = { ok: true; fleet: Fleet } | { ok: false; problems: ConfigProblem[] };

const PLACEHOLDER = /\{n(?::(0?)(\d+))?\}/;

/** Minimum member disks per RAID level (the level cannot exist with fewer). */
const RAID_MIN_DISKS: Record<string, number> = { none: 1, raid0: 2, raid1: 2, raid5: 3, raid6: 4, raid10: 4 };

function expandName(pattern: string, n: number): string {
  return pattern.replace(PLACEHOLDER, (_m, zero: string | undefined, width: string | undefined) => {
    const s = String(n);
    return width ? s.padStart(Number(width), zero === "0" ? "0" : " ").replace(/ /g, "0") : s;
  });
}

function mergeOvercommit(a: Overcommit, b: Overcommit | undefined): Overcommit {
  if (!b) return { ...a };
  return { ...a, ...b, ksm: b.ksm ?? a.ksm };
}

function mergeBootStorm(a: BootStorm, b: BootStorm | undefined): ResolvedBootStorm {
  const m = { ...a, ...(b ?? {}) };
  return {
    ...m,
    libvirtGuests: { ...DEBIAN_LIBVIRT_GUESTS, ...(a.libvirtGuests ?? {}), ...(b?.libvirtGuests ?? {}) } as LibvirtGuests,
  };
}

export interface LoadOptions {
  /** Reads a file relative to the project directory; undefined when missing. */
  readFile: (path: string) => string | undefined;
  /** How problem paths start: the config key (default "vdi-fleet:fleet") or a fleet file ("fleets/prod.yaml:"). */
  root?: string;
  /** Where each value was written (stack/config/source.ts), so problems name the line to edit. */
  origins?: OriginTree;
}

type Section = keyof FleetSpec;

export function loadFleet(raw: unknown, opts: LoadOptions): LoadResult {
  const root = opts.root ?? CONFIG_ROOT;
  const parsed = fleetSchema.safeParse(raw, { reportInput: true });
  const problems: ConfigProblem[] = [];
  let spec: FleetSpec;
  // Which top-level sections are valid. When the whole fleet does not parse, each section
  // is parsed on its own, and the cross-field checks run for the sections that did, so
  // every problem is still reported at once.
  let valid: Set<Section>;
  if (parsed.success) {
    spec = parsed.data;
    valid = new Set(Object.keys(fleetSchema.shape) as Section[]);
  } else {
    problems.push(...problemsFromZod(root, parsed.error.issues, raw, opts.origins));
    const partial: Partial<Record<Section, unknown>> = {};
    valid = new Set();
    const obj = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
    for (const [k, schema] of Object.entries(fleetSchema.shape) as Array<[Section, { safeParse: (v: unknown) => { success: boolean; data?: unknown } }]>) {
      const r = schema.safeParse(obj[k]);
      if (r.success) {
        partial[k] = r.data;
        valid.add(k);
      }
    }
    spec = partial as FleetSpec;
  }
  const has = (...sections: Section[]) => sections.every((k) => valid.has(k));
  const at = (path: Array<string | number>, value: unknown, message: string, fix: string) =>
    problems.push({ path: showPath(root, path, raw), at: originAt(opts.origins, path), value: showValue(value), message, fix });

  // --- references --------------------------------------------------------
  const known = (kind: "versionSets" | "hardwareProfiles" | "workloads", n: string) => n in spec[kind];
  const list = (kind: "versionSets" | "hardwareProfiles" | "workloads") => Object.keys(spec[kind]).join(", ") || "(none defined)";
  if (has("defaults", "versionSets") && !known("versionSets", spec.defaults.versionSet)) {
    at(["defaults", "versionSet"], spec.defaults.versionSet, "no such version set", `use one of ${list("versionSets")}`);
  }
  const cellNames = new Set<string>();
  const cells0 = has("cells") ? spec.cells : [];
  cells0.forEach((c, i) => {
    if (cellNames.has(c.name)) at(["cells", i, "name"], c.name, "duplicate cell name", "give every cell its own name");
    cellNames.add(c.name);
    if (has("workloads") && !known("workloads", c.workload)) at(["cells", i, "workload"], c.workload, "no such workload", `use one of ${list("workloads")}`);
    if (has("versionSets") && c.versionSet && !known("versionSets", c.versionSet)) at(["cells", i, "versionSet"], c.versionSet, "no such version set", `use one of ${list("versionSets")}`);
  });
  const zones = new Map<string, string>();
  cells0.forEach((c, i) => {
    const other = zones.get(c.availabilityZone);
    if (other) at(["cells", i, "availabilityZone"], c.availabilityZone, `also used by cell ${other}`, "give each cell (aggregate) its own availability zone");
    zones.set(c.availabilityZone, c.name);
  });

  // --- hardware profiles ---------------------------------------------------
  for (const [pn, p] of Object.entries(has("hardwareProfiles") ? spec.hardwareProfiles : {})) {
    const s = p.instanceStorage;
    const min = RAID_MIN_DISKS[s.raidLevel];
    if (s.raidLevel === "none" && s.disks !== 1) {
      at(["hardwareProfiles", pn, "instanceStorage", "disks"], s.disks, `raidLevel "none" means one disk`, "set disks: 1, or name the RAID level the disks are in");
    } else if (s.disks < min) {
      at(["hardwareProfiles", pn, "instanceStorage", "disks"], s.disks, `${s.raidLevel} needs at least ${min} disks`, `give at least ${min} disks or another raidLevel`);
    } else if (s.raidLevel === "raid10" && s.disks % 2 !== 0) {
      at(["hardwareProfiles", pn, "instanceStorage", "disks"], s.disks, "raid10 needs an even number of disks", "use an even number of disks (hot spares go in hotSpares)");
    }
    if (p.numaNodes > p.cpus) at(["hardwareProfiles", pn, "numaNodes"], p.numaNodes, `more NUMA nodes than CPUs (${p.cpus})`, "give the host's real NUMA node count (lscpu)");
  }

  // --- workloads -----------------------------------------------------------
  const flavorOwners = new Map<string, string>();
  for (const [wn, w] of Object.entries(has("workloads") ? spec.workloads : {})) {
    const other = flavorOwners.get(w.flavor.name);
    if (other) at(["workloads", wn, "flavor", "name"], w.flavor.name, `also the flavor of workload ${other}`, "give each workload its own flavor name");
    flavorOwners.set(w.flavor.name, wn);
    for (const [k, v] of Object.entries(w.flavor.extraSpecs)) {
      if (!/^[A-Za-z0-9_:.-]+$/.test(k)) at(["workloads", wn, "flavor", "extraSpecs", k], v, "not a valid extra spec key", "use keys like hw:cpu_policy");
    }
  }

  // --- known hosts -----------------------------------------------------------
  let knownHosts: KnownHosts | undefined;
  const khText = has("ssh") ? opts.readFile(spec.ssh.knownHostsFile) : "";
  if (!has("ssh")) {
    // The ssh section itself is invalid: reported above.
  } else if (khText === undefined) {
    at(["ssh", "knownHostsFile"], spec.ssh.knownHostsFile, "file not found", "create it with `ssh-keyscan -t ed25519 <address>... > FILE` from a trusted network, or fix the path (relative to the project)");
  } else {
    const kh = parseKnownHosts(khText);
    for (const p of kh.problems) {
      at(["ssh", "knownHostsFile"], `${spec.ssh.knownHostsFile}:${p.line}`, p.message, "regenerate that line with `ssh-keyscan -t ed25519 <address>`");
    }
    knownHosts = new KnownHosts(kh);
  }

  /**
   * The pinned key of a host (name or address) in the known_hosts file; "" (and a problem) when the
   * file's key cannot be pinned. A host with no key at all is a planned host: it gets the
   * no-host-key marker (formats/knownHosts.ts), so it can be previewed and the host-key policy
   * blocks its deploy.
   */
  const pinnedKey = (path: Array<string | number>, hostName: string, address: string): string => {
    if (!knownHosts) return "";
    const keys = knownHosts.lookup([hostName, address], spec.ssh.port);
    const usable = keys.find((e) => e.keyType !== "ssh-rsa");
    if (keys.length === 0) return noHostKey(spec.ssh.knownHostsFile);
    if (!usable) {
      at(path, hostName, `only an ssh-rsa host key is known for ${hostName}`, `pin its ed25519 or ecdsa key: the command provider offers only the pinned key's algorithm, and Debian 12's sshd refuses SHA-1 "ssh-rsa"`);
      return "";
    }
    const distinct = new Set(keys.filter((e) => e.keyType === usable.keyType).map((e) => e.key));
    if (distinct.size > 1) {
      at(path, hostName, `${distinct.size} different ${usable.keyType} keys for ${hostName} in ${spec.ssh.knownHostsFile}`, "keep only the host's current key (a changed key must be verified, not guessed)");
    }
    return `${usable.keyType} ${usable.key}`;
  };

  // --- apt sources: each version set's signing key, read once ---------------------------
  const aptSources = new Map<string, ResolvedAptSource | undefined>();
  for (const [vs, set] of Object.entries(has("versionSets") ? spec.versionSets : {})) {
    const src = set.aptSource;
    if (!src) {
      aptSources.set(vs, undefined);
      continue;
    }
    const text = opts.readFile(src.signingKeyFile);
    if (text === undefined) {
      at(["versionSets", vs, "aptSource", "signingKeyFile"], src.signingKeyFile, "file not found", "export the archive's signing key there (gpg --armor --export <key id> > FILE), or fix the path (relative to the project)");
    } else if (!/^-----BEGIN PGP PUBLIC KEY BLOCK-----\n[\s\S]+\n-----END PGP PUBLIC KEY BLOCK-----\s*$/.test(text.replace(/\r/g, ""))) {
      at(["versionSets", vs, "aptSource", "signingKeyFile"], src.signingKeyFile, "not an ASCII-armored OpenPGP public key", "export it with gpg --armor --export <key id>");
    } else {
      aptSources.set(vs, { ...src, signingKey: text.replace(/\r/g, "").trimEnd() + "\n" });
    }
  }

  // --- the control plane's discovery host ---------------------------------------------------
  const discovery = has("controlPlane") ? spec.controlPlane.cellDiscovery : undefined;
  const discoveryKey = discovery && has("ssh") ? pinnedKey(["controlPlane", "cellDiscovery"], discovery.host, discovery.address) : "";

  // --- hosts -------------------------------------------------------------------
  const hosts: HostSpec[] = [];
  const byName = new Map<string, number>();
  const ranges: Array<{ from: number; to: number; group: number; kind: string }> = [];
  const hostChecks = has("hosts", "cells", "hardwareProfiles", "versionSets", "defaults", "ssh");
  /** Cells of host groups that had hosts dropped by a problem (duplicate names). */
  const incomplete = new Set<string | undefined>();
  (hostChecks ? spec.hosts : []).forEach((g, gi) => {
    const hasPattern = PLACEHOLDER.test(g.name);
    if (/[{}]/.test(g.name.replace(PLACEHOLDER, ""))) {
      at(["hosts", gi, "name"], g.name, "malformed placeholder", "use {n} or {n:03}");
      incomplete.add(g.cell);
      return;
    }
    if (g.count > 1 && !hasPattern) {
      at(["hosts", gi, "name"], g.name, `a group of ${g.count} hosts needs a {n} placeholder in its name`, "write the name as a pattern, e.g. cmp-a-{n:03}");
      incomplete.add(g.cell);
      return;
    }
    const isCompute = g.roles.includes("compute");
    if (new Set(g.roles).size !== g.roles.length) at(["hosts", gi, "roles"], g.roles, "a role is listed twice", "list each role once");
    if (isCompute && !g.cell) at(["hosts", gi, "cell"], g.cell, "compute hosts need a cell", `add cell: <one of ${[...cellNames].join(", ")}>`);
    if (!isCompute && g.cell) at(["hosts", gi, "cell"], g.cell, "only compute hosts belong to a cell", "remove cell, or add the compute role");
    if (g.cell && !cellNames.has(g.cell)) at(["hosts", gi, "cell"], g.cell, "no such cell", `use one of ${[...cellNames].join(", ")}`);
    if (!known("hardwareProfiles", g.hardwareProfile)) {
      at(["hosts", gi, "hardwareProfile"], g.hardwareProfile, "no such hardware profile", `use one of ${list("hardwareProfiles")}`);
    }
    if (g.versionSet && !known("versionSets", g.versionSet)) at(["hosts", gi, "versionSet"], g.versionSet, "no such version set", `use one of ${list("versionSets")}`);

    // Effective ranges: hosts without a tunnelAddress tunnel from their SSH address.
    for (const [field, first] of [["address", g.address], ["tunnelAddress", g.tunnelAddress ?? g.address]] as const) {
      const from = ipToInt(first);
      const to = from + g.count - 1;
      if (to > 0xffffffff) {
        at(["hosts", gi, field], first, `${g.count} consecutive addresses do not fit`, "start lower or split the group");
        continue;
      }
      const overlap = ranges.find((r) => r.kind === field && from <= r.to && r.from <= to);
      if (overlap) {
        at(["hosts", gi, field], first, `addresses ${intToIp(from)}–${intToIp(to)} overlap ${field}es of hosts[${overlap.group}] (${intToIp(overlap.from)}–${intToIp(overlap.to)})`, "give each group its own address range");
      }
      ranges.push({ from, to, group: gi, kind: field });
    }

    const profile = spec.hardwareProfiles[g.hardwareProfile];
    const cell = spec.cells.find((c) => c.name === g.cell);
    const vsName = g.versionSet ?? cell?.versionSet ?? spec.defaults.versionSet;
    const set = spec.versionSets[vsName];
    const versions = set ? (Object.fromEntries(COMPONENTS.map((c) => [c, set[c]])) as VersionSet) : undefined;
    // Names this group shares with an earlier group, by that group: one problem each, not one per host.
    const duplicates = new Map<number, string[]>();
    for (let k = 0; k < g.count; k++) {
      const n = g.start + k;
      const hostName = hasPattern ? expandName(g.name, n) : g.name;
      if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(hostName)) {
        at(["hosts", gi, "name"], hostName, "not a valid host name", "use lower-case letters, digits, '-' and '.'");
        incomplete.add(g.cell);
        break;
      }
      const prev = byName.get(hostName);
      if (prev !== undefined) {
        (duplicates.get(prev) ?? duplicates.set(prev, []).get(prev)!).push(hostName);
        continue;
      }
      byName.set(hostName, gi);
      const address = intToIp(ipToInt(g.address) + k);
      const tunnelAddress = g.tunnelAddress ? intToIp(ipToInt(g.tunnelAddress) + k) : address;
      const hostKey = pinnedKey(["hosts", gi], hostName, address);
      if (profile && versions) {
        hosts.push({
          name: hostName,
          address,
          tunnelAddress,
          sshPort: spec.ssh.port,
          hostKey,
          roles: [...g.roles],
          cell: g.cell,
          hardwareProfile: g.hardwareProfile,
          hardware: profile,
          versionSet: vsName,
          versions,
          apt: aptSources.get(vsName),
          group: gi,
        });
      }
    }
    for (const [prev, names] of duplicates) {
      const shown = names.length === 1 ? names[0] : names.length <= 3 ? names.join(", ") : `${names[0]} … ${names[names.length - 1]} (${names.length} names)`;
      at(["hosts", gi, "name"], shown, `duplicate host name${names.length === 1 ? "" : "s"} (also in hosts[${prev}])`, "give every host a unique name (check name, start and count)");
      incomplete.add(g.cell);
    }
  });

  // --- cells have hosts; fleet has its infrastructure -----------------------------
  // (A cell whose host group lost hosts to an earlier problem is not reported again as empty.)
  (hostChecks ? spec.cells : []).forEach((c, i) => {
    if (!hosts.some((h) => h.cell === c.name) && !incomplete.has(c.name)) {
      at(["cells", i], c.name, "the cell has no compute hosts", `add a host group with roles: [compute] and cell: ${c.name}, or remove the cell`);
    }
  });
  if (has("hosts") && !spec.hosts.some((g) => g.roles.includes("messaging"))) {
    at(["hosts"], "(no messaging host)", "no host has the messaging role", "give at least one host roles: [messaging]");
  }
  if (has("hosts") && !spec.hosts.some((g) => g.roles.includes("network"))) {
    at(["hosts"], "(no network host)", "no host has the network role", "give at least one host roles: [network]");
  }

  // --- networking -----------------------------------------------------------------
  if (has("networking")) {
    const net = spec.networking;
    const physnets = new Set<string>();
    const bridgeNames = new Set<string>();
    net.bridges.forEach((b, i) => {
      if (physnets.has(b.physnet)) at(["networking", "bridges", i, "physnet"], b.physnet, "physnet mapped twice", "map each physnet to one bridge");
      if (bridgeNames.has(b.name)) at(["networking", "bridges", i, "name"], b.name, "bridge listed twice", "list each bridge once");
      if (b.name === "br-int" || b.name === "br-tun") at(["networking", "bridges", i, "name"], b.name, "reserved for the OVS agent", "use another name, e.g. br-provider");
      physnets.add(b.physnet);
      bridgeNames.add(b.name);
    });
    const pn = net.providerNetwork;
    if (!physnets.has(pn.physnet)) {
      at(["networking", "providerNetwork", "physnet"], pn.physnet, "no bridge maps this physnet", `add a bridge with physnet: ${pn.physnet}, or use one of ${[...physnets].join(", ")}`);
    }
    if (pn.type === "vlan" && pn.segmentationId === undefined) at(["networking", "providerNetwork", "segmentationId"], undefined, "a vlan network needs a VLAN id", "add segmentationId: <1-4094>");
    if (pn.type === "flat" && pn.segmentationId !== undefined) at(["networking", "providerNetwork", "segmentationId"], pn.segmentationId, "a flat network has no VLAN id", "remove segmentationId or use type: vlan");
    if (pn.segmentationId !== undefined && pn.segmentationId > 4094) at(["networking", "providerNetwork", "segmentationId"], pn.segmentationId, "VLAN ids go up to 4094", "use 1-4094");
    const checkSubnet = (base: Array<string | number>, c: string, gw: string | undefined, pools: Array<{ start: string; end: string }> | undefined) => {
      if (gw && !cidrContains(c, gw)) at([...base, "gatewayIp"], gw, `not inside ${c}`, `use an address inside ${c}`);
      (pools ?? []).forEach((p, j) => {
        if (!cidrContains(c, p.start) || !cidrContains(c, p.end)) at([...base, "allocationPools", j], `${p.start}-${p.end}`, `not inside ${c}`, `keep the pool inside ${c}`);
        else if (ipToInt(p.start) > ipToInt(p.end)) at([...base, "allocationPools", j], `${p.start}-${p.end}`, "start is after end", "swap start and end");
        else if (gw && ipToInt(gw) >= ipToInt(p.start) && ipToInt(gw) <= ipToInt(p.end)) at([...base, "allocationPools", j], `${p.start}-${p.end}`, `contains the gateway ${gw}`, "leave the gateway out of the pool");
      });
    };
    checkSubnet(["networking", "providerNetwork"], pn.cidr, pn.gatewayIp, pn.allocationPools);
    const seenCidrs: Array<{ cidr: string; where: string }> = [{ cidr: pn.cidr, where: "providerNetwork" }];
    const tnNames = new Set<string>([pn.name]);
    net.tenantNetworks.forEach((t, i) => {
      if (tnNames.has(t.name)) at(["networking", "tenantNetworks", i, "name"], t.name, "network name used twice", "give every network its own name");
      tnNames.add(t.name);
      const clash = seenCidrs.find((s) => cidrsOverlap(s.cidr, t.cidr));
      if (clash) at(["networking", "tenantNetworks", i, "cidr"], t.cidr, `overlaps ${clash.where} (${clash.cidr})`, "give every network its own address range");
      seenCidrs.push({ cidr: t.cidr, where: `tenantNetworks[${i}](${t.name})` });
      checkSubnet(["networking", "tenantNetworks", i], t.cidr, t.gatewayIp, t.allocationPools);
    });
    const ifaces = new Set<string>();
    net.dhcp.extraDnsmasq.forEach((d, i) => {
      if (ifaces.has(d.interface)) at(["networking", "dhcp", "extraDnsmasq", i, "interface"], d.interface, "two dnsmasq instances on one interface", "run one instance per interface");
      ifaces.add(d.interface);
    });
  }

  // --- rollout ------------------------------------------------------------------------
  if (has("hostRoot") && spec.hostRoot !== "/" && spec.hostRoot.endsWith("/")) at(["hostRoot"], spec.hostRoot, "trailing slash", "remove the trailing slash");

  if (problems.length) return { ok: false, problems };

  const cells: CellSpec[] = spec.cells.map((c, i) => ({
    name: c.name,
    availabilityZone: c.availabilityZone,
    workloadName: c.workload,
    workload: spec.workloads[c.workload],
    desktops: c.desktops,
    versionSet: c.versionSet ?? spec.defaults.versionSet,
    overcommit: mergeOvercommit(spec.defaults.overcommit, c.overcommit),
    bootStorm: mergeBootStorm(spec.defaults.bootStorm, c.bootStorm),
    hosts: hosts.filter((h) => h.cell === c.name),
    provenance: cellProvenance(raw, i, opts.origins, { libvirtGuests: "Debian's /etc/default/libvirt-guests" }),
  }));
  return {
    ok: true,
    fleet: {
      spec,
      cells,
      hosts,
      messagingHosts: hosts.filter((h) => h.roles.includes("messaging")),
      discoveryHost: { name: spec.controlPlane.cellDiscovery.host, address: spec.controlPlane.cellDiscovery.address, sshPort: spec.ssh.port, hostKey: discoveryKey },
      networkHosts: hosts.filter((h) => h.roles.includes("network")),
      provenance: fleetProvenance(raw, opts.origins),
    },
  };
}
