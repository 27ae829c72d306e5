/**
 * Runs a Pulumi CrossGuard policy pack the way the Pulumi CLI does
 * (`pulumi preview --policy-pack <dir>`) and talks to it over the Analyzer
 * gRPC protocol — no Pulumi CLI, no cloud, no credentials.
 *
 * What the CLI does, and what this does the same way
 * (pulumi/pulumi: sdk/go/common/resource/plugin/analyzer_plugin.go,
 * pkg/engine/update.go installAndLoadPolicyPlugins, pkg/resource/deploy/step_generator.go):
 *
 *  - starts `node <@pulumi/pulumi/cmd/run-policy-pack> <engine-address> .` with the
 *    working directory set to the *policy pack* directory (the `pulumi-analyzer-policy`
 *    shim resolves run-policy-pack from there), plus `-k=v` for each runtime option
 *    in PulumiPolicy.yaml, with PULUMI_CONFIG / PULUMI_[NODEJS_]{PROJECT,STACK,ORGANIZATION,DRY_RUN}
 *    in the environment; reads the port from the first line of stdout;
 *  - calls Handshake (tolerating UNIMPLEMENTED), then ConfigureStack (tolerating UNIMPLEMENTED),
 *    then GetAnalyzerInfo, then Configure with the policy config reconciled like the CLI does
 *    (schema defaults, then the pack's initial config, then the given config; validated);
 *  - Analyze: every request carries AnalyzerResourceOptions; properties are marshalled like
 *    the engine (keep unknowns and secrets, downgrade resource references and output values,
 *    skip internal `__` keys); diagnostics get the resource's URN; `remediate` → `mandatory`;
 *  - AnalyzeStack: every resource with parent, dependencies and options; diagnostics keep
 *    the URN the policy reported (empty: stack-level);
 *  - the policy pack version in PulumiPolicy.yaml, if any, overrides the one the pack reports.
 */
import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import Ajv from "ajv";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import * as analyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as enginePb from "@pulumi/pulumi/proto/engine_pb";
import * as engineGrpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import { type RegisteredResource } from "./evaluate";
import { OUTPUT_SIG, RESOURCE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN } from "../formats/pulumiWire";
import { encodeAnalyzeRequest, encodeAnalyzeStackRequest, encodeStruct, type WireResource, type WireValue } from "./analyzerWire";
import { PROJECT_DIR } from "../stack/projectDir";

// The generated stubs are bound to the @grpc/grpc-js and google-protobuf copies that
// @pulumi/pulumi resolves: take ours from the same place (credentials and messages are
// checked with instanceof / shared registries).
const PULUMI_DIR = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const fromPulumi = <T>(id: string): T => require(require.resolve(id, { paths: [PULUMI_DIR] })) as T;
const grpc = fromPulumi<typeof import("@grpc/grpc-js")>("@grpc/grpc-js");
const { Struct } = fromPulumi<typeof import("google-protobuf/google/protobuf/struct_pb")>("google-protobuf/google/protobuf/struct_pb");
const { Empty } = fromPulumi<typeof import("google-protobuf/google/protobuf/empty_pb")>("google-protobuf/google/protobuf/empty_pb");
type GrpcServer = import("@grpc/grpc-js").Server;
type ServiceError = import("@grpc/grpc-js").ServiceError;

export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";
export const ENFORCEMENT_LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

export interface PolicyDiagnostic {
  policyName: string;
  policyPackName: string;
  policyPackVersion: string;
  description: string;
  message: string;
  enforcementLevel: EnforcementLevel;
  /** Analyze: the analyzed resource (as the CLI reports it). AnalyzeStack: what the policy reported, "" for the stack. */
  urn: string;
  severity?: "low" | "medium" | "high" | "critical";
}

export interface PolicyConfigSchema {
  properties: Record<string, any>;
  required?: string[];
}

export interface PolicyInfo {
  name: string;
  displayName?: string;
  description: string;
  enforcementLevel: EnforcementLevel;
  policyType: "resource" | "stack" | "unknown";
  severity?: PolicyDiagnostic["severity"];
  configSchema?: PolicyConfigSchema;
}

/** Per-policy config as `--policy-pack-config` takes it: a level, or properties plus an optional level. */
export type PolicyConfigValue = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);
export type PolicyPackConfig = Record<string, PolicyConfigValue>;

/** What is sent to the pack for one policy (the CLI's AnalyzerPolicyConfig). */
export interface EffectivePolicyConfig {
  enforcementLevel: EnforcementLevel;
  properties: Record<string, unknown>;
}

