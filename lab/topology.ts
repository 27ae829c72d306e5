/**
 * The lab's network: a controller namespace (where the deployer and every client
 * run) with a bridge, and one namespace per stack host joined to it by a veth,
 * each host with its own sshd whose host key is the one the stack pins
 * (test/fixtures/lab-host-keys/<host>, public halves in inventory/lab.known_hosts).
 *
 * Lab network rule: addresses are only the stack's lab hosts and the
 * controller's address on the same /24; nothing is routed anywhere else (no
 * default route in any lab namespace), and the root namespace gets no lab device.
 */
import * as fs from "fs";
import * as path from "path";
import { must, run, waitFor, type Processes, type Tracked } from "./sys";

export interface TopologyHost {
  name: string;
  address: string;
  sshPort: number;
}

export interface Topology {
  prefix: string;
  ctlNs: string;
  ctlAddress: string;
  /** Host name → namespace. */
  ns: Map<string, string>;
  sshd: Map<string, Tracked>;
}

const FIXTURE_KEYS = path.join(__dirname, "..", "test", "fixtures", "lab-host-keys");

/** Namespaces the lab made (name starts with the prefix). */
export function labNamespaces(prefix: string): string[] {
  const r = run("ip", ["netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.split(/\s+/)[0])
    .filter((n) => n && n.startsWith(`${prefix}-`));
}

function subnetOf(address: string): string {
  const p = address.split(".");
  if (p.length !== 4) throw new Error(`lab host address ${address} is not IPv4`);
  return `${p[0]}.${p[1]}.${p[2]}`;
}

/** The controller's address: .1 of the hosts' /24 (all lab hosts must share one /24, and .1 must be free). */
export function controllerAddress(hosts: TopologyHost[]): string {
  const nets = new Set(hosts.map((h) => subnetOf(h.address)));
  if (nets.size !== 1) throw new Error(`lab hosts must share one /24; they are on ${[...nets].join(", ")}`);
  const ctl = `${[...nets][0]}.1`;
  if (hosts.some((h) => h.address === ctl)) throw new Error(`${ctl} is the lab controller's address; give the lab hosts other addresses`);
  return ctl;
}

/**
 * Creates the namespaces and veths and starts one sshd per host. `authorizedKey`
 * is the deployer's public key. Throws (after undoing nothing: call `destroy`) on failure.
 */
export async function createTopology(opts: { dir: string; prefix: string; hosts: TopologyHost[]; authorizedKey: string; procs: Processes }): Promise<Topology> {
  const { dir, prefix, hosts, procs } = opts;
  const ctlNs = `${prefix}-deploy`;
  const ctlAddress = controllerAddress(hosts);
  const topo: Topology = { prefix, ctlNs, ctlAddress, ns: new Map(), sshd: new Map() };
  const sshDir = path.join(dir, "sshd");
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(sshDir, "authorized_keys"), opts.authorizedKey.trim() + "\n", { mode: 0o600 });

  must("ip", ["netns", "add", ctlNs]);
  must("ip", ["link", "set", "lo", "up"], { ns: ctlNs });
  must("ip", ["link", "add", "labbr0", "type", "bridge"], { ns: ctlNs });
  must("ip", ["addr", "add", `${ctlAddress}/24`, "dev", "labbr0"], { ns: ctlNs });
  must("ip", ["link", "set", "labbr0", "up"], { ns: ctlNs });

  hosts.forEach((h, i) => {
    const ns = `${prefix}-${h.name}`;
    const outer = `labv${i}`;
    must("ip", ["netns", "add", ns]);
    topo.ns.set(h.name, ns);
    must("ip", ["link", "set", "lo", "up"], { ns });
    // Both ends are created inside the controller namespace, so nothing ever exists in the root namespace.
    must("ip", ["link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns], { ns: ctlNs });
    must("ip", ["link", "set", outer, "master", "labbr0", "up"], { ns: ctlNs });
    must("ip", ["addr", "add", `${h.address}/24`, "dev", "eth0"], { ns });
    must("ip", ["link", "set", "eth0", "up"], { ns });
  });

  for (const h of hosts) {
    const ns = topo.ns.get(h.name)!;
    const key = path.join(sshDir, `${h.name}.key`);
    const fixture = path.join(FIXTURE_KEYS, h.name);
    if (!fs.existsSync(fixture)) throw new Error(`no lab host key ${path.relative(process.cwd(), fixture)} for ${h.name}: every lab host needs one (and its public half in the stack's known_hosts)`);
    fs.copyFileSync(fixture, key);
    fs.chmodSync(key, 0o600);
    const config = path.join(sshDir, `${h.name}.sshd_config`);
    fs.writeFileSync(
      config,
      [
        `Port ${h.sshPort}`,
        `ListenAddress ${h.address}`,
        `HostKey ${key}`,
        `AuthorizedKeysFile ${path.join(sshDir, "authorized_keys")}`,
        `PidFile ${path.join(sshDir, `${h.name}.pid`)}`,
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PrintMotd no",
        "",
      ].join("\n"),
    );
    // /run/sshd is required; a private /run keeps the machine's own /run untouched.
    const t = procs.start(`sshd ${h.name}`, "unshare", ["-m", "--propagation", "private", "sh", "-c", `mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec /usr/sbin/sshd -D -e -f ${config}`], {
      ns,
      log: path.join(sshDir, `${h.name}.log`),
    });
    topo.sshd.set(h.name, t);
  }
  for (const h of hosts) {
    const ns = topo.ns.get(h.name)!;
    await waitFor(`sshd of ${h.name} to listen on ${h.address}:${h.sshPort}`, () => run("ss", ["-Hltn", `( sport = :${h.sshPort} )`], { ns }).stdout.includes(`${h.address}:${h.sshPort}`), { timeoutMs: 15_000 });
  }
  return topo;
}

/** Ends the sshds (by PID) and deletes every namespace with the lab's prefix (their veths go with them). */
export async function destroyTopology(prefix: string, procs: Processes, sshd: Iterable<Tracked>): Promise<string[]> {
  const problems: string[] = [];
  for (const t of sshd) await procs.stop(t);
  for (const ns of labNamespaces(prefix)) {
    // Any process still inside a lab namespace is the lab's own: end it by PID first.
    const pids = run("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) await procs.stop(pid);
    const r = run("ip", ["netns", "del", ns]);
    if (r.status !== 0) problems.push(`could not delete namespace ${ns}: ${r.stderr.trim()}`);
  }
  return problems;
}
