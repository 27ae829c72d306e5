/**
 * Lesson L7, the brokers' availability settings at work (issue item: quorum
 * queues survive the loss of a broker): one broker of the booted cluster is
 * stopped (`systemctl stop rabbitmq-server`, as an operator or a crash would
 * take it away) and the fleet's messaging is watched through the others.
 *
 *  - before: every durable queue of the stack's vhost is a quorum queue with a
 *    member on every broker (oslo.messaging's rabbit_quorum_queue as shipped);
 *    the broker stopped is the leader of nova's `conductor` queue (the queue
 *    every nova-compute reports its state through);
 *  - after the stop: the two others still form the cluster (pause_minority
 *    does not pause a majority); every quorum queue the stopped broker led has
 *    a new leader among them; nova-compute's state reports (RPC to the
 *    conductor: `services.report_count`) and every neutron agent's heartbeat
 *    (RPC to neutron-server: `agents.heartbeat_timestamp`) go on arriving —
 *    from the hosts that were connected to the stopped broker too — read from
 *    the control plane's databases;
 *  - a message survives: a persistent message put in a quorum queue through
 *    the stopped broker (which was its leader) is read back through another;
 *  - negative control: the same message in a durable classic queue declared
 *    through the same broker cannot be read while that broker is down (its
 *    only copy is there) — what the OpenStack queues would be without quorum
 *    queues;
 *  - the broker started again rejoins: every broker lists all three running,
 *    every quorum queue has all its members online again, and every agent and
 *    nova-compute is connected.
 */
import * as path from "path";
import { PROJECT_DIR } from "../../stack/projectDir";
import { run, waitFor } from "../sys";
import type { Check, Lab, LabHost, Recorder } from "../types";
import { hostPath } from "../types";
import { connectedPrograms, expectedPrograms } from "./brokers";

const PYTHON = "/usr/bin/python3";
const QUEUES_PY = path.join(PROJECT_DIR, "lab", "py", "amqp_queues.py");
/** The shipped credentials file on a broker ("user password vhost" lines). */
const USERS = "/etc/vdi/rabbitmq-users";
const PREFIX = "vdi-lab-loss";

export interface QueueRow {
  name: string;
  type: string;
  durable: boolean;
  leader?: string;
  members?: string[];
  online?: string[];
}

export function queues(broker: LabHost, vhost: string): QueueRow[] {
  const r = broker.exec(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "durable", "leader", "members", "online", "--formatter", "json"], { timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`${broker.name}: rabbitmqctl list_queues: ${r.stderr.trim().slice(0, 300)}`);
  const rows = JSON.parse(r.stdout || "[]") as Array<Record<string, unknown>>;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : undefined);
  return rows.map((q) => ({
    name: String(q.name),
    type: String(q.type),
    durable: q.durable === true || q.durable === "true",
    leader: typeof q.leader === "string" && q.leader !== "" ? q.leader : undefined,
    members: list(q.members),
    online: list(q.online),
  }));
}

function runningNodes(broker: LabHost): string[] {
  const r = broker.exec(["rabbitmqctl", "-q", "cluster_status", "--formatter", "json"], { timeoutMs: 60_000 });
  return r.status === 0 ? ((JSON.parse(r.stdout) as { running_nodes?: string[] }).running_nodes ?? []).sort() : [];
}

const nodeOf = (b: LabHost) => `rabbit@${b.name.split(".")[0]}`;

/** Rows of a query run by the control plane host's MariaDB client as root (tab-separated, no header). */
function sql(lab: Lab, db: string, query: string): string[][] {
  const r = lab.controlPlane.host.exec(["mysql", "-N", "-B", db, "-e", query], { timeoutMs: 30_000 });
  if (r.status !== 0) throw new Error(`mysql ${db}: ${r.stderr.trim().slice(0, 300)}`);
  return r.stdout.split("\n").filter(Boolean).map((l) => l.split("\t"));
}

/** nova-compute's report_count per compute host (nova's cell database). */
function reportCounts(lab: Lab): Map<string, number> {
  return new Map(sql(lab, "nova", "SELECT host, report_count FROM services WHERE `binary` = 'nova-compute' AND deleted = 0").map(([h, n]) => [h, Number(n)]));
}

