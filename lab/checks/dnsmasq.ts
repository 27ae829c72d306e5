/**
 * Check 5 — L5 against real dnsmasq 2.90: the network host's two DHCP
 * instances, as the stack ships them, both serve, and a unicast renewal
 * reaches — and is ACKed by — the instance of the client's interface. Without
 * the bind option (the production failure) the second instance cannot even
 * start.
 *
 * Each instance runs the shipped unit's ExecStart unchanged except for the
 * conf path (prefixed with the host root) and logging flags, inside the host's
 * namespace and in a private mount namespace whose /run and /var/lib/misc (the
 * dirs of the shipped pid-file and dhcp-leasefile) are tmpfs — nothing is
 * written outside the lab directory. The interfaces the configs name are
 * veths into two client namespaces the check creates; busybox udhcpc there
 * takes a lease, and SIGUSR1 makes it renew by unicast (seen with tcpdump in
 * the host's namespace). Every process is ended by PID; the client
 * namespaces (and their veths) are deleted, also on failure.
 */
import * as fs from "fs";
import * as path from "path";
import { alive, must, run, waitFor, sleep, type Tracked } from "../sys";
import { shippedFile } from "../../shipped/stack";
import { firstHostWithRole, hostPath, type Check, type Lab, type LabHost, type Recorder } from "../types";
import { unitStates } from "./booted";
import { UNIT_DIR } from "../../facts/paths";

const DNSMASQ = "/usr/sbin/dnsmasq";
const BUSYBOX = "/bin/busybox";
const TCPDUMP = "/usr/bin/tcpdump";
const UNSHARE = "/usr/bin/unshare";
const UNIT_RE = /^vdi-dnsmasq-(.+)\.service$/;
/** Directories always made private (tmpfs) for dnsmasq: its compiled-in pid/lease defaults live there. */
const PRIVATE_DIRS = ["/run", "/var/lib/misc"];
const LOG_FLAGS = ["--log-dhcp", "--log-facility=-"];
const RENEW_ATTEMPTS = 3;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** key=value (or bare key) lines of a dnsmasq config; repeated keys keep every value. */
export function parseDnsmasqConf(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const [k, v] = eq < 0 ? [line, ""] : [line.slice(0, eq).trim(), line.slice(eq + 1).trim()];
    out.set(k, [...(out.get(k) ?? []), v]);
  }
  return out;
}

/** The argv of a unit's ExecStart= (prefix characters -@+! dropped; plain whitespace splitting, no quotes in ours). */
export function execStart(unit: string): string[] | undefined {
  const line = unit.split("\n").find((l) => /^\s*ExecStart\s*=/.test(l));
  if (!line) return undefined;
  return line.replace(/^\s*ExecStart\s*=\s*/, "").replace(/^[-@+!:]+/, "").trim().split(/\s+/).filter(Boolean);
}

const ip2n = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const n2ip = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
const isIp = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

export interface DhcpRange {
  start: string;
  end: string;
  mask: string;
  prefix: number;
  /** The first address of the subnet outside the range: the server's. */
  server: string;
}

/** `dhcp-range=[tag:x,][set:y,]start,end[,mask][,lease]` → the range and a server address in its subnet. */
export function parseDhcpRange(v: string): DhcpRange | undefined {
  const parts = v.split(",").map((s) => s.trim()).filter((s) => !/^(set|tag):/.test(s));
  if (parts.length < 2 || !isIp(parts[0]) || !isIp(parts[1])) return undefined;
  const mask = parts[2] && isIp(parts[2]) ? parts[2] : "255.255.255.0";
  const m = ip2n(mask);
  const prefix = m.toString(2).replace(/0+$/, "").length;
  if (!/^1*0*$/.test(m.toString(2).padStart(32, "0")) || prefix < 8 || prefix > 30) return undefined;
  const size = 2 ** (32 - prefix);
  const net = ip2n(parts[0]) - (ip2n(parts[0]) % size);
  const [s, e] = [ip2n(parts[0]), ip2n(parts[1])];
  if (Math.floor(e / size) * size !== net) return undefined;
  let server: string | undefined;
  for (let a = net + 1; a < net + size - 1 && a < net + 1 + 4096; a++) {
    if (a < s || a > e) {
      server = n2ip(a);
      break;
    }
  }
  if (!server) return undefined;
  return { start: parts[0], end: parts[1], mask, prefix, server };
}

