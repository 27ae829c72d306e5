/**
 * The booted lab's network: a controller namespace (the deployer, the lab's apt
 * repository over HTTP, every client) with a bridge on .1 of the hosts' /24, and
 * one namespace per host joined to it by a veth — the namespace the host's
 * systemd-nspawn runs in. Interfaces a host's settings name (the provider
 * bridge's NIC, the DHCP interfaces of our own dnsmasq instances) are made in
 * its namespace before it boots, as a real host has them.
 *
 * Lab network rule: nothing in the root namespace, no default route in any lab
 * namespace, traffic only between the lab's own addresses. New interfaces get
 * no IPv6 (no router solicitations or multicast listener reports).
 */
import * as path from "path";
import { must, run, waitFor, type Processes, type Tracked } from "../sys";

export interface LabNetwork {
  ctlNs: string;
  ctlAddress: string;
  /** Host name → its namespace. */
  ns: Map<string, string>;
  repo?: Tracked;
  /** The lab's apt repository as the hosts reach it. */
  repoUrl: string;
}

export const REPO_PORT = 8080;

/** Namespaces the lab made (name starts with the prefix). */
export function labNamespaces(prefix: string): string[] {
  return run("ip", ["netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(/\s+/)[0])
    .filter((n) => n && n.startsWith(`${prefix}-`));
}

function subnetOf(address: string): string {
  const p = address.split(".");
  if (p.length !== 4) throw new Error(`lab host address ${address} is not IPv4`);
  return `${p[0]}.${p[1]}.${p[2]}`;
}

/** The deployer's address: .1 of the hosts' /24 (all lab hosts must share one /24, and .1 must be free). */
export function controllerAddress(hosts: Array<{ address: string }>): string {
  const nets = new Set(hosts.map((h) => subnetOf(h.address)));
  if (nets.size !== 1) throw new Error(`lab hosts must share one /24; they are on ${[...nets].join(", ")}`);
  const ctl = `${[...nets][0]}.1`;
  if (hosts.some((h) => h.address === ctl)) throw new Error(`${ctl} is the lab deployer's address; give the lab hosts other addresses`);
  return ctl;
}

function freshNamespace(ns: string): void {
  must("ip", ["netns", "add", ns]);
  must("sysctl", ["-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"], { ns });
  must("ip", ["link", "set", "lo", "up"], { ns });
}

/** Creates the controller and host namespaces (no host booted yet). */
export function createNetwork(prefix: string, hosts: Array<{ name: string; address: string }>): LabNetwork {
  const ctlNs = `${prefix}-deploy`;
  const ctlAddress = controllerAddress(hosts);
  const net: LabNetwork = { ctlNs, ctlAddress, ns: new Map(), repoUrl: `http://${ctlAddress}:${REPO_PORT}/` };
  freshNamespace(ctlNs);
  must("ip", ["link", "add", "labbr0", "type", "bridge"], { ns: ctlNs });
  must("ip", ["addr", "add", `${ctlAddress}/24`, "dev", "labbr0"], { ns: ctlNs });
  must("ip", ["link", "set", "labbr0", "up"], { ns: ctlNs });
  hosts.forEach((h, i) => {
    const ns = `${prefix}-${h.name}`;
    freshNamespace(ns);
    net.ns.set(h.name, ns);
    const outer = `labv${i}`;
    // Both ends made inside the controller namespace: nothing ever exists in the root namespace.
    must("ip", ["link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns], { ns: ctlNs });
    must("ip", ["link", "set", outer, "master", "labbr0", "up"], { ns: ctlNs });
    must("ip", ["addr", "add", `${h.address}/24`, "dev", "eth0"], { ns });
    must("ip", ["link", "set", "eth0", "up"], { ns });
  });
  for (const ns of [ctlNs, ...net.ns.values()]) {
    const r = run("ip", ["route", "show", "default"], { ns }).stdout.trim();
    if (r) throw new Error(`namespace ${ns} has a default route (${r}): the lab sends nothing beyond its own addresses`);
  }
  return net;
}

/**
 * A namespace of its own for a check that runs a daemon of the stack's software by hand (outside
 * any booted host, whose own daemons use the host's ports), joined to the lab bridge at `address`.
 */
export function addScratchNamespace(net: LabNetwork, name: string, address: string): { ns: string; address: string; remove: () => void } {
  const ns = `${net.ctlNs.replace(/-deploy$/, "")}-s-${name}`;
  freshNamespace(ns);
  const outer = `lbs${name}`.slice(0, 15);
  must("ip", ["link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns], { ns: net.ctlNs });
  must("ip", ["link", "set", outer, "master", "labbr0", "up"], { ns: net.ctlNs });
  must("ip", ["addr", "add", `${address}/24`, "dev", "eth0"], { ns });
  must("ip", ["link", "set", "eth0", "up"], { ns });
  return {
    ns,
    address,
    remove: () => {
      run("ip", ["netns", "del", ns]);
    },
  };
}

/** A NIC the host's settings name (e.g. the provider bridge's), up, its peer kept in the same namespace. */
export function addHostNic(ns: string, name: string): void {
  must("ip", ["link", "add", name, "type", "veth", "peer", "name", `${name.slice(0, 11)}-p`], { ns });
  must("ip", ["link", "set", name, "up"], { ns });
  must("ip", ["link", "set", `${name.slice(0, 11)}-p`, "up"], { ns });
}

/**
 * A NIC of the host with an address, its peer in a client namespace (where a DHCP client runs): the
 * interfaces our own dnsmasq instances serve.
 */
export function addServedNic(hostNs: string, name: string, address: string, clientNs: string, clientIf: string): void {
  freshNamespace(clientNs);
  must("ip", ["link", "add", name, "type", "veth", "peer", "name", clientIf, "netns", clientNs], { ns: hostNs });
  must("ip", ["addr", "add", address, "dev", name], { ns: hostNs });
  must("ip", ["link", "set", name, "up"], { ns: hostNs });
  must("ip", ["link", "set", clientIf, "up"], { ns: clientNs });
}

/** Serves the repository over HTTP from the controller namespace, on the controller's address only. */
export async function serveRepo(net: LabNetwork, repoDir: string, dir: string, procs: Processes): Promise<void> {
  net.repo = procs.start("apt repository (http)", "/usr/bin/python3", ["-m", "http.server", "--bind", net.ctlAddress, "--directory", repoDir, String(REPO_PORT)], {
    ns: net.ctlNs,
    log: path.join(dir, "repo-http.log"),
  });
  await waitFor(`the apt repository on ${net.repoUrl}`, () => run("ss", ["-Hltn", `( sport = :${REPO_PORT} )`], { ns: net.ctlNs }).stdout.includes(`${net.ctlAddress}:${REPO_PORT}`), { timeoutMs: 15_000 });
}

/** Deletes every namespace with the lab's prefix, after ending (by PID) any process still in one. */
export async function destroyNetwork(prefix: string, procs: Processes): Promise<string[]> {
  const problems: string[] = [];
  for (const ns of labNamespaces(prefix)) {
    const pids = run("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) await procs.stop(pid);
    const r = run("ip", ["netns", "del", ns]);
    if (r.status !== 0) problems.push(`could not delete namespace ${ns}: ${r.stderr.trim()}`);
  }
  return problems;
}