/** Each neutron agent's heartbeat, in seconds after `since` (UTC "YYYY-MM-DD HH:MM:SS"). */
function heartbeatsAfter(lab: Lab, since: string): Map<string, number> {
  return new Map(sql(lab, "neutron", `SELECT host, agent_type, TIMESTAMPDIFF(SECOND, '${since}', heartbeat_timestamp) FROM agents`).map(([h, t, s]) => [`${h} ${t}`, Number(s)]));
}

/** Peers (host names) with an established AMQP connection to the broker, from its own sockets. */
function peersOf(lab: Lab, broker: LabHost): string[] {
  const lines = broker.exec(["ss", "-tnH", "state", "established", "( sport = :5672 )"]).stdout.split("\n").filter(Boolean);
  // The peer column: "[::ffff:10.199.0.21]:45678" (IPv4-mapped, the broker listens on ::) or "10.199.0.21:45678".
  const addrs = new Set(lines.map((l) => /(\d+\.\d+\.\d+\.\d+)\]?:\d+$/.exec(l.trim())?.[1]));
  return lab.hosts.filter((h) => addrs.has(h.address)).map((h) => h.name);
}

function amqpQueues(lab: Lab, action: "put" | "get" | "delete", via: LabHost, credentialsOf: LabHost): Map<string, string> {
  const user = lab.fleet.spec.rabbitmq.user;
  const r = run(PYTHON, [QUEUES_PY, action, "--host", via.address, "--port", String(lab.fleet.spec.rabbitmq.port), "--credentials", hostPath(credentialsOf, USERS), "--user", user, "--prefix", PREFIX], { ns: lab.ctlNs, timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`amqp_queues.py ${action} via ${via.name}: exit ${r.status}: ${(r.stdout + r.stderr).trim().slice(0, 300)}`);
  const out = new Map<string, string>();
  for (const l of r.stdout.split("\n").filter(Boolean)) {
    const i = l.indexOf(" ");
    out.set(l.slice(0, i), l.slice(i + 1));
  }
  return out;
}

const utc = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ");

export const brokerLossCheck: Check = {
  id: "broker-loss",
  lesson: "L7",
  title: "One broker stopped: the quorum queues it led move to the others, nova-compute and every agent keep reporting, a message survives (a classic queue's does not); the broker rejoins",
  needs: [{ pkg: "python3-amqp", path: "/usr/lib/python3/dist-packages/amqp/__init__.py" }],
  async run(lab, rec) {
    const brokers = lab.hostsWithRole("messaging");
    if (!rec.expect(brokers.length >= 3, "the lab has at least three brokers", brokers.map((b) => b.name).join(", "))) return;
    const vhost = lab.fleet.spec.rabbitmq.vhost;
    const before = queues(brokers[0], vhost);
    const durable = before.filter((q) => q.durable);
    const classicDurable = durable.filter((q) => q.type !== "quorum");
    const all = brokers.map(nodeOf).sort();
    const partial = durable.filter((q) => q.type === "quorum" && JSON.stringify([...(q.members ?? [])].sort()) !== JSON.stringify(all));
    rec.expect(
      durable.length > 0 && classicDurable.length === 0 && partial.length === 0,
      `every durable queue of vhost ${vhost} is a quorum queue with a member on every broker`,
      `${durable.length} durable queues (${durable.map((q) => q.name).sort().slice(0, 12).join(", ")}${durable.length > 12 ? ", …" : ""})${classicDurable.length ? `; classic: ${classicDurable.map((q) => q.name).join(", ")}` : ""}${partial.length ? `; not on every broker: ${partial.map((q) => `${q.name} [${q.members?.join(" ")}]`).join(", ")}` : ""}`,
    );
    const conductor = durable.find((q) => q.name === "conductor");
    const victim = brokers.find((b) => conductor?.leader === nodeOf(b)) ?? brokers[brokers.length - 1];
    const survivors = brokers.filter((b) => b !== victim);
    const led = durable.filter((q) => q.leader === nodeOf(victim)).map((q) => q.name).sort();
    rec.expect(!!conductor, `the broker to stop: ${victim.name}, leader of nova's conductor queue`, `conductor's leader ${conductor?.leader ?? "none: no conductor queue"}; ${victim.name} leads ${led.length} quorum queues: ${led.join(", ") || "none"}`);

    // A persistent message in a quorum queue and in a classic queue, both declared through the broker about to stop.
    const put = amqpQueues(lab, "put", victim, victim);
    if (!rec.expect([...put.values()].every((v) => v === "put") && put.size === 2, `a persistent message put in ${PREFIX}-quorum and ${PREFIX}-classic through ${victim.name}`, [...put].map(([q, v]) => `${q}: ${v}`).join("; "))) return;
    const testLeader = queues(survivors[0], vhost).find((q) => q.name === `${PREFIX}-quorum`)?.leader;
    rec.expect(testLeader === nodeOf(victim), `${PREFIX}-quorum's leader is ${victim.name}`, `leader ${testLeader ?? "?"}`);

    try {
      await whileDown(lab, rec, victim, survivors, led);
    } finally {
      const start = victim.exec(["systemctl", "start", "rabbitmq-server.service"], { timeoutMs: 180_000 });
      if (start.status !== 0) rec.fail(`${victim.name}: rabbitmq-server started again`, start.stderr.trim().slice(0, 300));
    }
    await rejoined(lab, rec, victim, brokers);
  },
};

/** The broker stopped: the cluster, the queues it led, the fleet's RPC and the two messages, seen through the others. */
async function whileDown(lab: Lab, rec: Recorder, victim: LabHost, survivors: LabHost[], led: string[]): Promise<void> {
  const vhost = lab.fleet.spec.rabbitmq.vhost;
  const peers = peersOf(lab, victim);
  const countsBefore = reportCounts(lab);
  const stop = victim.exec(["systemctl", "stop", "rabbitmq-server.service"], { timeoutMs: 120_000 });
  const stoppedAt = new Date();
  const state = victim.exec(["systemctl", "is-active", "rabbitmq-server.service"]).stdout.trim();
  if (!rec.expect(stop.status === 0 && state !== "active", `${victim.name}: rabbitmq-server stopped`, `systemctl stop exit ${stop.status}, now ${state}; its AMQP clients before the stop: ${peers.join(", ") || "none"}`)) return;

  const want = survivors.map(nodeOf).sort();
  for (const b of survivors) {
    let running: string[] = [];
    await waitFor(`${b.name} to list only the survivors running`, () => {
      running = runningNodes(b);
      return JSON.stringify(running) === JSON.stringify(want);
    }, { timeoutMs: 60_000, intervalMs: 2000 }).catch(() => undefined);
    rec.expect(JSON.stringify(running) === JSON.stringify(want), `${b.name}: the cluster goes on with ${want.join(", ")} running (a majority: pause_minority does not pause it)`, running.join(", ") || "cluster_status failed");
  }

  let after: QueueRow[] = [];
  const moved = () => led.every((n) => { const q = after.find((x) => x.name === n); return !!q?.leader && q.leader !== nodeOf(victim); });
  await waitFor("the quorum queues led by the stopped broker to elect new leaders", () => {
    after = queues(survivors[0], vhost);
    return moved();
  }, { timeoutMs: 60_000, intervalMs: 2000 }).catch(() => undefined);
  rec.expect(
    moved(),
    `every quorum queue ${victim.name} led has a new leader on ${survivors.map((b) => b.name).join(" or ")}`,
    led.map((n) => { const q = after.find((x) => x.name === n); return `${n}: ${nodeOf(victim)} → ${q?.leader ?? "none"} (online ${q?.online?.join(" ") ?? "?"})`; }).join("; ") || "it led none",
  );

  // The fleet's RPC goes on: state reports written by the control plane after the stop.
  const since = utc(new Date(stoppedAt.getTime() + 1000));
  let counts = new Map<string, number>();
  let beats = new Map<string, number>();
  const computes = lab.hostsWithRole("compute").map((h) => h.name);
  const reported = () => computes.every((h) => (counts.get(h) ?? 0) >= (countsBefore.get(h) ?? Infinity) + 2) && beats.size > 0 && [...beats.values()].every((s) => s > 0);
  await waitFor("nova-compute's state reports and every agent's heartbeat after the stop", () => {
    counts = reportCounts(lab);
    beats = heartbeatsAfter(lab, since);
    return reported();
  }, { timeoutMs: 180_000, intervalMs: 5000 }).catch(() => undefined);
  for (const h of computes) {
    const n0 = countsBefore.get(h);
    const n1 = counts.get(h);
    rec.expect(n0 !== undefined && n1 !== undefined && n1 >= n0 + 2, `${h}: nova-compute's state reports reach the conductor after ${victim.name} stopped${peers.includes(h) ? ` (it was connected to ${victim.name})` : ""}`, `nova services.report_count ${n0 ?? "?"} → ${n1 ?? "?"}`);
  }
  for (const [agent, s] of [...beats].sort()) {
    const host = agent.split(" ")[0];
    rec.expect(s > 0, `${agent}: heartbeat reaches neutron-server after ${victim.name} stopped${peers.includes(host) ? ` (${host} was connected to ${victim.name})` : ""}`, `neutron agents.heartbeat_timestamp ${s} s after ${since} UTC`);
  }

  const got = amqpQueues(lab, "get", survivors[0], victim);
  rec.expect(got.get(`${PREFIX}-quorum`) === `got ${PREFIX}-quorum message`, `the message in ${PREFIX}-quorum is read through ${survivors[0].name} while ${victim.name} is down`, got.get(`${PREFIX}-quorum`));
  const classic = got.get(`${PREFIX}-classic`) ?? "";
  rec.expect(/^error 404 /.test(classic), `${PREFIX}-classic (durable, classic) cannot be read while ${victim.name}, its only home, is down`, classic, true);
}

/** The broker started again: the cluster whole, every quorum queue's members online, the classic queue's message back, every client connected. */
async function rejoined(lab: Lab, rec: Recorder, victim: LabHost, brokers: LabHost[]): Promise<void> {
  const vhost = lab.fleet.spec.rabbitmq.vhost;
  const all = brokers.map(nodeOf).sort();
  for (const b of brokers) {
    let running: string[] = [];
    await waitFor(`${b.name} to list every broker running`, () => {
      running = runningNodes(b);
      return JSON.stringify(running) === JSON.stringify(all);
    }, { timeoutMs: 120_000, intervalMs: 3000 }).catch(() => undefined);
    rec.expect(JSON.stringify(running) === JSON.stringify(all), `${b.name}: every broker running again after ${victim.name} started`, running.join(", "));
  }
  let back: QueueRow[] = [];
  const full = () => back.filter((q) => q.type === "quorum").every((q) => (q.online?.length ?? 0) === all.length);
  await waitFor("every quorum queue to have all members online", () => {
    back = queues(brokers[0], vhost);
    return full();
  }, { timeoutMs: 120_000, intervalMs: 3000 }).catch(() => undefined);
  const short = back.filter((q) => q.type === "quorum" && (q.online?.length ?? 0) !== all.length);
  rec.expect(short.length === 0, "every quorum queue has all its members online again", short.map((q) => `${q.name}: online ${q.online?.join(" ")}`).join("; ") || `${back.filter((q) => q.type === "quorum").length} quorum queues with ${all.length} members online`);
  const after = amqpQueues(lab, "get", victim, victim);
  rec.expect(after.get(`${PREFIX}-classic`) === `got ${PREFIX}-classic message`, `${PREFIX}-classic's message is back with ${victim.name}`, after.get(`${PREFIX}-classic`));
  const del = amqpQueues(lab, "delete", brokers[0], victim);
  if ([...del.values()].some((v) => v !== "deleted")) rec.fail("the check's two queues deleted", [...del].map(([q, v]) => `${q}: ${v}`).join("; "));

  const clients = lab.hosts.filter((h) => expectedPrograms(h).length);
  let seen = new Map<string, Set<string>>();
  await waitFor("every agent and nova-compute to be connected", () => {
    seen = connectedPrograms(lab, brokers[0]);
    return clients.every((h) => expectedPrograms(h).every((p) => seen.get(h.name)?.has(p)));
  }, { timeoutMs: 120_000, intervalMs: 3000 }).catch(() => undefined);
  const missing = clients.flatMap((h) => expectedPrograms(h).filter((p) => !seen.get(h.name)?.has(p)).map((p) => `${h.name} ${p}`));
  rec.expect(missing.length === 0, "every agent and nova-compute is connected after the broker's return", missing.length ? `missing: ${missing.join(", ")}` : clients.map((h) => `${h.name}: ${[...(seen.get(h.name) ?? [])].sort().join(", ")}`).join("; "));
}