export interface AnalyzerInfo {
  name: string;
  displayName?: string;
  /** PulumiPolicy.yaml's version if set (as the CLI), else the pack's package.json version. */
  version: string;
  supportsConfig: boolean;
  /** Sorted by name, as the CLI sorts them. */
  policies: PolicyInfo[];
  initialConfig: Record<string, { enforcementLevel: EnforcementLevel } & Record<string, unknown>>;
}

export interface AnalyzerLog {
  source: "engine" | "stdout" | "stderr" | "runner";
  severity: "debug" | "info" | "warning" | "error";
  message: string;
  urn?: string;
}

/** The stack context the CLI gives a policy pack (ConfigureStack and the environment). */
export interface StackContext {
  /** Default: the name in <projectDir>/Pulumi.yaml. */
  project?: string;
  stack?: string;
  organization?: string;
  /** Default true: an offline run is a preview. */
  dryRun?: boolean;
  /** Full keys ("vdi-fleet:fleet") to values as the CLI passes them (strings; JSON for objects). */
  config?: Record<string, string>;
  secretKeys?: string[];
  tags?: Record<string, string>;
}

export interface StartOptions {
  /** The policy pack directory (PulumiPolicy.yaml); relative paths are taken from projectDir. */
  packDir: string;
  /** The Pulumi project the pack is run for (its Pulumi.yaml names the project). Default: the repo root. */
  projectDir?: string;
  stack?: StackContext;
  /** Policy config applied at start, as `--policy-pack-config <file>` would. */
  config?: PolicyPackConfig;
  /** For the pack to print its port (ts-node type-checks the pack first). Default 60 s. */
  timeoutMs?: number;
  /** Extra node options for the pack process (e.g. --cpu-prof for profiling); the CLI passes none. */
  nodeArgs?: string[];
  /** Deadline per Analyze/AnalyzeStack call; 0 (default) = none, as the CLI. */
  callTimeoutMs?: number;
}

/** Options the engine sends with each resource; RegisteredResource does not record them yet. */
export interface ResourceOptionsExtra {
  protect?: boolean;
  ignoreChanges?: string[];
  deleteBeforeReplace?: boolean;
  aliases?: string[];
  customTimeouts?: { create?: number; update?: number; delete?: number };
  propertyDependencies?: Record<string, string[]>;
  provider?: { urn: string; type: string; name: string; inputs: Record<string, unknown> };
}
export type AnalyzerResource = RegisteredResource & ResourceOptionsExtra;

export interface AnalyzeAllOptions {
  /** Analyze requests in flight (default 16). */
  concurrency?: number;
  /** "all" (default): every resource, components and the Stack too, as the engine does (components first). "custom": custom resources only. */
  include?: "custom" | "all";
}

interface PackManifest {
  runtime: string;
  runtimeOptions: Record<string, unknown>;
  version?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_MSG = 400 * 1024 * 1024;
const TAIL_LINES = 40;

export class PolicyPackRunner {
  /** Engine Log calls, and the pack's stdout (after the port) and stderr lines, in arrival order. */
  readonly logs: AnalyzerLog[] = [];
  /** Which optional RPCs the pack implements (@pulumi/policy 1.20: no Handshake; ConfigureStack yes). */
  readonly supports = { handshake: false, configureStack: false };
  /** Timings of the start, in milliseconds. */
  readonly startTimings: { portMs: number; readyMs: number } = { portMs: 0, readyMs: 0 };
  private rootResource = "";
  private engineAddr = "";
  private child?: ChildProcess;
  private client?: analyzerGrpc.AnalyzerClient;
  private engine?: GrpcServer;
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  private exited: Promise<void> = Promise.resolve();
  private stderrTail: string[] = [];
  private stopping?: Promise<void>;
  private lastInfo?: AnalyzerInfo;
  private config: Record<string, EffectivePolicyConfig> = {};
  private readonly onProcessExit = () => this.killSync();

  private constructor(
    readonly packDir: string,
    readonly projectDir: string,
    private readonly manifest: PackManifest,
    private readonly callTimeoutMs: number,
  ) {}

  /** The child's PID (undefined before spawn). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The fake engine's address, passed to the pack as the CLI passes its own. */
  get engineAddress(): string {
    return this.engineAddr;
  }

  /** The policy config last sent with Configure (defaults and initial config included). */
  get effectiveConfig(): Record<string, EffectivePolicyConfig> {
    return structuredClone(this.config);
  }

