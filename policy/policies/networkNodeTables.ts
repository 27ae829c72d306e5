import type { ResourceValidationPolicy } from "@pulumi/policy";
import { SYSCTL_DIR } from "../../facts/paths";
import { factNumber, keyValues, shippedHost, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";

const configSchema = {
  properties: {
    neighboursPerDesktop: { type: "number" as const, description: "Neighbour-table entries a desktop can take on a network node (its address on the router's subnets; 2 leaves room for churn; Linux ip-sysctl.rst: gc_thresh3 is the table's hard limit).", default: 2 },
    connectionsPerDesktop: { type: "number" as const, description: "Tracked connections per desktop through a network node: an assumption (measure yours; OpenStack-Ansible sets 262144 for any node).", default: 64 },
  },
};

/** The value a host ships for a sysctl key (last file wins, as systemd-sysctl reads them in order). */
function shippedSysctl(h: { files(): Array<{ path: string; content: string }> }, key: string): number | undefined {
  let v: number | undefined;
  for (const f of h.files().filter((x) => x.path.startsWith(SYSCTL_DIR)).sort((a, b) => a.path.localeCompare(b.path))) {
    const s = keyValues(f.content).get(key) ?? keyValues(f.content).get(`-${key}`);
    if (s !== undefined) v = Number(s);
  }
  return v;
}

export const networkNodeTables: ResourceValidationPolicy = {
  name: "network-node-tables",
  description:
    "Blocks network nodes whose neighbour table (gc_thresh3, kernel default 1024) or conntrack table would overflow with the planned desktops behind them: new peers and connections are then dropped.",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h || !h.roles.includes("network")) return;
    const desktops = factNumber(h, "desktops_behind");
    if (desktops === undefined) return;
    const c = settings<{ neighboursPerDesktop: number; connectionsPerDesktop: number }>(configSchema, args);
    const neigh = shippedSysctl(h, "net.ipv4.neigh.default.gc_thresh3") ?? 1024;
    const ct = shippedSysctl(h, "net.netfilter.nf_conntrack_max");
    const needNeigh = Math.ceil(desktops * c.neighboursPerDesktop);
    const needCt = Math.ceil(desktops * c.connectionsPerDesktop);
    if (neigh < needNeigh) {
      violation(report, who(h), `net.ipv4.neigh.default.gc_thresh3 = ${neigh} is below ${needNeigh} (${desktops} desktops × ${c.neighboursPerDesktop})`, `leave networking.networkNodeLimits.neighbourEntries unset (sized for the desktops) or set it ≥ ${needNeigh}`);
    }
    if (ct === undefined || ct < needCt) {
      violation(report, who(h), `net.netfilter.nf_conntrack_max is ${ct ?? "not set (the kernel sizes it from memory)"}, below ${needCt} (${desktops} desktops × ${c.connectionsPerDesktop})`, `leave networking.networkNodeLimits.conntrackEntries unset (sized for the desktops) or set it ≥ ${needCt}`);
    }
  },
};
