/**
 * Lesson L7 and the brokers' credentials on the booted hosts (lab check 3):
 *
 *  - `rabbitmqctl cluster_status` on every broker lists every broker running
 *    (one cluster, formed under the names the stack wrote);
 *  - `rabbitmqctl list_connections` (cluster-wide) shows, as the stack's
 *    RabbitMQ user, connections from every compute host's nova-compute and OVS
 *    agent and from each of the network node's four agents — told apart by the
 *    connection name oslo.messaging sets (`<program>:<pid>:<uuid>`) and the
 *    peer address;
 *  - on each broker, the server side of those sockets carries the keepalive
 *    timer (`ss -tnoe`), counting down from at most the rendered
 *    tcp_keepalive_time;
 *  - negative control: on the network node, the credentials file moved from
 *    agent.conf.d (where Debian's OVS and L3 agents read it) to neutron.conf.d
 *    (where only the DHCP and metadata agents do) → after a restart the OVS and
 *    L3 agents have no connection; the file put back (byte for byte) → they
 *    connect again.
 */
import { NEUTRON_AGENT_CONFIG_DIRS, NEUTRON_CREDENTIALS_FILE } from "../../facts/paths";
import { sleep, waitFor } from "../sys";
import type { Check, Lab, LabHost, Recorder } from "../types";

export interface BrokerConnection {
  user: string;
  peer: string;
  program: string;
}

/** IPv4 of a peer_host as rabbitmqctl's JSON gives it: "10.1.2.3", or an IPv4-mapped IPv6 tuple [0,0,0,0,0,65535,2561,515]. */
export function peerAddress(v: unknown): string {
  if (typeof v === "string") return v.replace(/^::ffff:/, "");
  if (Array.isArray(v) && v.length === 8 && v[5] === 65535) return [v[6] >> 8, v[6] & 255, v[7] >> 8, v[7] & 255].join(".");
  if (Array.isArray(v) && v.length === 4) return v.join(".");
  return JSON.stringify(v);
}

/** The program of an oslo.messaging connection name ("neutron-openvswitch-agent:123:uuid" → "neutron-openvswitch-agent"). */
export function programOf(item: Record<string, unknown>): string {
  const text = JSON.stringify(item.client_properties ?? "");
  const m = /"connection_name"\s*[,:]\s*(?:"longstr"\s*,\s*)?"([^"]+)"/.exec(text);
  return m ? m[1].split(":")[0].replace(/^.*\//, "") : "?";
}

export function connections(broker: LabHost): BrokerConnection[] {
  const r = broker.exec(["rabbitmqctl", "-q", "list_connections", "user", "peer_host", "client_properties", "--formatter", "json"], { timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`${broker.name}: rabbitmqctl list_connections: ${r.stderr.trim().slice(0, 300)}`);
  const items = JSON.parse(r.stdout || "[]") as Array<Record<string, unknown>>;
  return items.map((i) => ({ user: String(i.user), peer: peerAddress(i.peer_host), program: programOf(i) }));
}

/** The programs each host is connected with, as the given user. */
function byHost(lab: Lab, conns: BrokerConnection[], user: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const c of conns) {
    if (c.user !== user) continue;
    const h = lab.hosts.find((x) => x.address === c.peer);
    if (!h) continue;
    (out.get(h.name) ?? out.set(h.name, new Set()).get(h.name)!).add(c.program);
  }
  return out;
}

/** The programs each host is connected with as the stack's user, as the broker lists them (cluster-wide). */
export function connectedPrograms(lab: Lab, broker: LabHost): Map<string, Set<string>> {
  return byHost(lab, connections(broker), lab.fleet.spec.rabbitmq.user);
}

const EXPECTED: Record<string, string[]> = {
  compute: ["nova-compute", "neutron-openvswitch-agent"],
  network: ["neutron-openvswitch-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"],
};

/** The programs a host's roles connect to the brokers with. */
export function expectedPrograms(h: LabHost): string[] {
  return [...new Set(h.roles.flatMap((r) => EXPECTED[r] ?? []))];
}

/** "timer:(keepalive,9min58sec,0)" → seconds left. */
function keepaliveLeft(line: string): number | undefined {
  const m = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.\d+)?sec)?(?:(\d+)ms)?,/.exec(line);
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0) + Number(m[3] ?? 0) / 1000;
}