  static async start(opts: StartOptions): Promise<PolicyPackRunner> {
    const projectDir = path.resolve(opts.projectDir ?? PROJECT_DIR);
    const packDir = path.resolve(projectDir, opts.packDir);
    const manifest = readPackManifest(packDir);
    if (manifest.runtime !== "nodejs") throw new Error(`policy pack ${packDir}: runtime ${manifest.runtime} is not supported (nodejs only)`);
    const runner = new PolicyPackRunner(packDir, projectDir, manifest, opts.callTimeoutMs ?? 0);
    process.on("exit", runner.onProcessExit);
    try {
      await runner.boot(opts);
    } catch (e) {
      await runner.stop();
      throw e;
    }
    return runner;
  }

  private async boot(opts: StartOptions): Promise<void> {
    const t0 = Date.now();
    this.engine = await this.startEngine();

    let runPolicyPack: string;
    try {
      // What the `pulumi-analyzer-policy` shim does: require.resolve from the pack directory.
      runPolicyPack = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [this.packDir] });
    } catch {
      throw new Error(`it looks like the policy pack's dependencies are not installed; try running npm install in ${this.packDir}`);
    }
    const args = [runPolicyPack, this.engineAddress, "."];
    for (const [k, v] of Object.entries(this.manifest.runtimeOptions)) {
      const s = v === null || v === undefined ? "" : String(v);
      if (s !== "") args.push(`-${k}=${s}`);
    }
    const stack = this.stackContext(opts.stack);
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...args], { cwd: this.packDir, env: packEnv(stack), stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    this.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
      child.once("error", (err) => {
        this.log("runner", "error", `spawn failed: ${err.message}`);
        this.exitInfo ??= { code: null, signal: null };
        resolve();
      });
    });
    child.stdin?.end();

    const port = await this.readPort(child, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.startTimings.portMs = Date.now() - t0;

    const target = `127.0.0.1:${port}`;
    this.client = new analyzerGrpc.AnalyzerClient(target, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MSG,
      "grpc.max_send_message_length": MAX_MSG,
    });

    // 1. Handshake: the CLI ignores any failure (UNIMPLEMENTED is expected from @pulumi/policy).
    const hs = new analyzerPb.AnalyzerHandshakeRequest();
    hs.setEngineAddress(this.engineAddress);
    hs.setRootDirectory(this.packDir);
    hs.setProgramDirectory(this.packDir);
    try {
      await this.call<analyzerPb.AnalyzerHandshakeResponse>((cb) => this.client!.handshake(hs, cb));
      this.supports.handshake = true;
    } catch (e) {
      if (!isUnimplemented(e)) this.log("runner", "warning", `Handshake failed (ignored, as the CLI does): ${errMessage(e)}`);
    }

    // 2. ConfigureStack: UNIMPLEMENTED tolerated, anything else fails the start.
    const cs = new analyzerPb.AnalyzerStackConfigureRequest();
    cs.setStack(stack.stack ?? "");
    cs.setProject(stack.project ?? "");
    cs.setOrganization(stack.organization ?? "");
    cs.setDryRun(stack.dryRun ?? true);
    for (const [k, v] of Object.entries(stack.config ?? {})) cs.getConfigMap().set(k, v);
    cs.setConfigSecretKeysList(stack.secretKeys ?? []);
    for (const [k, v] of Object.entries(stack.tags ?? {})) cs.getTagsMap().set(k, v);
    try {
      await this.call<analyzerPb.AnalyzerStackConfigureResponse>((cb) => this.client!.configureStack(cs, cb));
      this.supports.configureStack = true;
    } catch (e) {
      if (!isUnimplemented(e)) throw this.wrap(e, "ConfigureStack");
    }

    // 3. GetAnalyzerInfo, then 4. Configure with the reconciled config.
    await this.info();
    await this.configure(opts.config ?? {});
    this.startTimings.readyMs = Date.now() - t0;
  }

  private stackContext(s: StackContext | undefined): StackContext {
    let project = s?.project;
    if (project === undefined) {
      try {
        const doc = YAML.parse(fs.readFileSync(path.join(this.projectDir, "Pulumi.yaml"), "utf8")) as { name?: string } | undefined;
        project = doc?.name ?? "";
      } catch {
        project = "";
      }
    }
    return { ...s, project, dryRun: s?.dryRun ?? true };
  }

  private log(source: AnalyzerLog["source"], severity: AnalyzerLog["severity"], message: string, urn?: string) {
    this.logs.push(urn ? { source, severity, message, urn } : { source, severity, message });
  }

  private startEngine(): Promise<GrpcServer> {
    const server = new grpc.Server();
    const sev: Record<number, AnalyzerLog["severity"]> = {
      [enginePb.LogSeverity.DEBUG]: "debug",
      [enginePb.LogSeverity.INFO]: "info",
      [enginePb.LogSeverity.WARNING]: "warning",
      [enginePb.LogSeverity.ERROR]: "error",
    };
    const impl: engineGrpc.IEngineServer = {
      log: (call, cb) => {
        const r = call.request;
        this.log("engine", sev[r.getSeverity()] ?? "info", r.getMessage(), r.getUrn() || undefined);
        cb(null, new Empty());
      },
      getRootResource: (_call, cb) => cb(null, new enginePb.GetRootResourceResponse().setUrn(this.rootResource)),
      setRootResource: (call, cb) => {
        this.rootResource = call.request.getUrn();
        cb(null, new enginePb.SetRootResourceResponse());
      },
      startDebugging: (_call, cb) => cb(null, new Empty()),
      requirePulumiVersion: (_call, cb) => cb(null, new enginePb.RequirePulumiVersionResponse()),
    };
    server.addService(engineGrpc.EngineService, impl);
    return new Promise((resolve, reject) => {
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) return reject(err);
        this.engineAddr = `127.0.0.1:${port}`;
        resolve(server);
      });
    });
  }

  private readPort(child: ChildProcess, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const settle = (err: string | undefined, port?: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve(port!);
        else reject(new Error(`policy pack ${this.packDir} (pid ${child.pid}): ${err}${this.stderrSuffix()}`));
      };
      const timer = setTimeout(() => settle(`the policy pack did not print its port within ${timeoutMs} ms`), timeoutMs);
      // Let stderr drain before reporting an early exit.
      void this.exited.then(() => setTimeout(() => settle(`the policy pack exited (${describeExit(this.exitInfo)}) before printing its port`), 50));

      lineReader(child.stderr!, (l) => this.stderrLine(l));
      let first = true;
      lineReader(child.stdout!, (l) => {
        if (!first) return this.log("stdout", "info", l);
        first = false;
        const port = parsePort(l);
        if (port === undefined) settle(`the policy pack printed ${JSON.stringify(l)} where its port was expected`);
        else settle(undefined, port);
      });
    });
  }

  private stderrLine(l: string) {
    this.stderrTail.push(l);
    if (this.stderrTail.length > TAIL_LINES) this.stderrTail.shift();
    this.log("stderr", "info", l);
  }

  private stderrSuffix(): string {
    const tail = this.stderrTail.join("\n").trim();
    return tail ? `\n--- stderr (last ${TAIL_LINES} lines) ---\n${tail}` : " (no stderr)";
  }

  private call<T>(fn: (cb: (err: ServiceError | null, res: T) => void) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.client) return reject(new Error("policy pack runner is stopped"));
      fn((err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  private callOpts() {
    return this.callTimeoutMs > 0 ? { deadline: Date.now() + this.callTimeoutMs } : {};
  }

  private wrap(e: unknown, what: string): Error {
    const base = `${what} failed: ${errMessage(e)}`;
    return new Error(this.exitInfo ? `${base}\npolicy pack exited (${describeExit(this.exitInfo)})${this.stderrSuffix()}` : base);
  }

  /** GetAnalyzerInfo, converted as the CLI converts it. */
  async info(): Promise<AnalyzerInfo> {
    let resp: analyzerPb.AnalyzerInfo;
    try {
      resp = await this.call<analyzerPb.AnalyzerInfo>((cb) => this.client!.getAnalyzerInfo(new Empty(), cb));
    } catch (e) {
      throw this.wrap(e, "GetAnalyzerInfo");
    }
    const policies: PolicyInfo[] = resp.getPoliciesList().map((p) => {
      const info: PolicyInfo = {
        name: p.getName(),
        description: p.getDescription(),
        enforcementLevel: levelName(p.getEnforcementlevel()),
        policyType:
          p.getPolicyType() === analyzerPb.PolicyType.POLICY_TYPE_RESOURCE ? "resource" : p.getPolicyType() === analyzerPb.PolicyType.POLICY_TYPE_STACK ? "stack" : "unknown",
      };
      if (p.getDisplayname()) info.displayName = p.getDisplayname();
      const sev = severityName(p.getSeverity());
      if (sev) info.severity = sev;
      const schema = p.getConfigschema();
      if (schema) {
        info.configSchema = { properties: (schema.getProperties()?.toJavaScript() ?? {}) as Record<string, any> };
        if (schema.getRequiredList().length) info.configSchema.required = schema.getRequiredList();
      }
      return info;
    });
    policies.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const initialConfig: AnalyzerInfo["initialConfig"] = {};
    resp.getInitialconfigMap().forEach((v, k) => {
      // Unset enforcement level reads as ADVISORY (enum 0) — the CLI takes it as such.
      initialConfig[k] = { ...((v.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>), enforcementLevel: levelName(v.getEnforcementlevel()) };
    });
    const info: AnalyzerInfo = {
      name: resp.getName(),
      version: this.manifest.version || resp.getVersion(),
      supportsConfig: resp.getSupportsconfig(),
      policies,
      initialConfig,
    };
    if (resp.getDisplayname()) info.displayName = resp.getDisplayname();
    this.lastInfo = info;
    return info;
  }

  /**
   * Configure, as `--policy-pack-config` does: schema defaults, then the pack's initial config,
   * then `config` ("all" sets every policy's level), validated against each policy's schema.
   * Each call starts afresh from the defaults (the pack replaces its whole config).
   */
  async configure(config: PolicyPackConfig): Promise<void> {
    const info = this.lastInfo ?? (await this.info());
    if (!info.supportsConfig) {
      if (Object.keys(config).length) throw new Error(`policy pack ${info.name} at ${this.packDir} does not support config`);
      return;
    }
    const effective = reconcilePolicyConfig(info, config);
    const req = new analyzerPb.ConfigureAnalyzerRequest();
    for (const [name, c] of Object.entries(effective)) {
      const pc = new analyzerPb.PolicyConfig();
      pc.setEnforcementlevel(levelEnum(c.enforcementLevel));
      // Always set (the pack reads properties unconditionally; the CLI always sends a Struct).
      pc.setProperties(Struct.fromJavaScript(toStructJs(c.properties) as Record<string, any>));
      req.getPolicyconfigMap().set(name, pc);
    }
    if (req.getPolicyconfigMap().getLength() > 0) {
      try {
        await this.call<unknown>((cb) => this.client!.configure(req, cb));
      } catch (e) {
        throw this.wrap(e, `configuring policy pack ${info.name}`);
      }
    }
    this.config = effective;
  }

  /** A unary call with a request already encoded (review/analyzerWire.ts). */
  private unary(method: "Analyze" | "AnalyzeStack", bytes: Buffer): Promise<analyzerPb.AnalyzeResponse> {
    return this.call<analyzerPb.AnalyzeResponse>((cb) =>
      this.client!.makeUnaryRequest(`/pulumirpc.Analyzer/${method}`, (b: Buffer) => b, (b: Buffer) => analyzerPb.AnalyzeResponse.deserializeBinary(new Uint8Array(b)), bytes, new grpc.Metadata(), this.callOpts(), (err, res) => cb(err, res!)),
    );
  }

  /** Analyze one resource (its inputs). */
  async analyze(r: AnalyzerResource, wire: WireResource = wireResource(r)): Promise<PolicyDiagnostic[]> {
    let resp: analyzerPb.AnalyzeResponse;
    try {
      resp = await this.unary("Analyze", encodeAnalyzeRequest(wire));
    } catch (e) {
      throw this.wrap(e, `Analyze(${r.urn})`);
    }
    // The engine reports every Analyze diagnostic against the analyzed resource.
    return resp.getDiagnosticsList().map((d) => this.diagnostic(d, r.urn));
  }

  /** AnalyzeStack over the given resources (their inputs stand in for the outputs the engine sends). */
  async analyzeStack(rs: AnalyzerResource[], wires?: Map<AnalyzerResource, WireResource>): Promise<PolicyDiagnostic[]> {
    let resp: analyzerPb.AnalyzeResponse;
    try {
      resp = await this.unary("AnalyzeStack", encodeAnalyzeStackRequest(rs.map((r) => wires?.get(r) ?? wireResource(r))));
    } catch (e) {
      if (isUnimplemented(e)) return []; // as the CLI: an old analyzer without AnalyzeStack
      throw this.wrap(e, "AnalyzeStack");
    }
    return resp.getDiagnosticsList().map((d) => this.diagnostic(d));
  }

  /**
   * Analyze every resource (components first) or only the custom ones (`include: "custom"`),
   * bounded concurrency, then AnalyzeStack over all of them. Sorted by urn, policy name, message.
   */
  async analyzeAll(rs: AnalyzerResource[], opts: AnalyzeAllOptions = {}): Promise<PolicyDiagnostic[]> {
    const limit = Math.max(1, opts.concurrency ?? 16);
    // Each resource's properties are encoded once, for its Analyze and for the AnalyzeStack.
    const wires = new Map<AnalyzerResource, WireResource>();
    const analyzeEach = async (targets: AnalyzerResource[]): Promise<PolicyDiagnostic[]> => {
      const results: PolicyDiagnostic[][] = new Array(targets.length);
      let next = 0;
      const worker = async () => {
        while (next < targets.length) {
          const i = next++;
          const wire = wireResource(targets[i]);
          wires.set(targets[i], wire);
          results[i] = await this.analyze(targets[i], wire);
        }
      };
      await Promise.all(Array.from({ length: Math.min(limit, targets.length) }, worker));
      return results.flat();
    };
    // As the engine: a component is analyzed before its children (they are registered only once it
    // has been), so the pack has seen a host's component and its cell when it judges the host's
    // commands (policy/support/provenance.ts). Components first, then custom resources.
    const components = opts.include === "custom" ? [] : await analyzeEach(rs.filter((r) => !r.custom));
    const custom = await analyzeEach(rs.filter((r) => r.custom));
    const all = components.concat(custom, await this.analyzeStack(rs, wires));
    return all.sort(compareDiagnostics);
  }

  private diagnostic(d: analyzerPb.AnalyzeDiagnostic, urn?: string): PolicyDiagnostic {
    let level = levelName(d.getEnforcementlevel());
    if (level === "remediate") level = "mandatory"; // the engine's downgrade
    const out: PolicyDiagnostic = {
      policyName: d.getPolicyname(),
      policyPackName: d.getPolicypackname(),
      policyPackVersion: this.manifest.version || d.getPolicypackversion(),
      description: d.getDescription(),
      message: d.getMessage(),
      enforcementLevel: level,
      urn: urn ?? d.getUrn(),
    };
    const sev = severityName(d.getSeverity());
    if (sev) out.severity = sev;
    return out;
  }

  /** Kills the pack by PID, closes the client and the engine server. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      process.off("exit", this.onProcessExit);
      this.client?.close();
      this.client = undefined;
      const child = this.child;
      if (child?.pid !== undefined && !this.exitInfo) {
        try {
          process.kill(child.pid, "SIGKILL"); // as the CLI: no graceful shutdown
        } catch {
          /* already gone */
        }
        await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      }
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      child?.stdin?.destroy();
      const engine = this.engine;
      this.engine = undefined;
      if (engine) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            engine.forceShutdown();
            resolve();
          }, 1000);
          t.unref();
          engine.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    })();
    return this.stopping;
  }

  private killSync() {
    const pid = this.child?.pid;
    if (pid !== undefined && !this.exitInfo) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    this.engine?.forceShutdown();
  }
}