interface Instance {
  unit: string;
  iface: string;
  confPath: string;
  /** The conf file as the lab applied it (under the host root). */
  confFile: string;
  conf: Map<string, string[]>;
  argv: string[];
  range: DhcpRange;
  privateDirs: string[];
  /** Absolute files the config makes dnsmasq write (pid-file, dhcp-leasefile). */
  writes: string[];
  clientNs: string;
  clientIf: string;
  log: string;
  proc?: Tracked;
  client?: Tracked;
  clientLog: string;
  events: string;
  clientPidFile: string;
  lease?: { ip: string; serverid: string; mac: string };
}


const readText = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "");

/** Udp NoPorts of a namespace (datagrams that found no socket), from its /proc/net/snmp. */
function udpNoPorts(ns: string): number {
  const lines = run("cat", ["/proc/net/snmp"], { ns }).stdout.split("\n").filter((l) => l.startsWith("Udp: "));
  if (lines.length < 2) return NaN;
  const [h, v] = lines.map((l) => l.split(/\s+/));
  return Number(v[h.indexOf("NoPorts")]);
}

/** The sh -c text: tmpfs on each private dir, then exec the argv. */
function confinedShell(dirs: string[], argv: string[]): string {
  return [...dirs.map((d) => `mount -t tmpfs tmpfs ${q(d)}`), `exec ${argv.map(q).join(" ")}`].join(" && ");
}

/** Existence and mtime of files outside the lab dir, in the root mount namespace. */
function statOutside(files: string[]): Map<string, string> {
  return new Map(
    files.map((f) => {
      try {
        const st = fs.statSync(f);
        return [f, `exists (mtime ${st.mtimeMs})`] as const;
      } catch {
        return [f, "absent"] as const;
      }
    }),
  );
}

const UDHCPC_SCRIPT = (eventsDir: string) => `#!/bin/sh
# busybox udhcpc hook for the lab: logs the event, configures only the client's own veth
# (needed for the unicast renewal), never touches /etc/resolv.conf or routes.
echo "$(date +%s.%N) $1 if=$interface ip=$ip serverid=$serverid lease=$lease" >> ${q(eventsDir)}/udhcpc-"$interface".events
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew) ip -4 addr flush dev "$interface"; ip addr add "$ip/\${mask:-24}" dev "$interface" ;;
esac
exit 0
`;

/**
 * The booted network node's own instances (started by its systemd from the shipped units): a DHCP
 * client on the far side of each served interface (a namespace the lab made before the node
 * booted) gets a lease from the instance of that interface.
 */
