/**
 * `npm run bench -- [--sizes 200,1000,2000] [--out-dir bench-results]`
 *
 * Generates fleets of the given numbers of compute hosts (cells of up to 100
 * hosts, desktops at 90% of each cell's N+1 capacity, the prod stack's
 * infrastructure, hardware and versions) and measures each in fresh processes
 * of the compiled program (bin/), started as `pulumi up` starts a program:
 * the program's evaluation under mocks (wall time, peak RSS, resources, time
 * per host); the replay floor (exactly the resources the program registered,
 * re-registered by plain Node under the same mocks); policy analysis through
 * the Analyzer protocol against the analyzer floor (the same requests to a
 * pack without policies); and rendering all host documents outside Pulumi.
 * Prints a table, writes it as JSON and Markdown, and exits 1 when a budget is
 * missed. No test asserts these numbers: the benchmark is where they are judged.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR, fleetOf, readStackFile } from "../review/evaluate";
import { FLEET_FILE_KEY } from "../stack/config/source";
import { parseCli, runCli, UsageError } from "../scripts/cli";

/** Issue 16: at 2,000 hosts, against floors measured in the same run. */
export const BUDGETS = {
  resourcesPerComputeHost: 4,
  /** Program evaluation ÷ replay floor, time and peak RSS. */
  timeVsFloor: 1.5,
  memoryVsFloor: 1.5,
  /** Our policies' own cost (pack − analyzer floor) ÷ analyzer floor. */
  policiesVsAnalyzerFloor: 1.0,
  /** Time per host at 2,000 ÷ at 200. */
  linearity: 1.25,
  totalSeconds: 300,
};