/** Sorts by urn, then policy name, then message. */
export function compareDiagnostics(a: PolicyDiagnostic, b: PolicyDiagnostic): number {
  for (const k of ["urn", "policyName", "message"] as const) {
    if (a[k] < b[k]) return -1;
    if (a[k] > b[k]) return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Pack manifest and environment

function readPackManifest(packDir: string): PackManifest {
  const file = path.join(packDir, "PulumiPolicy.yaml");
  if (!fs.existsSync(file)) throw new Error(`no PulumiPolicy.yaml in ${packDir}`);
  const doc = (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as { runtime?: string | { name?: string; options?: Record<string, unknown> }; version?: unknown };
  const rt = doc.runtime;
  const runtime = typeof rt === "string" ? rt : (rt?.name ?? "");
  if (!runtime) throw new Error(`${file}: no runtime`);
  const runtimeOptions = typeof rt === "object" && rt?.options ? rt.options : {};
  return { runtime, runtimeOptions, version: doc.version === undefined || doc.version === null ? undefined : String(doc.version) };
}

/** The CLI's constructEnv: its own environment plus the stack's config and identity. */
function packEnv(s: StackContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Drop what a caller (ts-node, a Pulumi program, jest under pulumi) may carry that the
    // CLI's own environment would not: it would change how the pack is compiled or run.
    if (/^TS_NODE_/.test(k) || /^PULUMI_NODEJS_/.test(k)) continue;
    if (["PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_ORGANIZATION", "PULUMI_DRY_RUN"].includes(k)) continue;
    env[k] = v;
  }
  const set = (k: string, v: string | undefined) => {
    if (v) env[k] = v;
  };
  if (s.config && Object.keys(s.config).length) set("PULUMI_CONFIG", JSON.stringify(s.config));
  const dry = String(s.dryRun ?? true);
  set("PULUMI_NODEJS_ORGANIZATION", s.organization);
  set("PULUMI_NODEJS_PROJECT", s.project);
  set("PULUMI_NODEJS_STACK", s.stack);
  set("PULUMI_NODEJS_DRY_RUN", dry);
  set("PULUMI_ORGANIZATION", s.organization);
  set("PULUMI_PROJECT", s.project);
  set("PULUMI_STACK", s.stack);
  set("PULUMI_DRY_RUN", dry);
  return env;
}

function lineReader(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buf += chunk;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) onLine(l.replace(/\r$/, ""));
  });
  stream.on("end", () => {
    if (buf) onLine(buf);
    buf = "";
  });
}