async function negativeControl(lab: Lab, rec: Recorder, broker: LabHost, user: string): Promise<void> {
  const net = lab.hostsWithRole("network")[0];
  if (!net) return;
  const agentDir = NEUTRON_AGENT_CONFIG_DIRS["neutron-openvswitch-agent.service"];
  const confDir = NEUTRON_AGENT_CONFIG_DIRS["neutron-dhcp-agent.service"];
  const moved = `${confDir}${NEUTRON_CREDENTIALS_FILE.replace(/\.conf$/, "")}-agents.conf`;
  const file = `${agentDir}${NEUTRON_CREDENTIALS_FILE}`;
  const agents = ["neutron-openvswitch-agent", "neutron-l3-agent"];
  const since = net.exec(["date", "+%s"]).stdout.trim();
  const mv = net.sh(`set -e; cp -p ${file} ${moved}; mv ${file} ${file}.lab-aside; systemctl restart ${agents.map((a) => `${a}.service`).join(" ")}`);
  if (mv.status !== 0) {
    rec.fail(`negative control: ${net.name}'s credentials moved to ${confDir}`, mv.stderr.trim());
    return;
  }
  try {
    // The agents retry the broker they fall back to (localhost:5672, nothing there): give them time to connect if they could.
    await sleep(20_000);
    const without = byHost(lab, connections(broker), user).get(net.name) ?? new Set();
    const refused = net.exec(["journalctl", "--since", `@${since}`, "-u", "neutron-openvswitch-agent", "-u", "neutron-l3-agent", "--no-pager", "-o", "cat"]).stdout.split("\n").find((l) => /ECONNREFUSED|Connection refused|AMQP server on .* is unreachable/.test(l));
    rec.expect(
      agents.every((a) => !without.has(a)),
      `credentials only in ${confDir} (read by the DHCP and metadata agents only): ${net.name}'s OVS and L3 agents have no broker connection`,
      `${net.name} connected with: ${[...without].sort().join(", ") || "nothing"}${refused ? `; agent log: ${refused.trim().slice(0, 160)}` : ""}`,
      true,
    );
  } finally {
    const back = net.sh(`set -e; rm -f ${moved}; mv ${file}.lab-aside ${file}; systemctl restart ${agents.map((a) => `${a}.service`).join(" ")}`);
    if (back.status !== 0) rec.fail(`${net.name}: credentials put back`, back.stderr.trim());
  }
  let after = new Set<string>();
  await waitFor(`${net.name}'s OVS and L3 agents to connect again`, () => {
    after = byHost(lab, connections(broker), user).get(net.name) ?? new Set();
    return agents.every((a) => after.has(a));
  }, { timeoutMs: 120_000, intervalMs: 3000 }).catch(() => undefined);
  rec.expect(agents.every((a) => after.has(a)), `credentials back in ${agentDir}: ${net.name}'s OVS and L3 agents connect again`, [...after].sort().join(", "));
}

export const brokersCheck: Check = {
  id: "brokers",
  lesson: "L7",
  title: "The brokers form one cluster; every agent and nova-compute is connected as the stack's user; the brokers' sockets carry the rendered keepalive",
  needs: [],
  async run(lab, rec) {
    const brokers = lab.hostsWithRole("messaging");
    if (!rec.expect(brokers.length >= 3, "the lab has at least three brokers", brokers.map((b) => b.name).join(", "))) return;
    const want = brokers.map((b) => `rabbit@${b.name.split(".")[0]}`).sort();
    for (const b of brokers) {
      const r = b.exec(["rabbitmqctl", "-q", "cluster_status", "--formatter", "json"], { timeoutMs: 60_000 });
      const running = r.status === 0 ? ((JSON.parse(r.stdout) as { running_nodes?: string[] }).running_nodes ?? []).sort() : [];
      rec.expect(JSON.stringify(running) === JSON.stringify(want), `${b.name}: cluster_status lists every broker running`, running.join(", ") || r.stderr.trim().slice(0, 200));
    }

    const user = lab.fleet.spec.rabbitmq.user;
    const clients = lab.hosts.filter((h) => expectedPrograms(h).length);
    let conns: BrokerConnection[] = [];
    let seen = new Map<string, Set<string>>();
    // Agents connect within seconds of starting; a restart by the last converge may still be settling.
    await waitFor("every agent and nova-compute to be connected", () => {
      conns = connections(brokers[0]);
      seen = byHost(lab, conns, user);
      return clients.every((h) => expectedPrograms(h).every((p) => seen.get(h.name)?.has(p)));
    }, { timeoutMs: 120_000, intervalMs: 3000 }).catch(() => undefined);
    for (const h of clients) {
      const missing = expectedPrograms(h).filter((p) => !seen.get(h.name)?.has(p));
      rec.expect(missing.length === 0, `${h.name}: ${expectedPrograms(h).join(", ")} connected as ${user}`, missing.length ? `missing: ${missing.join(", ")}; seen: ${[...(seen.get(h.name) ?? [])].join(", ") || "none"}` : conns.filter((c) => c.peer === h.address).map((c) => `${c.program} as ${c.user}`).sort().join(", "));
    }
    const others = conns.filter((c) => c.user !== user);
    rec.expect(others.length === 0, `every connection uses the stack's user ${user}`, others.map((c) => `${c.program}@${c.peer} as ${c.user}`).join(", ") || `${conns.length} connections`);

    // Keepalive on the brokers' side of every client socket.
    for (const b of brokers) {
      const time = Number(b.exec(["sysctl", "-n", "net.ipv4.tcp_keepalive_time"]).stdout.trim());
      const lines = b.exec(["ss", "-tnoeH", "state", "established", "( sport = :5672 )"]).stdout.split("\n").filter(Boolean);
      const lefts = lines.map(keepaliveLeft);
      const without = lines.filter((_, i) => lefts[i] === undefined && !/timer:\((on|persist|probe),/.test(lines[i]));
      const ok = lefts.filter((x): x is number => x !== undefined);
      rec.expect(
        lines.length > 0 && without.length === 0 && ok.every((x) => x <= time),
        `${b.name}: its ${lines.length} AMQP client sockets carry the keepalive timer, at most tcp_keepalive_time = ${time} s`,
        `timers left: ${ok.map((x) => `${Math.round(x)} s`).join(", ") || "none"}${without.length ? `; without keepalive: ${without.map((l) => l.replace(/\s+/g, " ").slice(0, 100)).join(" | ")}` : ""}`,
      );
    }

    await negativeControl(lab, rec, brokers[0], user);
  },
};