async function bootedLeases(lab: Lab, rec: Recorder, node: LabHost): Promise<void> {
  const units = unitStates(node, lab.fleet.spec.networking.dhcp.extraDnsmasq.map((d) => `vdi-dnsmasq-${d.interface}.service`));
  for (const [i, d] of lab.fleet.spec.networking.dhcp.extraDnsmasq.entries()) {
    const u = units[i];
    const clientNs = `${lab.ctlNs.replace(/-deploy$/, "")}-dhcpc${i}`;
    const r = run(BUSYBOX, ["udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "2", "-s", "/bin/true"], { ns: clientNs, timeoutMs: 30_000 });
    const lease = /lease of ([\d.]+) obtained from ([\d.]+)/.exec(r.stdout + r.stderr);
    const server = d.dhcpRange.split(",")[0].split(".").slice(0, 3).join(".") + ".1";
    rec.expect(
      u?.activeState === "active" && !!lease && lease[2] === server,
      `${node.name}: ${u?.id ?? "its dnsmasq unit"} (booted, pid ${u?.mainPid ?? "?"}) leases on ${d.interface}`,
      lease ? `udhcpc in ${clientNs}: lease of ${lease[1]} from ${lease[2]}` : `${u?.activeState ?? "?"}; udhcpc: ${(r.stdout + r.stderr).trim().split("\n").slice(-2).join(" | ")}`,
    );
  }
}

export const dnsmasqCheck: Check = {
  id: "dnsmasq",
  lesson: "L5",
  title: "Two shipped dnsmasq DHCP instances, each bound to its interface, both serve and ACK unicast renewals; without bind-interfaces the second cannot start",
  needs: [
    { pkg: "dnsmasq-base", path: DNSMASQ },
    { pkg: "busybox", path: BUSYBOX },
    { pkg: "util-linux", path: UNSHARE },
    { pkg: "tcpdump", path: TCPDUMP },
    { pkg: "iproute2", path: "/sbin/ip" },
  ],

  async run(lab: Lab, rec: Recorder): Promise<void> {
    const started = Date.now();
    const node = firstHostWithRole(lab, "network", rec);
    if (!node) return;
    await bootedLeases(lab, rec, node);
    // The rest runs the shipped instances by hand, beside the booted node's own: in a namespace of its own.
    const host = lab.scratchHost(node, "dnsmasq");
    const hf = (p: string) => hostPath(host, p);
    const unitDir = hf(UNIT_DIR);
    const units = (fs.existsSync(unitDir) ? fs.readdirSync(unitDir) : []).filter((f) => UNIT_RE.test(f)).sort();
    if (!rec.expect(units.length >= 2, `${host.name} has at least two vdi-dnsmasq-*.service units`, units.join(", ") || `none in ${UNIT_DIR}`)) return;

    const dir = lab.scratch("dnsmasq");
    const insts: Instance[] = [];
    for (const [i, unit] of units.entries()) {
      const argv = execStart(fs.readFileSync(path.join(unitDir, unit), "utf8"));
      const confArg = argv?.findIndex((a) => a.startsWith("--conf-file=")) ?? -1;
      if (!argv || argv[0] !== DNSMASQ || confArg < 0) {
        rec.fail(`${unit}: ExecStart runs ${DNSMASQ} with --conf-file=`, argv?.join(" ") ?? "no ExecStart");
        return;
      }
      const confPath = argv[confArg].slice("--conf-file=".length);
      const confFile = hf(confPath);
      if (!path.isAbsolute(confPath) || !fs.existsSync(confFile)) {
        rec.fail(`${unit}: its conf file ${confPath} was written`, `missing under ${host.root}`);
        return;
      }
      const confText = fs.readFileSync(confFile, "utf8");
      const shipped = shippedFile(lab.evaluation, host.name, confPath);
      rec.expect(shipped === confText, `${host.name}'s ${confPath} is the one the program shipped`, shipped === undefined ? "not in the converge document" : shipped === confText ? "same" : "differs");
      const conf = parseDnsmasqConf(confText);
      const ifaces = conf.get("interface") ?? [];
      const range = parseDhcpRange(conf.get("dhcp-range")?.[0] ?? "");
      const bound = conf.has("bind-interfaces") || conf.has("bind-dynamic");
      if (!rec.expect(ifaces.length === 1 && !!range && bound, `${confPath}: one interface, a dhcp-range, bound to its interface`, `interface=${ifaces.join(",") || "none"}; dhcp-range=${conf.get("dhcp-range")?.[0] ?? "none"}; bind-interfaces ${conf.has("bind-interfaces") ? "set" : "absent"}, bind-dynamic ${conf.has("bind-dynamic") ? "set" : "absent"}`)) return;
      const writes = [conf.get("pid-file")?.[0], conf.get("dhcp-leasefile")?.[0]].filter((f): f is string => !!f);
      const dirs = [...PRIVATE_DIRS];
      for (const w of writes) {
        const d = path.dirname(w);
        if (!path.isAbsolute(w)) {
          rec.fail(`${confPath}: ${w} is absolute`, "a relative path would be written relative to dnsmasq's cwd");
          return;
        }
        if (!dirs.some((p) => d === p || d.startsWith(p + "/"))) {
          if (!fs.existsSync(d)) {
            rec.fail(`${confPath}: ${w} can be confined in the lab`, `${d} does not exist on this machine (no mount point for a private tmpfs)`);
            return;
          }
          dirs.push(d);
        }
      }
      const iface = ifaces[0];
      // Only the conf path changes (host root prefix); only logging flags are added.
      const args = [...argv];
      args[confArg] = `--conf-file=${confFile}`;
      insts.push({
        unit,
        iface,
        confPath,
        confFile,
        conf,
        argv: [...args, ...LOG_FLAGS],
        range: range!,
        privateDirs: dirs,
        writes,
        clientNs: `${lab.ctlNs}-dhcpc${i}`,
        clientIf: `dhcpc${i}`,
        log: path.join(dir, `dnsmasq-${iface}.log`),
        clientLog: path.join(dir, `udhcpc-${i}.log`),
        events: path.join(dir, `udhcpc-dhcpc${i}.events`),
        clientPidFile: path.join(dir, `udhcpc-${i}.pid`),
      });
    }
    const two = insts.slice(0, 2);

    // Preconditions on the host's namespace: the interfaces and subnets are not in use.
    const hostLinks = () => run("ip", ["-o", "link", "show"], { ns: host.ns }).stdout.split("\n").map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => !!n).sort();
    const linksBefore = hostLinks();
    const addrs = run("ip", ["-o", "-4", "addr", "show"], { ns: host.ns }).stdout;
    const clash = two.filter((x) => linksBefore.includes(x.iface) || addrs.includes(` ${x.range.server}/`) || run("ip", ["netns", "list"]).stdout.split("\n").some((l) => l.split(/\s+/)[0] === x.clientNs));
    if (!rec.expect(clash.length === 0, `${two.map((x) => x.iface).join(", ")} and the client namespaces are free in the lab`, clash.map((x) => `${x.iface}/${x.clientNs} in use`).join("; ") || `host namespace ${host.ns}`)) return;

    const outsideFiles = [...new Set(insts.flatMap((x) => x.writes))];
    const outsideBefore = statOutside(outsideFiles);
    const script = path.join(dir, "udhcpc.script");
    fs.writeFileSync(script, UDHCPC_SCRIPT(dir), { mode: 0o755 });
    const madeNs: string[] = [];
    const started_: Tracked[] = [];
    const timings: string[] = [];

    const startDnsmasq = (x: Instance, argv: string[], label: string, log: string): Tracked => {
      const t = lab.procs.start(`dnsmasq ${x.iface} (${label})`, UNSHARE, ["-m", "--propagation", "private", "sh", "-c", confinedShell(x.privateDirs, argv)], { ns: host.ns, log });
      started_.push(t);
      return t;
    };
    const stop = async (t: Tracked | undefined, grace = 3000) => {
      if (t) await lab.procs.stop(t, grace);
    };

    try {
      // 1. The wiring: vlab-dhcpN in the host's namespace ↔ a client namespace.
      let t0 = Date.now();
      for (const x of two) {
        must("ip", ["netns", "add", x.clientNs]);
        madeNs.push(x.clientNs);
        must("ip", ["link", "set", "lo", "up"], { ns: x.clientNs });
        must("ip", ["link", "add", x.iface, "type", "veth", "peer", "name", x.clientIf, "netns", x.clientNs], { ns: host.ns });
        must("ip", ["addr", "add", `${x.range.server}/${x.range.prefix}`, "dev", x.iface], { ns: host.ns });
        must("ip", ["link", "set", x.iface, "up"], { ns: host.ns });
        must("ip", ["link", "set", x.clientIf, "up"], { ns: x.clientNs });
      }
      timings.push(`wiring ${secs(Date.now() - t0)}`);

      // 2. Both instances, as shipped.
      t0 = Date.now();
      for (const x of two) x.proc = startDnsmasq(x, x.argv, "shipped", x.log);
      await sleep(1000);
      const sockets = run("ss", ["-Hulpn"], { ns: host.ns }).stdout;
      for (const x of two) {
        const pid = x.proc!.pid;
        const log = readText(x.log);
        const sock = sockets.split("\n").find((l) => l.includes(`pid=${pid},`)) ?? "";
        rec.expect(
          alive(pid) && /sockets bound exclusively to interface/.test(log) && sock.includes(`%${x.iface}:67`),
          `${x.unit} (${x.argv.join(" ")}) runs, bound to ${x.iface}`,
          `pid ${pid} ${alive(pid) ? "alive after 1 s" : "exited"}; socket ${sock.replace(/\s+/g, " ").trim() || "none"}; log: ${log.trim().split("\n").filter((l) => /DHCP|bound|failed|error/i.test(l)).join(" | ").slice(0, 400)}`,
        );
        const pidFile = x.conf.get("pid-file")?.[0];
        if (pidFile) {
          const inside = readText(`/proc/${pid}/root${pidFile}`).trim();
          rec.expect(inside === String(pid), `${x.iface}: the shipped pid-file ${pidFile} is written in the instance's private /run`, `read through /proc/${pid}/root: "${inside}"`);
        }
      }
      if (!two.every((x) => alive(x.proc!.pid))) return;
      timings.push(`instances up ${secs(Date.now() - t0)}`);

      // 3. A client per interface takes a lease.
      t0 = Date.now();
      for (const x of two) {
        x.client = lab.procs.start(`udhcpc ${x.clientNs}`, BUSYBOX, ["udhcpc", "-f", "-i", x.clientIf, "-s", script, "-p", x.clientPidFile, "-t", "5", "-T", "2"], { ns: x.clientNs, log: x.clientLog });
        started_.push(x.client);
      }
      const boundLine = (x: Instance) => readText(x.events).split("\n").find((l) => / bound /.test(l));
      await waitFor("both DHCP clients to be bound", () => two.every((x) => !!boundLine(x)), { timeoutMs: 25_000, intervalMs: 200 }).catch(() => undefined);
      timings.push(`leases ${secs(Date.now() - t0)}`);
      for (const [i, x] of two.entries()) {
        const other = two[1 - i];
        const l = boundLine(x) ?? "";
        const ip = / ip=(\S+)/.exec(l)?.[1] ?? "";
        const serverid = / serverid=(\S+)/.exec(l)?.[1] ?? "";
        const mac = /link\/ether ([0-9a-f:]{17})/.exec(run("ip", ["-o", "link", "show", "dev", x.clientIf], { ns: x.clientNs }).stdout)?.[1] ?? "?";
        x.lease = { ip, serverid, mac };
        const inRange = isIp(ip) && ip2n(ip) >= ip2n(x.range.start) && ip2n(ip) <= ip2n(x.range.end);
        const ack = new RegExp(`DHCPACK\\(${x.iface}\\) ${ip.replace(/\./g, "\\.")} ${x.lease.mac}`).test(readText(x.log));
        const leaked = readText(other.log).includes(x.lease.mac);
        const leaseFile = x.conf.get("dhcp-leasefile")?.[0];
        const leases = leaseFile ? readText(`/proc/${x.proc!.pid}/root${leaseFile}`) : "";
        rec.expect(
          inRange && serverid === x.range.server && ack && !leaked,
          `the client on ${x.iface} gets a lease from that interface's instance`,
          `${l.trim() || `no lease: ${readText(x.clientLog).trim().split("\n").slice(-3).join(" | ")}`}; ACK in ${x.iface}'s log: ${ack}; seen by ${other.iface}'s instance: ${leaked}; shipped lease file ${leaseFile} (private): ${leases.trim() || "empty"}`,
        );
      }
      if (!two.every((x) => x.lease && isIp(x.lease.ip))) return;

      // 4. SIGUSR1: an immediate unicast renewal, which only the right instance must see and ACK.
      //    busybox udhcpc sometimes opens its listening socket only after the unicast ACK has
      //    arrived (the client namespace counts Udp NoPorts), then re-sends the renewal by
      //    broadcast; that is the client's race, not the server's: up to RENEW_ATTEMPTS tries
      //    for one the client takes by unicast, each recorded.
      t0 = Date.now();
      for (const [i, x] of two.entries()) {
        const other = two[1 - i];
        const { ip, mac } = x.lease!;
        const attempts: string[] = [];
        let unicastAcked = 0;
        let clientTook = 0;
        let renewed = false;
        let explained = true;
        for (let a = 1; a <= RENEW_ATTEMPTS && !clientTook; a++) {
          const mark = { log: readText(x.log).length, other: readText(other.log).length, client: readText(x.clientLog).length, events: readText(x.events).length };
          const noPortsBefore = udpNoPorts(x.clientNs);
          const tdLog = path.join(dir, `tcpdump-${x.iface}-${a}.txt`);
          const td = lab.procs.start(`tcpdump ${x.iface}`, TCPDUMP, ["-n", "-l", "-i", x.iface, "-c", "2", "udp and (port 67 or port 68)"], { ns: host.ns, log: tdLog });
          started_.push(td);
          try {
            await waitFor(`tcpdump on ${x.iface} to listen`, () => /listening on/.test(readText(tdLog)) || !alive(td.pid), { timeoutMs: 5000, intervalMs: 100 });
            const upid = Number(readText(x.clientPidFile).trim()) || x.client!.pid;
            try {
              process.kill(upid, "SIGUSR1");
            } catch (e) {
              attempts.push(`#${a}: kill -USR1 ${upid}: ${e instanceof Error ? e.message : String(e)}`);
            }
            await waitFor(`the renewal on ${x.iface}`, () => / renew /.test(readText(x.events).slice(mark.events)) && !alive(td.pid), { timeoutMs: 8000, intervalMs: 100 }).catch(() => undefined);
          } finally {
            await stop(td, 1000);
          }
          const pkts = readText(tdLog).split("\n").filter((l) => / IP /.test(l));
          const uniReq = pkts.some((l) => l.includes(`IP ${ip}.68 > ${x.range.server}.67:`));
          const uniRep = pkts.some((l) => l.includes(`IP ${x.range.server}.67 > ${ip}.68:`));
          const newLog = readText(x.log).slice(mark.log);
          const req = new RegExp(`DHCPREQUEST\\(${x.iface}\\) ${ip.replace(/\./g, "\\.")} ${mac}`).test(newLog);
          const ack = new RegExp(`DHCPACK\\(${x.iface}\\) ${ip.replace(/\./g, "\\.")} ${mac}`).test(newLog);
          const otherSaw = /DHCPREQUEST|DHCPACK/.test(readText(other.log).slice(mark.other));
          const cli = readText(x.clientLog).slice(mark.client);
          const sentUnicast = /sending renew to server/.test(cli);
          const fellBack = /broadcasting renew/.test(cli);
          const noPorts = udpNoPorts(x.clientNs) - noPortsBefore;
          const renewEvent = readText(x.events).slice(mark.events).split("\n").find((l) => / renew /.test(l)) ?? "";
          if (uniReq && uniRep && req && ack && !otherSaw && !unicastAcked) unicastAcked = a;
          if (renewEvent) renewed = true;
          if (uniReq && uniRep && req && ack && !otherSaw && sentUnicast && !fellBack && renewEvent) clientTook = a;
          else if (fellBack && !(noPorts > 0)) explained = false;
          attempts.push(
            `#${a}: tcpdump ${pkts.map((l) => l.replace(/^\S+\s+/, "").replace(/, length \d+$/, "")).join(" ; ") || "nothing"}; ${x.iface}'s log REQUEST ${req} ACK ${ack}; ${other.iface}'s instance saw it: ${otherSaw}; udhcpc: ${cli.trim().split("\n").join(" / ")}; client ns Udp NoPorts +${noPorts}; event: ${renewEvent.replace(/^\S+ /, "") || "none"}`,
          );
        }
        rec.expect(
          unicastAcked > 0,
          `kill -USR1 udhcpc on ${x.clientIf}: a unicast renewal to ${x.range.server} is ACKed (unicast) by ${x.iface}'s instance, and the other instance never sees it`,
          attempts.join(" || "),
        );
        rec.expect(
          renewed && (clientTook > 0 || explained),
          `the client on ${x.clientIf} renews (its script's "renew" event)`,
          clientTook
            ? `took the unicast ACK on attempt ${clientTook}${clientTook > 1 ? " (earlier attempts: the ACK arrived before udhcpc's listening socket, Udp NoPorts, and it re-sent by broadcast)" : ""}`
            : `renewed only after re-sending by broadcast in ${attempts.length} attempt(s)${explained ? ", each time after the unicast ACK had hit a closed port in the client namespace (Udp NoPorts): a busybox udhcpc race, the server answered" : ""}`,
        );
      }
      timings.push(`renewals ${secs(Date.now() - t0)}`);

      // 5. Stop clients and instances (by PID); nothing was written outside the lab dir.
      for (const x of two) await stop(x.client);
      for (const x of two) await stop(x.proc);
      const outsideAfter = statOutside(outsideFiles);
      rec.expect(
        outsideFiles.every((f) => outsideAfter.get(f) === outsideBefore.get(f)),
        "the shipped pid/lease paths outside the lab dir are untouched in the machine's own mount namespace",
        outsideFiles.map((f) => `${f}: ${outsideBefore.get(f)} → ${outsideAfter.get(f)}`).join("; "),
      );

      // 6. Negative control: the same configs without the bind option (copies) — the production failure.
      t0 = Date.now();
      const nb = path.join(dir, "no-bind");
      fs.mkdirSync(nb, { recursive: true });
      const unbound = two.map((x) => {
        const copy = path.join(nb, path.basename(x.confFile));
        const text = fs.readFileSync(x.confFile, "utf8").split("\n").filter((l) => !/^\s*(bind-interfaces|bind-dynamic)\s*$/.test(l)).join("\n");
        fs.writeFileSync(copy, text);
        return { x, argv: x.argv.map((a) => (a.startsWith("--conf-file=") ? `--conf-file=${copy}` : a)) };
      });
      const first = startDnsmasq(unbound[0].x, unbound[0].argv, "no bind", path.join(nb, `dnsmasq-${unbound[0].x.iface}.log`));
      try {
        await sleep(1000);
        const firstLog = readText(path.join(nb, `dnsmasq-${unbound[0].x.iface}.log`));
        const sock = run("ss", ["-Hulpn"], { ns: host.ns }).stdout.split("\n").find((l) => l.includes(`pid=${first.pid},`)) ?? "";
        const second = run(UNSHARE, ["-m", "--propagation", "private", "sh", "-c", confinedShell(unbound[1].x.privateDirs, unbound[1].argv)], { ns: host.ns, timeoutMs: 8000 });
        fs.writeFileSync(path.join(nb, `dnsmasq-${unbound[1].x.iface}.log`), `exit ${second.status}\n${second.stdout}${second.stderr}`);
        const msg = /failed to bind DHCP server socket: Address already in use/.test(second.stderr + second.stdout);
        const detail = `first (${unbound[0].x.iface}) ${alive(first.pid) ? "running" : "exited"}, socket ${sock.replace(/\s+/g, " ").trim() || "none"}${/bound exclusively/.test(firstLog) ? "" : " (not bound to its interface)"}; second (${unbound[1].x.iface}) exit ${second.status}${second.status === 124 ? " (still running: killed after 8 s)" : ""}: ${(second.stderr || second.stdout).trim().split("\n").slice(-1)[0] ?? ""}`;
        if (second.status === 2 && msg) rec.pass("without bind-interfaces the second instance cannot start (rc 2, \"failed to bind DHCP server socket: Address already in use\") — the production failure", detail, true);
        else rec.fail("without bind-interfaces the second instance fails (rc 2, Address already in use)", detail, true);
      } finally {
        await stop(first);
      }
      timings.push(`negative control ${secs(Date.now() - t0)}`);
    } finally {
      for (const t of started_) await stop(t);
      const problems: string[] = [];
      for (const ns of madeNs.reverse()) {
        const pids = run("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
        for (const p of pids) await lab.procs.stop(p, 2000);
        if (pids.length) problems.push(`processes left in ${ns}: ${pids.join(" ")} (ended by PID)`);
        const r = run("ip", ["netns", "del", ns]);
        if (r.status !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
      }
      // The server ends of the veths go with the client namespaces; wait (bounded) for the kernel to drop them.
      await waitFor("the veths to disappear", () => two.every((x) => !hostLinks().includes(x.iface)), { timeoutMs: 5000, intervalMs: 100 }).catch(() => undefined);
      const linksAfter = hostLinks();
      const left = started_.filter((t) => alive(t.pid));
      host.remove();
      rec.expect(
        problems.length === 0 && left.length === 0 && linksAfter.join(",") === linksBefore.join(","),
        `teardown: every dnsmasq/udhcpc/tcpdump ended by PID, client namespaces and veths deleted`,
        `${problems.join("; ") || "no problems"}; ${host.ns} devices ${linksAfter.join(",")}; ${timings.join(", ")}; total ${secs(Date.now() - started)}`,
      );
    }
  },
};