function parsePort(line: string): number | undefined {
  const s = line.replace(/\x1b\]9;4;[03];\x1b\\/g, "").trim();
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n > 0 && n <= 65535 ? n : undefined;
}

function describeExit(e: { code: number | null; signal: NodeJS.Signals | null } | undefined): string {
  if (!e) return "unknown status";
  return e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
}

function isUnimplemented(e: unknown): boolean {
  return !!e && typeof e === "object" && (e as { code?: number }).code === grpc.status.UNIMPLEMENTED;
}

function errMessage(e: unknown): string {
  if (e && typeof e === "object" && "details" in e && typeof (e as ServiceError).details === "string") {
    const se = e as ServiceError;
    return `${grpc.status[se.code] ?? se.code}: ${se.details}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function urnName(urn: string): string {
  const i = urn.lastIndexOf("::");
  return i >= 0 ? urn.slice(i + 2) : urn;
}

// ---------------------------------------------------------------------------------------------
// Enums

const LEVEL_BY_ENUM = new Map<number, EnforcementLevel>(
  Object.entries(analyzerPb.EnforcementLevel)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .map(([k, v]) => [v, k.toLowerCase() as EnforcementLevel]),
);

function levelName(v: analyzerPb.EnforcementLevel): EnforcementLevel {
  const l = LEVEL_BY_ENUM.get(v);
  if (!l) throw new Error(`invalid enforcement level ${v}`);
  return l;
}

function levelEnum(l: EnforcementLevel): analyzerPb.EnforcementLevel {
  for (const [k, v] of LEVEL_BY_ENUM) if (v === l) return k;
  throw new Error(`invalid enforcement level ${JSON.stringify(l)}`);
}

function severityName(s: analyzerPb.PolicySeverity): PolicyDiagnostic["severity"] | undefined {
  switch (s) {
    case analyzerPb.PolicySeverity.POLICY_SEVERITY_LOW:
      return "low";
    case analyzerPb.PolicySeverity.POLICY_SEVERITY_MEDIUM:
      return "medium";
    case analyzerPb.PolicySeverity.POLICY_SEVERITY_HIGH:
      return "high";
    case analyzerPb.PolicySeverity.POLICY_SEVERITY_CRITICAL:
      return "critical";
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Marshalling, as the engine does for analyzers (KeepUnknowns, KeepSecrets, SkipInternalKeys,
// no resource references, no output values).

/** Converts a wire-form property map to what the engine sends an analyzer. Exported for tests. */
export function toAnalyzerWire(v: unknown): unknown {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => toAnalyzerWire(x) ?? null);
  const o = v as Record<string, unknown>;
  const sig = o[SIG_KEY];
  if (sig === SECRET_SIG) return { [SIG_KEY]: SECRET_SIG, value: toAnalyzerWire(o.value) ?? null };
  if (sig === RESOURCE_SIG) {
    if ("id" in o && o.id !== undefined && o.id !== null) return o.id === "" ? UNKNOWN : toAnalyzerWire(o.id);
    return o.urn;
  }
  if (sig === OUTPUT_SIG) {
    const value = "value" in o && o.value !== undefined ? toAnalyzerWire(o.value) : UNKNOWN;
    return o.secret === true ? { [SIG_KEY]: SECRET_SIG, value } : value;
  }
  if (typeof sig === "string") return o; // assets, archives: as they are
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (k.startsWith("__")) continue;
    const w = toAnalyzerWire(x);
    if (w !== undefined) out[k] = w;
  }
  return out;
}

function wireProperties(inputs: Record<string, unknown> | undefined): Buffer {
  return encodeStruct((toAnalyzerWire(inputs ?? {}) ?? {}) as { [k: string]: WireValue });
}

/** What the engine sends for a resource, ready to encode. Exported for tests. */
export function wireResource(r: AnalyzerResource): WireResource {
  const out: WireResource = {
    type: r.type,
    properties: wireProperties(r.inputs),
    urn: r.urn,
    name: r.name || urnName(r.urn),
    options: {
      protect: r.protect ?? false,
      ignoreChanges: r.ignoreChanges ?? [],
      deleteBeforeReplace: r.deleteBeforeReplace ?? false,
      deleteBeforeReplaceDefined: r.deleteBeforeReplace !== undefined,
      additionalSecretOutputs: r.additionalSecretOutputs ?? [],
      aliases: r.aliases ?? [],
      customTimeouts: { create: r.customTimeouts?.create ?? 0, update: r.customTimeouts?.update ?? 0, delete: r.customTimeouts?.delete ?? 0 },
      parent: r.parent ?? "",
    },
    parent: r.parent ?? "",
    dependencies: r.dependencies ?? [],
    propertyDependencies: r.propertyDependencies ?? {},
  };
  if (r.provider) out.provider = { type: r.provider.type, properties: wireProperties(r.provider.inputs), urn: r.provider.urn, name: r.provider.name || urnName(r.provider.urn) };
  return out;
}

/** Plain JSON-like value for Struct.fromJavaScript (no undefined). */
function toStructJs(v: unknown): unknown {
  if (v === undefined) return null;
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(toStructJs);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) out[k] = toStructJs(x);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Policy config: the CLI's ReconcilePolicyPackConfig (pkg/resource/analyzer/config.go)

function normalizeGiven(config: PolicyPackConfig): Record<string, { enforcementLevel?: EnforcementLevel; properties?: Record<string, unknown> }> {
  const out: Record<string, { enforcementLevel?: EnforcementLevel; properties?: Record<string, unknown> }> = {};
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === "string") {
      if (!ENFORCEMENT_LEVELS.includes(v)) throw new Error(`parsing enforcement level for ${JSON.stringify(k)}: ${JSON.stringify(v)} is not a valid enforcement level`);
      out[k] = { enforcementLevel: v };
      continue;
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error(`parsing ${JSON.stringify(k)}: not a valid value; must be a string or object`);
    const { enforcementLevel, ...props } = v;
    if (enforcementLevel !== undefined && !ENFORCEMENT_LEVELS.includes(enforcementLevel)) {
      throw new Error(`parsing enforcement level for ${JSON.stringify(k)}: ${JSON.stringify(enforcementLevel)} is not a valid enforcement level`);
    }
    if (enforcementLevel === undefined && Object.keys(props).length === 0) continue;
    out[k] = { enforcementLevel, properties: Object.keys(props).length ? props : undefined };
  }
  return out;
}

function applyConfig(
  result: Record<string, EffectivePolicyConfig>,
  given: Record<string, { enforcementLevel?: EnforcementLevel; properties?: Record<string, unknown> }>,
): void {
  const all = given["all"]?.enforcementLevel;
  if (all) for (const c of Object.values(result)) c.enforcementLevel = all;
  for (const [policy, g] of Object.entries(given)) {
    // As the CLI: an entry for every given key ("all" included, which the pack ignores).
    const cur = result[policy];
    const enforcementLevel = g.enforcementLevel ?? cur?.enforcementLevel;
    if (!enforcementLevel) throw new Error(`invalid enforcement level "" for ${JSON.stringify(policy)}: the pack has no such policy, give an enforcementLevel`);
    result[policy] = { enforcementLevel, properties: { ...(cur?.properties ?? {}), ...(g.properties ?? {}) } };
  }
}

/** Defaults from each policy's schema, then the pack's initial config, then `config`; validated. */
export function reconcilePolicyConfig(info: AnalyzerInfo, config: PolicyPackConfig): Record<string, EffectivePolicyConfig> {
  const result: Record<string, EffectivePolicyConfig> = {};
  for (const p of info.policies) {
    const properties: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(p.configSchema?.properties ?? {})) {
      if (s && typeof s === "object" && "default" in s) properties[k] = structuredClone(s.default);
    }
    result[p.name] = { enforcementLevel: p.enforcementLevel, properties };
  }
  const initial: Record<string, { enforcementLevel?: EnforcementLevel; properties?: Record<string, unknown> }> = {};
  for (const [k, v] of Object.entries(info.initialConfig)) {
    const { enforcementLevel, ...props } = v;
    initial[k] = { enforcementLevel, properties: Object.keys(props).length ? props : undefined };
  }
  applyConfig(result, initial);
  applyConfig(result, normalizeGiven(config));
  const errors: string[] = [];
  for (const p of info.policies) {
    if (!info.supportsConfig) continue;
    const schema = { type: "object", properties: p.configSchema?.properties ?? {}, required: p.configSchema?.required ?? [] };
    for (const e of validateJsonSchema(schema, result[p.name]?.properties ?? {})) errors.push(`${p.name}: ${e}`);
  }
  if (errors.length) throw new Error(`validating policy config:\n  ${errors.sort().join("\n  ")}`);
  return result;
}

const ajv = new Ajv({ allErrors: true, strict: false });

/** Validates a value against a JSON Schema (the CLI uses gojsonschema); one message per problem. */
export function validateJsonSchema(schema: object, value: unknown): string[] {
  const validate = ajv.compile(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => {
    const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "(root)";
    const extra = e.keyword === "additionalProperties" ? ` (${(e.params as { additionalProperty?: string }).additionalProperty})` : "";
    return `${where}: ${e.message}${extra}`;
  });
}