function sshKey(): string {
  const { publicKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const t = Buffer.from("ssh-ed25519");
  const b = Buffer.alloc(4 + t.length + 4 + 32);
  b.writeUInt32BE(t.length, 0);
  t.copy(b, 4);
  b.writeUInt32BE(32, 4 + t.length);
  raw.copy(b, 8 + t.length);
  return `ssh-ed25519 ${b.toString("base64")}`;
}

/** A fleet of `hosts` compute hosts built on the prod stack; returns the stack file path. */
export function generateFleet(hosts: number, dir: string): string {
  const sf = readStackFile("prod");
  const fleet = JSON.parse(JSON.stringify(fleetOf(sf)));
  delete sf.config[FLEET_FILE_KEY];
  const perCell = 100;
  const cells = Math.ceil(hosts / perCell);
  fleet.cells = [];
  fleet.hosts = fleet.hosts.filter((g: { roles: string[] }) => !g.roles.includes("compute"));
  const key = sshKey();
  const known = fs
    .readFileSync(path.join(PROJECT_DIR, "inventory", "prod.known_hosts"), "utf8")
    .split("\n")
    .filter((l) => /^(mq|net|ctl)-/.test(l)); // the brokers, network nodes and the control plane (cell discovery)
  for (let c = 0; c < cells; c++) {
    const n = Math.min(perCell, hosts - c * perCell);
    // 96 desktops per prod host; plan 90% of the cell's N+1 capacity.
    fleet.cells.push({ name: `c${c}`, availabilityZone: `az-${c}`, workload: "windows-desktop", desktops: Math.floor(Math.max(0, n - 1) * 96 * 0.9) });
    fleet.hosts.push({ name: `b${c}-{n:03}`, count: n, address: `10.${64 + Math.floor(c / 2)}.${(c % 2) * 128}.1`, tunnelAddress: `10.${128 + Math.floor(c / 2)}.${(c % 2) * 128}.1`, roles: ["compute"], cell: `c${c}`, hardwareProfile: "epyc-512g" });
    for (let i = 1; i <= n; i++) known.push(`b${c}-${String(i).padStart(3, "0")} ${key}`);
  }
  fs.writeFileSync(path.join(dir, "known_hosts"), known.join("\n") + "\n");
  fleet.ssh.knownHostsFile = path.join(dir, "known_hosts");
  sf.config["vdi-fleet:fleet"] = JSON.stringify(fleet);
  const file = path.join(dir, "stack.json");
  fs.writeFileSync(file, JSON.stringify(sf));
  return file;
}

/** source-map-support/register as the SDK resolves it: `pulumi up` runs programs with it loaded (@pulumi/pulumi cmd/run). */
const SOURCE_MAP_SUPPORT = require.resolve("source-map-support/register", { paths: [path.dirname(require.resolve("@pulumi/pulumi/package.json"))] });

/** A measurement in a fresh process: the program as `pulumi up` starts it, the replay floor as plain Node. */
function child(args: string[], asPulumiRunsIt: boolean): Record<string, number> {
  const script = path.join(PROJECT_DIR, "bin", "bench", "benchChild.js");
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run npm run build`);
  const r = spawnSync(process.execPath, ["--max-old-space-size=8192", ...(asPulumiRunsIt ? ["-r", SOURCE_MAP_SUPPORT] : []), script, ...args], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`measurement ${args.join(" ")} failed: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

export interface Row {
  hosts: number;
  resources: number;
  resourcesPerComputeHost: number;
  evalSeconds: number;
  evalRssMb: number;
  /** The replay floor: the same resources re-registered by plain Node. */
  floorSeconds: number;
  floorRssMb: number;
  timeVsFloor: number;
  memoryVsFloor: number;
  msPerHost: number;
  policySeconds: number;
  /** The same requests to a pack without policies (bench/floor-pack): protocol and @pulumi/policy alone. */
  policyFloorSeconds: number;
  /** (policy − analyzer floor) ÷ analyzer floor: what our policies themselves cost. */
  policiesVsAnalyzerFloor: number;
  packStartSeconds: number;
  renderSeconds: number;
  mandatoryViolations: number;
}

export function checkBudgets(rows: Row[], totalSeconds: number): string[] {
  const missed: string[] = [];
  for (const r of rows) {
    if (r.resourcesPerComputeHost > BUDGETS.resourcesPerComputeHost) missed.push(`${r.hosts} hosts: ${r.resourcesPerComputeHost} resources per compute host > ${BUDGETS.resourcesPerComputeHost}`);
    if (r.mandatoryViolations > 0) missed.push(`${r.hosts} hosts: the generated fleet has ${r.mandatoryViolations} mandatory policy violations`);
  }
  const big = rows.find((r) => r.hosts === 2000);
  const small = rows.find((r) => r.hosts === 200);
  if (big) {
    if (big.timeVsFloor > BUDGETS.timeVsFloor) missed.push(`2000 hosts: evaluation ${big.timeVsFloor.toFixed(2)}× the floor > ${BUDGETS.timeVsFloor}`);
    if (big.memoryVsFloor > BUDGETS.memoryVsFloor) missed.push(`2000 hosts: peak memory ${big.memoryVsFloor.toFixed(2)}× the floor > ${BUDGETS.memoryVsFloor}`);
    if (big.policiesVsAnalyzerFloor > BUDGETS.policiesVsAnalyzerFloor) missed.push(`2000 hosts: our policies cost ${big.policiesVsAnalyzerFloor.toFixed(2)}× the analyzer floor > ${BUDGETS.policiesVsAnalyzerFloor}`);
    if (small && big.msPerHost > BUDGETS.linearity * small.msPerHost) missed.push(`time per host at 2000 (${big.msPerHost.toFixed(1)} ms) > ${BUDGETS.linearity} × at 200 (${small.msPerHost.toFixed(1)} ms)`);
  }
  if (rows.some((r) => r.hosts === 2000) && totalSeconds > BUDGETS.totalSeconds) missed.push(`the benchmark took ${totalSeconds.toFixed(0)} s > ${BUDGETS.totalSeconds} s`);
  return missed;
}

export function markdownTable(rows: Row[]): string {
  const head = "| hosts | resources | per host | eval s | eval MB | replay floor s | replay floor MB | time × floor | memory × floor | ms per host | policy s | analyzer floor s | policies × analyzer floor | render s |";
  const sep = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
  const f = (n: number, d = 2) => n.toFixed(d);
  return [head, sep, ...rows.map((r) => `| ${r.hosts} | ${r.resources} | ${r.resourcesPerComputeHost} | ${f(r.evalSeconds)} | ${f(r.evalRssMb, 0)} | ${f(r.floorSeconds)} | ${f(r.floorRssMb, 0)} | ${f(r.timeVsFloor)} | ${f(r.memoryVsFloor)} | ${f(r.msPerHost, 1)} | ${f(r.policySeconds)} | ${f(r.policyFloorSeconds)} | ${f(r.policiesVsAnalyzerFloor)} | ${f(r.renderSeconds, 3)} |`)].join("\n");
}

const USAGE = "usage: npm run bench -- [--sizes 200,1000,2000] [--out-dir bench-results]";

async function main(argv: string[]): Promise<number> {
  const v = parseCli(argv, { sizes: { type: "string", default: "200,1000,2000" }, "out-dir": { type: "string", default: "bench-results" } }, USAGE);
  const sizes = v.sizes!.split(",").map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new UsageError(`--sizes takes positive integers, e.g. 200,1000,2000\n${USAGE}`);
  const outDir = path.resolve(v["out-dir"]!);
  const started = Date.now();
  const rows: Row[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-bench-"));
  try {
    for (const hosts of sizes) {
      const dir = fs.mkdtempSync(path.join(tmp, `${hosts}-`));
      const stackFile = generateFleet(hosts, dir);
      const replayFile = path.join(dir, "replay.ndjson");
      const p = child(["--mode", "program", "--stack-file", stackFile, "--replay-out", replayFile], true);
      const fl = child(["--mode", "replay", "--replay", replayFile], false);
      fs.rmSync(dir, { recursive: true, force: true });
      const row: Row = {
        hosts,
        resources: p.resources,
        resourcesPerComputeHost: p.resourcesPerComputeHost,
        evalSeconds: p.evalMs / 1000,
        evalRssMb: p.evalRssMb,
        floorSeconds: fl.evalMs / 1000,
        floorRssMb: fl.evalRssMb,
        timeVsFloor: p.evalMs / fl.evalMs,
        memoryVsFloor: p.evalRssMb / fl.evalRssMb,
        msPerHost: p.evalMs / hosts,
        policySeconds: p.policyMs / 1000,
        policyFloorSeconds: p.policyFloorMs / 1000,
        policiesVsAnalyzerFloor: (p.policyMs - p.policyFloorMs) / p.policyFloorMs,
        packStartSeconds: p.packStartMs / 1000,
        renderSeconds: p.renderMs / 1000,
        mandatoryViolations: p.mandatoryViolations,
      };
      rows.push(row);
      process.stderr.write(`${hosts} hosts: eval ${row.evalSeconds.toFixed(1)} s (${row.timeVsFloor.toFixed(2)}× the replay floor), ${row.evalRssMb.toFixed(0)} MB (${row.memoryVsFloor.toFixed(2)}×), ${row.msPerHost.toFixed(1)} ms per host; our policies ${row.policiesVsAnalyzerFloor.toFixed(2)}× the analyzer floor\n`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const totalSeconds = (Date.now() - started) / 1000;
  const missed = checkBudgets(rows, totalSeconds);
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  const table = markdownTable(rows);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "bench.json"), JSON.stringify({ machine, totalSeconds, budgets: BUDGETS, rows, missed }, null, 2) + "\n");
  fs.writeFileSync(path.join(outDir, "bench.md"), `# vdi-fleet benchmark\n\n${machine}; ${totalSeconds.toFixed(0)} s in all.\n\n${table}\n\n${missed.length ? `Budgets missed:\n${missed.map((m) => `- ${m}`).join("\n")}` : "All budgets met."}\n`);
  process.stdout.write(`${table}\n\n${machine}; ${totalSeconds.toFixed(0)} s in all\n`);
  if (missed.length) {
    process.stdout.write(`budgets missed:\n${missed.map((m) => `  - ${m}`).join("\n")}\n`);
    return 1;
  }
  process.stdout.write("all budgets met\n");
  return 0;
}

if (require.main === module) runCli(() => main(process.argv.slice(2)), 3, "bench failed: ");
