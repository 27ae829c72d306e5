/**
 * L7 against the real broker: the messaging host's rendered rabbitmq.conf and
 * keepalive sysctls make RabbitMQ 3.10.8 probe an idle AMQP connection long
 * before the firewall's idle timeout — and with keepalive off it does not.
 *
 * Everything runs inside the lab: sysctls only in the host's network
 * namespace (per-namespace net.ipv4.tcp_keepalive_* keys only, refused
 * otherwise), the broker in that namespace with every state/log/home
 * directory under the check's scratch directory, the AMQP client in the
 * controller namespace. Every process is ended by PID (the broker's, epmd's —
 * which `rabbitmqctl stop` leaves running — and any helper found by a marker
 * in its environment), also on failure. Secrets (password, cookie) are read
 * from the files the stack wrote and never printed.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { alive, must, run, waitFor, type RunResult, type Tracked } from "../sys";
import { shippedFile } from "../../shipped/stack";
import { firstHostWithRole, hostPath, type Check, type Lab, type LabHost, type Recorder } from "../types";
import { RABBITMQ_CONF, RABBITMQ_COOKIE, RABBITMQ_USERS, RABBITMQ_USERS_SCRIPT, SYSCTL_KEEPALIVE } from "../../facts/paths";
import { PROJECT_DIR } from "../../stack/projectDir";

const RMQ_BIN = "/usr/lib/rabbitmq/bin";
const RABBITMQ_SERVER = `${RMQ_BIN}/rabbitmq-server`;
const RABBITMQCTL = `${RMQ_BIN}/rabbitmqctl`;
const RABBITMQ_DIAGNOSTICS = `${RMQ_BIN}/rabbitmq-diagnostics`;
const PYTHON = "/usr/bin/python3";
const HOLD_PY = path.join(PROJECT_DIR, "lab", "py", "amqp_hold.py");

const CONF = RABBITMQ_CONF;
const SYSCTL = SYSCTL_KEEPALIVE;
const COOKIE = RABBITMQ_COOKIE;
const USERS = RABBITMQ_USERS;
const USERS_SCRIPT = RABBITMQ_USERS_SCRIPT;

/** Kernel keys the check may set, all per network namespace (Linux ≥ 4.13); anything else is refused. */
const PER_NETNS_KEYS = /^net\.ipv4\.tcp_keepalive_(time|intvl|probes)$/;

const NODE = "lab@localhost";
const EPMD_PORT = "4370";
const DIST_PORT = "25673";

/** How long the client holds its connection; the check closes it earlier. */
const HOLD_SECONDS = 60;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** "key = value" lines (rabbitmq.conf and sysctl.d share the shape); comments and blanks skipped. */
export function parseKeyValues(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) {
      out.push([line, ""]);
      continue;
    }
    out.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** An ss timer value ("9min57sec", "59sec", "5.123ms", "10min", "830ms") in seconds. */
export function parseSsTimer(s: string): number | undefined {
  const m = /^(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)\.(\d{3})ms|(\d+)ms)?$/.exec(s);
  if (!m || s === "") return undefined;
  const [, min, sec, fs_, fms, ms] = m;
  let v = (min ? +min * 60 : 0) + (sec ? +sec : 0);
  if (fs_ !== undefined) v += +fs_ + +fms / 1000;
  if (ms !== undefined) v += +ms / 1000;
  return v;
}

/** The `timer:(name,value,retrans)` of one ss line. */
export function ssTimer(line: string): { name: string; seconds?: number; raw: string } | undefined {
  const m = /timer:\(([a-z_]+),([^,)]*),(\d+)\)/.exec(line);
  return m ? { name: m[1], seconds: parseSsTimer(m[2]), raw: m[0] } : undefined;
}

/** Every process whose environment holds `marker` (NAME=value): what the check started, whatever forked it. */
function markedPids(marker: string): number[] {
  const out: number[] = [];
  const needle = Buffer.from(`\0${marker}\0`);
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || +d === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${d}/environ`), Buffer.from([0])]);
      if (env.includes(needle) && alive(+d)) out.push(+d);
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return out;
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

class RabbitLab {
  readonly marker: string;
  readonly env: NodeJS.ProcessEnv;
  readonly secrets: string[] = [];
  server?: Tracked;
  client?: Tracked;
  private epmdAdopted = false;

  constructor(
    readonly lab: Lab,
    readonly host: LabHost,
    readonly dir: string,
  ) {
    this.marker = `VDI_LAB_RABBITMQ=${dir}`;
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(RABBITMQ_|ERL_|HOME$)/.test(k)) base[k] = v;
    this.env = {
      ...base,
      VDI_LAB_RABBITMQ: dir,
      HOME: path.join(dir, "home"),
      PATH: `${path.join(dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
      RABBITMQ_NODENAME: NODE,
      RABBITMQ_MNESIA_BASE: path.join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: path.join(dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, "enabled_plugins"),
      RABBITMQ_CONF_ENV_FILE: path.join(dir, "rabbitmq-env.conf"),
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, "advanced.config"),
      RABBITMQ_DIST_PORT: DIST_PORT,
      ERL_EPMD_ADDRESS: "127.0.0.1",
      ERL_EPMD_PORT: EPMD_PORT,
      ERL_CRASH_DUMP: path.join(dir, "log", "erl_crash.dump"),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    };
  }

  redact(s: string): string {
    let out = s;
    for (const x of this.secrets) if (x) out = out.split(x).join("(secret)");
    return out;
  }

  ctl(args: string[], opts: { input?: string; timeoutMs?: number; diag?: boolean } = {}): RunResult {
    const r = run(opts.diag ? RABBITMQ_DIAGNOSTICS : RABBITMQCTL, ["-n", NODE, ...args], {
      ns: this.host.ns,
      env: this.env,
      cwd: this.dir,
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
    return { ...r, stdout: this.redact(r.stdout), stderr: this.redact(r.stderr) };
  }

  /** Starts the broker with `conf` and waits (bounded) for await_startup. */
  async start(phase: string, conf: string): Promise<number> {
    const t0 = Date.now();
    const env = { ...this.env, RABBITMQ_CONFIG_FILE: conf };
    this.server = this.lab.procs.start(`rabbitmq-server (${phase})`, RABBITMQ_SERVER, [], {
      ns: this.host.ns,
      env,
      cwd: this.dir,
      log: path.join(this.dir, "log", `server-${phase}.out`),
    });
    const pid = this.server.pid;
    let last = "";
    await waitFor(
      `RabbitMQ (${phase}) to start`,
      () => {
        if (!alive(pid)) throw new Error(`rabbitmq-server (${phase}) exited: ${this.tail(path.join(this.dir, "log", `server-${phase}.out`))}`);
        const r = this.ctl(["await_startup", "--timeout", "5"], { timeoutMs: 15_000 });
        last = (r.stderr || r.stdout).trim().slice(-300);
        return r.status === 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch((e) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; last: ${last}`);
    });
    await this.adoptEpmd();
    return Date.now() - t0;
  }

  /** Records epmd (started by the broker, left running by `rabbitmqctl stop`) by its PID. */
  private async adoptEpmd(): Promise<void> {
    if (this.epmdAdopted) return;
    const pids = markedPids(this.marker).filter((p) => comm(p) === "epmd");
    if (pids.length === 1) {
      const file = path.join(this.dir, "epmd.pid");
      fs.writeFileSync(file, `${pids[0]}\n`);
      await this.lab.procs.adopt("epmd (rabbitmq)", file);
      this.epmdAdopted = true;
    }
  }

  tail(file: string): string {
    try {
      return this.redact(fs.readFileSync(file, "utf8")).trim().split("\n").slice(-5).join(" | ").slice(-600);
    } catch {
      return "(no log)";
    }
  }

  async stopClient(): Promise<void> {
    if (this.client) await this.lab.procs.stop(this.client, 3000);
    this.client = undefined;
  }

  /** Stops the broker (rabbitmqctl stop, then its PID) and every process carrying the marker (epmd…), by PID. */
  async stopBroker(): Promise<void> {
    if (this.server && alive(this.server.pid)) this.ctl(["stop"], { timeoutMs: 20_000 });
    if (this.server) await this.lab.procs.stop(this.server, 10_000);
    this.server = undefined;
    for (let round = 0; round < 3; round++) {
      const left = markedPids(this.marker);
      if (!left.length) break;
      for (const p of left) await this.lab.procs.stop(p, 3000);
    }
    this.epmdAdopted = false;
  }

  async connect(phase: string, user: string, heartbeat: number): Promise<{ port: number; line: string }> {
    const log = path.join(this.dir, "log", `client-${phase}.out`);
    this.client = this.lab.procs.start(`amqp client (${phase})`, PYTHON, [
      HOLD_PY,
      "--host", this.host.address,
      "--port", "5672",
      "--credentials", path.join(this.host.root, USERS.slice(1)),
      "--user", user,
      "--heartbeat", String(heartbeat),
      "--seconds", String(HOLD_SECONDS),
    ], { ns: this.lab.ctlNs, env: { ...process.env, VDI_LAB_RABBITMQ: this.dir }, log });
    const pid = this.client.pid;
    let line = "";
    await waitFor(`the AMQP client (${phase}) to connect`, () => {
      const text = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
      line = text.split("\n").find((l) => l.startsWith("connected ")) ?? "";
      if (!line && !alive(pid)) throw new Error(`the AMQP client (${phase}) exited: ${this.tail(log)}`);
      return !!line;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    const port = Number(/local=[\d.]+:(\d+)/.exec(line)?.[1]);
    return { port, line: this.redact(line) };
  }

  /**
   * The server-side established socket(s) for the client's port, as `ss -tnoe` prints them, sampled
   * while idle: a pending retransmit/persist timer (data in flight, e.g. a heartbeat awaiting its
   * delayed ACK) hides the keepalive timer, so sample again (at most 5 s) until none is pending.
   */
  async serverSocket(clientPort: number): Promise<{ lines: string[]; samples: number }> {
    let lines: string[] = [];
    let samples = 0;
    const busy = (l: string) => /timer:\((on|persist|probe),/.test(l);
    await waitFor(
      "an idle sample of the broker's socket",
      () => {
        samples++;
        const out = must("ss", ["-tnoeH", "state", "established", `( sport = :5672 and dport = :${clientPort} )`], { ns: this.host.ns, timeoutMs: 10_000 });
        lines = out.split("\n").map((l) => l.replace(/\s+/g, " ").trim()).filter(Boolean);
        return lines.length !== 1 || !busy(lines[0]);
      },
      { timeoutMs: 5000, intervalMs: 100 },
    ).catch(() => undefined);
    return { lines, samples };
  }

}

/** The Erlang `{tcp_listen_options,[...]}` and `{heartbeat,N}` of `rabbitmq-diagnostics environment`. */
export function listenOptions(envText: string): { opts?: string; heartbeat?: number } {
  const flat = envText.replace(/\s+/g, "");
  const i = flat.indexOf("{tcp_listen_options,[");
  let opts: string | undefined;
  if (i >= 0) {
    let depth = 0;
    const start = i + "{tcp_listen_options,".length;
    for (let j = start; j < flat.length; j++) {
      const c = flat[j];
      if (c === "[" || c === "{") depth++;
      else if (c === "]" || c === "}") depth--;
      if (depth === 0) {
        opts = flat.slice(start, j + 1);
        break;
      }
    }
  }
  const hb = /\{heartbeat,(\d+)\}/.exec(flat);
  return { opts, heartbeat: hb ? +hb[1] : undefined };
}

export const rabbitmqCheck: Check = {
  id: "rabbitmq",
  lesson: "L7",
  title: "RabbitMQ TCP keepalive below the firewall idle timeout (and none when keepalive is off)",
  needs: [
    { pkg: "rabbitmq-server", path: RABBITMQ_SERVER },
    { pkg: "python3-amqp", path: "/usr/lib/python3/dist-packages/amqp/__init__.py" },
    { pkg: "iproute2", path: "/usr/bin/ss" },
    { pkg: "util-linux", path: "/usr/bin/unshare" },
  ],

  async run(lab: Lab, rec: Recorder): Promise<void> {
    const started = Date.now();
    const broker = firstHostWithRole(lab, "messaging", rec);
    if (!broker) return;
    // A broker by hand, beside the booted one (which has the ports): in a namespace of its own, with its files.
    const host = lab.scratchHost(broker, "rmq");
    const hf = (p: string) => hostPath(host, p);
    for (const p of [CONF, SYSCTL, COOKIE, USERS, USERS_SCRIPT]) {
      if (!fs.existsSync(hf(p))) {
        rec.fail(`${host.name} has ${p}`, `missing under ${host.root}`);
        return;
      }
    }
    const confText = fs.readFileSync(hf(CONF), "utf8");
    const sysctlText = fs.readFileSync(hf(SYSCTL), "utf8");
    const cookie = fs.readFileSync(hf(COOKIE), "utf8");
    const usersText = fs.readFileSync(hf(USERS), "utf8");
    const conf = new Map(parseKeyValues(confText));
    const firstUser = usersText.split("\n").map((l) => l.trim().split(/\s+/)).find((p) => p.length >= 2 && p[0]);
    if (!firstUser) {
      rec.fail(`${USERS} lists a user`, "no \"user password vhost\" line");
      return;
    }
    const [user, password, vhost = "/"] = firstUser;
    const heartbeat = Number(conf.get("heartbeat"));
    const port = conf.get("listeners.tcp.default");

    // The files on the host are the ones the lab's evaluation shipped.
    const shipped = [CONF, SYSCTL].map((p) => [p, shippedFile(lab.evaluation, host.name, p)] as const);
    rec.expect(
      shipped.every(([p, t]) => t === fs.readFileSync(hf(p), "utf8")),
      `${host.name}'s ${CONF} and ${SYSCTL} are what the program shipped`,
      shipped.map(([p, t]) => `${p}: ${t === undefined ? "not in the converge document" : t === fs.readFileSync(hf(p), "utf8") ? "same" : "differs"}`).join("; "),
    );
    if (port !== "5672") rec.fail("rabbitmq.conf listens on 5672", `listeners.tcp.default = ${port}`);

    // 1. Kernel keepalive: only per-namespace keys, only in the host's namespace.
    const sysctls = parseKeyValues(sysctlText).map(([k, v]) => [k.replace(/^-/, "").replace(/\//g, "."), v] as const);
    const refused = sysctls.filter(([k]) => !PER_NETNS_KEYS.test(k));
    if (!rec.expect(sysctls.length > 0 && refused.length === 0, `${SYSCTL} sets only per-namespace net.ipv4.tcp_keepalive_* keys`, refused.length ? `refused (not applied): ${refused.map(([k]) => k).join(", ")}` : sysctls.map(([k, v]) => `${k}=${v}`).join(" "))) return;
    const want = new Map(sysctls);
    const kaTime = Number(want.get("net.ipv4.tcp_keepalive_time"));
    const readNs = (k: string) => must("sysctl", ["-n", k], { ns: host.ns, timeoutMs: 10_000 }).trim();
    const readRoot = (k: string) => fs.readFileSync(`/proc/sys/${k.replace(/\./g, "/")}`, "utf8").trim();
    const nsBefore = new Map(sysctls.map(([k]) => [k, readNs(k)] as const));
    const rootBefore = new Map(sysctls.map(([k]) => [k, readRoot(k)] as const));

    const rl = new RabbitLab(lab, host, lab.scratch("rabbitmq"));
    rl.secrets.push(password, cookie.trim());
    const timings: string[] = [];
    let sysctlApplied = false;
    try {
      must("sysctl", ["-p", hf(SYSCTL)], { ns: host.ns, timeoutMs: 10_000 });
      sysctlApplied = true;
      const nsAfter = new Map(sysctls.map(([k]) => [k, readNs(k)] as const));
      const rootAfter = new Map(sysctls.map(([k]) => [k, readRoot(k)] as const));
      rec.expect(
        sysctls.every(([k, v]) => nsAfter.get(k) === v),
        `sysctl -p ${SYSCTL} in namespace ${host.ns} sets the rendered keepalive`,
        sysctls.map(([k]) => `${k.split(".").pop()} ${nsBefore.get(k)}→${nsAfter.get(k)}`).join(", "),
      );
      rec.expect(
        sysctls.every(([k]) => rootAfter.get(k) === rootBefore.get(k)),
        "the root namespace's keepalive sysctls are unchanged",
        sysctls.map(([k]) => `${k.split(".").pop()} ${rootBefore.get(k)}→${rootAfter.get(k)}`).join(", "),
      );
      if (!(kaTime > 0)) {
        rec.fail("the sysctl file sets net.ipv4.tcp_keepalive_time");
        return;
      }

      // 2. The broker, in the host's namespace, with the shipped config and cookie.
      const d = rl.dir;
      for (const sub of ["home", "log", "mnesia", "bin"]) fs.mkdirSync(path.join(d, sub), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(d, "enabled_plugins"), "[].\n");
      fs.writeFileSync(path.join(d, "rabbitmq-env.conf"), "");
      fs.writeFileSync(path.join(d, "home", ".erlang.cookie"), cookie, { mode: 0o400 });
      fs.chmodSync(path.join(d, "home", ".erlang.cookie"), 0o400);
      // The shipped script calls `rabbitmqctl` from PATH: the lab's, not /usr/sbin's (that one switches to the rabbitmq user).
      fs.writeFileSync(path.join(d, "bin", "rabbitmqctl"), `#!/bin/sh\nexec ${RABBITMQCTL} "$@"\n`, { mode: 0o755 });

      const upMs = await rl.start("keepalive-on", hf(CONF));
      timings.push(`broker up ${secs(upMs)}`);
      rec.pass(`RabbitMQ starts in ${host.ns} with ${host.name}'s rabbitmq.conf`, `await_startup ok after ${secs(upMs)} (node ${NODE}, epmd ${EPMD_PORT}, dist ${DIST_PORT})`);

      const hash = rl.ctl(["erlang_cookie_hash"], { diag: true });
      const localHash = crypto.createHash("md5").update(cookie.replace(/\s+$/, "")).digest("base64");
      rec.expect(
        hash.status === 0 && hash.stdout.includes(localHash),
        "the broker runs with the shipped Erlang cookie",
        hash.status === 0 ? (hash.stdout.includes(localHash) ? "cookie hash matches the shipped file (neither printed)" : "cookie hash differs from the shipped file") : `erlang_cookie_hash exited ${hash.status}`,
      );

      // 3. The AMQP user, by the shipped script reading /etc/vdi/rabbitmq-users.
      const t3 = Date.now();
      const ovl = path.join(d, "etc-overlay");
      fs.mkdirSync(ovl, { mode: 0o700 });
      // A private mount namespace: a tmpfs-backed overlay on /etc, the host root's /etc/vdi bind-mounted
      // (read-only) on it; the machine's /etc is not touched and nothing is written outside the scratch dir.
      const inner = [
        "set -eu",
        'mount -t tmpfs -o size=1m,mode=0700 vdi-lab-etc "$OVL"',
        'mkdir "$OVL/upper" "$OVL/work"',
        'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OVL/upper,workdir=$OVL/work" /etc',
        "[ -d /etc/vdi ] || mkdir /etc/vdi",
        'mount --bind -o ro "$SRC" /etc/vdi',
        'exec /bin/sh "$SCRIPT"',
      ].join("\n");
      const runScript = () => {
        const r = run("unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", inner], {
          ns: host.ns,
          cwd: d,
          env: { ...rl.env, OVL: ovl, SRC: path.dirname(hf(USERS)), SCRIPT: hf(USERS_SCRIPT) },
          timeoutMs: 90_000,
        });
        return { status: r.status, said: rl.redact((r.stderr || r.stdout).trim()).split("\n").filter(Boolean).slice(-2).join(" ").slice(-200) };
      };
      const listUsers = () =>
        rl
          .ctl(["-q", "list_users", "--no-table-headers"])
          .stdout.split("\n")
          .map((l) => l.split("\t")[0].trim())
          .filter(Boolean);
      const sr = runScript();
      let names = listUsers();
      let how = `the shipped ${USERS_SCRIPT} (rc ${sr.status}), run by sh in a private mount namespace with ${host.name}'s /etc/vdi bind-mounted at /etc/vdi`;
      if (!names.includes(user)) {
        // Fallback so the keepalive part can go on: the same steps by hand, password through stdin.
        how = `rabbitmqctl from ${USERS} because the shipped script did not (rc ${sr.status}: ${sr.said})`;
        rl.ctl(["add_user", user], { input: `${password}\n` });
        rl.ctl(["add_vhost", vhost]);
        rl.ctl(["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]);
        names = listUsers();
      }
      const perms = rl.ctl(["-q", "list_permissions", "-p", vhost, "--no-table-headers"]);
      const hasPerm = perms.stdout.split("\n").some((l) => l.split("\t")[0] === user);
      rec.expect(sr.status === 0 && names.includes(user) && hasPerm, `the shipped ${USERS_SCRIPT} creates the AMQP user from ${USERS} with permissions on ${vhost}`, `via ${how}; users now: ${names.join(", ") || "(none)"}`);
      // What the script uses to find existing users (its errors go to /dev/null there).
      const tsv = rl.ctl(["-q", "list_users", "--no-table-headers", "--formatter", "tsv"]);
      const tsvNote = tsv.status === 0 ? "" : `: the script's \`rabbitmqctl list_users --formatter tsv\` fails on this RabbitMQ (rc ${tsv.status}, ${(/Formatters\.\w+/.exec(tsv.stderr)?.[0] ?? tsv.stderr.trim().split("\n")[0] ?? "").slice(0, 80)} unknown), so it sees no existing users`;
      rec.expect(!names.includes("guest"), "the shipped script removes the guest user", names.includes("guest") ? `guest is still there${tsvNote}` : "guest gone");
      const sr2 = runScript();
      rec.expect(sr2.status === 0, "the shipped script runs again cleanly (as when the credentials file changes)", sr2.status === 0 ? "second run rc 0" : `second run rc ${sr2.status}: ${sr2.said}${tsvNote}`);
      timings.push(`users ${secs(Date.now() - t3)}`);

      // 4. Client from the controller namespace; the server-side socket probes after tcp_keepalive_time.
      const clientHb = 60; // oslo.messaging heartbeat_timeout_threshold: the client proposes it, the broker's lower value wins
      const c1 = await rl.connect("keepalive-on", user, clientHb);
      const t4 = Date.now();
      const { lines: sock, samples } = await rl.serverSocket(c1.port);
      const sampledAfter = secs(Date.now() - t4);
      const timer = sock.length === 1 ? ssTimer(sock[0]) : undefined;
      const lo = kaTime - 30 - (kaTime > 600 ? 60 : 0); // ss prints only minutes above 10 min
      rec.expect(
        !!timer && timer.name === "keepalive" && timer.seconds !== undefined && timer.seconds > lo && timer.seconds <= kaTime,
        `the broker's socket to the client (${lab.ctlAddress}) has a keepalive timer ≈ tcp_keepalive_time ${kaTime} s`,
        sock.length === 1 ? `ss -tnoe: ${timer?.raw ?? "no timer"} (want keepalive in (${lo}, ${kaTime}] s; ${sampledAfter} after the client connected, sample ${samples})` : `${sock.length} matching sockets: ${sock.join(" / ").slice(0, 300)}`,
      );

      const envOut = rl.ctl(["environment"], { diag: true });
      const lo1 = listenOptions(envOut.stdout);
      const wantOpts = ["{keepalive,true}", "{backlog,128}", "{nodelay,true}", "{linger,{true,0}}", "{exit_on_close,false}"];
      const missing = wantOpts.filter((o) => !lo1.opts?.includes(o));
      rec.expect(
        envOut.status === 0 && missing.length === 0,
        "rabbitmq-diagnostics environment: keepalive true and the default listen options kept",
        lo1.opts ? `tcp_listen_options ${lo1.opts}${missing.length ? `; missing ${missing.join(" ")}` : ""}` : `no tcp_listen_options (rc ${envOut.status})`,
      );
      rec.expect(lo1.heartbeat === heartbeat, `the broker offers heartbeat ${heartbeat} s (rabbitmq.conf)`, `environment {heartbeat,${lo1.heartbeat}}`);
      const conns = rl.ctl(["-q", "list_connections", "name", "timeout", "--no-table-headers"]);
      const mine = conns.stdout.split("\n").find((l) => l.includes(`:${c1.port} -> `));
      const negotiated = mine ? Number(mine.split("\t")[1]) : NaN;
      const expected = Math.min(clientHb, heartbeat);
      rec.expect(
        negotiated === expected && /heartbeat=(\d+)/.exec(c1.line)?.[1] === String(expected),
        `the negotiated AMQP heartbeat is the rendered ${heartbeat} s`,
        `list_connections: ${mine?.replace(/\t/g, " timeout ") ?? "(connection not listed)"}; client proposed ${clientHb}, saw ${/heartbeat=\d+/.exec(c1.line)?.[0] ?? "?"}`,
      );
      await rl.stopClient();

      // 5. Negative control: the program with rabbitmq.keepalive.enabled=false.
      const t5 = Date.now();
      const offEv = await lab.evaluateWith([["rabbitmq.keepalive.enabled", false]]);
      const offText = shippedFile(offEv, host.name, CONF);
      if (offText === undefined) throw new Error(`the program with rabbitmq.keepalive.enabled=false ships no ${CONF} for ${host.name}`);
      const offHow = "the program re-evaluated with rabbitmq.keepalive.enabled=false";
      const diff = parseKeyValues(offText).filter(([k, v]) => conf.get(k) !== v);
      const onlyKeepalive = diff.length === 1 && diff[0][0] === "tcp_listen_options.keepalive" && diff[0][1] === "false" && parseKeyValues(offText).length === conf.size;
      rec.expect(onlyKeepalive, "keepalive off changes only tcp_listen_options.keepalive in rabbitmq.conf", `${offHow} in ${secs(Date.now() - t5)}; changed: ${diff.map(([k, v]) => `${k} = ${v}`).join(", ") || "nothing"}`);
      const offConf = path.join(d, "rabbitmq-keepalive-off.conf");
      fs.writeFileSync(offConf, offText);

      await rl.stopBroker();
      const up2 = await rl.start("keepalive-off", offConf);
      timings.push(`broker (off) up ${secs(up2)}`);
      const c2 = await rl.connect("keepalive-off", user, clientHb);
      const { lines: sock2, samples: samples2 } = await rl.serverSocket(c2.port);
      const timer2 = sock2.length === 1 ? ssTimer(sock2[0]) : undefined;
      const env2 = listenOptions(rl.ctl(["environment"], { diag: true }).stdout);
      rec.expect(
        sock2.length === 1 && !timer2 && !!env2.opts?.includes("{keepalive,false}"),
        "keepalive off: the broker's socket to the client has no keepalive timer (the firewall would drop it silently)",
        sock2.length === 1 ? `ss -tnoe: ${timer2 ? timer2.raw : "no timer"} (idle sample ${samples2}); environment tcp_listen_options ${env2.opts ?? "?"}` : `${sock2.length} matching sockets`,
        true,
      );
    } catch (e) {
      rec.fail("the RabbitMQ check ran to the end", rl.redact(e instanceof Error ? e.message : String(e)).slice(0, 1500));
    } finally {
      // 6. Stop everything by PID, put the namespace's sysctls back, drop secrets from the scratch dir.
      const t6 = Date.now();
      await rl.stopClient().catch(() => undefined);
      await rl.stopBroker().catch(() => undefined);
      if (sysctlApplied) for (const [k, v] of nsBefore) run("sysctl", ["-q", "-w", `${k}=${v}`], { ns: host.ns, timeoutMs: 10_000 });
      fs.rmSync(path.join(rl.dir, "home"), { recursive: true, force: true });
      fs.rmSync(path.join(rl.dir, "mnesia"), { recursive: true, force: true });
      const left = markedPids(rl.marker);
      const restored = !sysctlApplied || [...nsBefore].every(([k, v]) => readNs(k) === v);
      timings.push(`stop ${secs(Date.now() - t6)}`, `total ${secs(Date.now() - started)}`);
      host.remove();
      rec.expect(
        left.length === 0 && restored,
        "every process the check started is gone (broker, epmd, client) and the namespace's sysctls are restored",
        `${left.length ? `still alive: ${left.map((p) => `${p} ${comm(p)}`).join(", ")}` : "none left"}; ${timings.join(", ")}`,
      );
    }
  },
};
