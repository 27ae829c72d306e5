/**
 * Evaluates the Pulumi program (index.ts) under Pulumi's mock runtime, with a
 * stack's config, and records every registered resource with its inputs,
 * parent and dependencies — no cloud, no credentials, no Pulumi CLI.
 *
 * Used by the tests, and by the offline preview and the lab. Secrets that a
 * real stack takes from its ESC environment are replaced by placeholders
 * marked secret, so the program evaluates without them and nothing secret is
 * ever printed.
 */
import * as fs from "fs";
import * as path from "path";
import { readYaml } from "../formats/yaml";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, SECRET_KEYS } from "../stack/readStack";
import { CONFIG_ROOT } from "../stack/config/load";
import { FLEET_FILE_KEY, readFleetSource } from "../stack/config/source";
import { PART_KEY, stackNameOf } from "../stack/config/part";
import { COMMAND_TYPE, COMPUTE_HOST_TYPE } from "../shipped/naming";
import { PROJECT_DIR } from "../stack/projectDir";

export { PROJECT_DIR };

/**
 * The program a tool evaluates in its own process: bin/index.js when the tools run compiled (the
 * npm scripts; Pulumi runs the same file), index.ts under ts-node or jest.
 */
export const PROGRAM_ENTRY = __filename.endsWith(".js") ? path.join(PROJECT_DIR, "bin", "index.js") : path.join(PROJECT_DIR, "index");

export interface RegisteredResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent: string;
  dependencies: string[];
  /** Outputs the resource marks secret (additionalSecretOutputs). */
  additionalSecretOutputs: string[];
  /** Inputs as sent to the engine: secrets as {sig, value} objects, unknowns as the UNKNOWN marker. */
  inputs: Record<string, unknown>;
}

export interface Evaluation {
  stack: string;
  preview: boolean;
  resources: RegisteredResource[];
  /** The program's exports (stack outputs), resolved; unknown values (preview) are undefined. */
  outputs?: Record<string, unknown>;
  /** Set when the program failed (config errors included): its message, without a stack trace. */
  error?: string;
}

function pemShaped(label: string, body: string): string {
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** Placeholder secret values for offline evaluation (well-formed, obviously fake). */
export const PLACEHOLDER_SECRETS: Record<keyof typeof SECRET_KEYS, string> = {
  // Shaped like an OpenSSH key so the program's format check passes; its body is the
  // base64 of "offline-placeholder-not-a-key" — no key at all.
  sshPrivateKey: pemShaped("OPENSSH PRIVATE KEY", "b2ZmbGluZS1wbGFjZWhvbGRlci1ub3QtYS1rZXk="),
  rabbitmqPassword: "offline-placeholder-password",
  rabbitmqErlangCookie: "OFFLINEPLACEHOLDERCOOKIE",
  novaServicePassword: "offline-placeholder-nova",
  neutronServicePassword: "offline-placeholder-neutron",
  metadataProxySharedSecret: "offline-placeholder-metadata",
};

export interface StackFile {
  /** Full config keys ("vdi-fleet:fleet") to values as Pulumi passes them (JSON for objects). */
  config: Record<string, string>;
  secretKeys: string[];
  /** The project directory the stack file is in (a fleet file is read relative to it). */
  dir?: string;
}

/** The fleet mapping of a stack file: inline, or read from its fleet file. Throws naming the problem. */
export function fleetOf(sf: StackFile): Record<string, unknown> {
  const src = readFleetSource((k) => sf.config[k], sf.dir ?? PROJECT_DIR, "the stack file");
  if (src.problems.length || !src.raw || typeof src.raw !== "object") throw new Error(src.problems.map((p) => `${p.path}: ${p.message}`).join("; ") || "the fleet config is not a mapping");
  return src.raw as Record<string, unknown>;
}

/** Stacks a stack file references (a cell stack's region stack), by stack name (the last segment). */
export function referencedStacks(sf: StackFile): string[] {
  const text = sf.config[PART_KEY];
  if (!text) return [];
  try {
    const part = JSON.parse(text) as { kind?: string; regionStack?: unknown };
    return part.kind === "cell" && typeof part.regionStack === "string" ? [stackNameOf(part.regionStack)] : [];
  } catch {
    return [];
  }
}

/** Reads Pulumi.<stack>.yaml. `secure:` values are not decrypted: they become placeholders. */
export function readStackFile(stack: string, dir = PROJECT_DIR): StackFile {
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`no stack file ${path.relative(process.cwd(), file) || file}: stacks here are ${listStacks(dir).join(", ")}`);
  const shown = path.relative(process.cwd(), file) || file;
  const read = readYaml(shown, fs.readFileSync(file, "utf8"));
  if (read.error) throw new Error(`${shown} is not valid YAML: ${read.error.message.trimEnd()}`);
  const doc = (read.value ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    const key = k.includes(":") ? k : `${PROJECT}:${k}`;
    if (v && typeof v === "object" && !Array.isArray(v) && "secure" in (v as object) && Object.keys(v as object).length === 1) {
      secretKeys.push(key);
      config[key] = "offline-placeholder";
      continue;
    }
    config[key] = typeof v === "string" ? v : JSON.stringify(v);
  }
  // Secrets a real stack gets from ESC: placeholders, marked secret.
  for (const [k, v] of Object.entries(PLACEHOLDER_SECRETS)) {
    const key = `${PROJECT}:${k}`;
    if (!(key in config) || secretKeys.includes(key)) {
      config[key] = v;
      if (!secretKeys.includes(key)) secretKeys.push(key);
    }
  }
  return { config, secretKeys, dir };
}

export function listStacks(dir = PROJECT_DIR): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();
}

/**
 * Sets a value in the fleet config by a dotted path ("cells.0.overcommit.ramAllocationRatio");
 * undefined deletes. A fleet file is inlined first (the change is the caller's, not the file's).
 */
export function withFleetChange(sf: StackFile, dotted: string, value: unknown): StackFile {
  const key = CONFIG_ROOT;
  const fleet = JSON.parse(JSON.stringify(fleetOf(sf)));
  const parts = dotted.split(".");
  let cur = fleet;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === undefined) cur[p] = /^\d+$/.test(p) ? [] : {};
    cur = cur[p];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  const config: Record<string, string> = { ...sf.config, [key]: JSON.stringify(fleet) };
  delete config[FLEET_FILE_KEY];
  return { ...sf, config };
}

function unknownsFor(type: string, name: string, inputs: Record<string, unknown>, preview: boolean): Record<string, unknown> {
  // In preview, outputs of new resources are unknown (as `pulumi preview`); in update mode, give ids.
  if (preview) return {};
  return { ...inputs, id: `${name}-id`, ...(type === COMMAND_TYPE ? { stdout: "vdi-apply: host=mock changes=0 restarts=0", stderr: "" } : {}) };
}

/**
 * Runs the program once. `load` must execute index.ts afresh (jest:
 * `() => jest.isolateModules(() => require("../index"))`; a CLI: a require
 * after deleting index.ts from the require cache).
 */
export async function evaluate(opts: {
  stack: string;
  stackFile: StackFile;
  preview: boolean;
  /** Runs index.ts afresh and returns its module (its exports become the evaluation's outputs). */
  load: () => unknown;
  /** Called with the number of resources registered so far, at most every 250 ms. */
  onProgress?: (registered: number) => void;
  /**
   * Outputs of the stacks the program references (StackReference), by stack name (the
   * last segment of the referenced name). A reference to a stack not given here fails.
   */
  stackReferences?: Record<string, Record<string, unknown>>;
}): Promise<Evaluation> {
  const resources: RegisteredResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type === "pulumi:pulumi:StackReference") {
          const ref = String(args.inputs.name ?? args.name);
          const outputs = opts.stackReferences?.[stackNameOf(ref)];
          if (!outputs) throw new Error(`stack reference ${ref}: no outputs of stack ${stackNameOf(ref)} were given to the offline evaluation (its Pulumi.${stackNameOf(ref)}.yaml is evaluated first)`);
          return { id: ref, state: { name: ref, outputs, secretOutputNames: [] } };
        }
        return { id: opts.preview ? undefined : `${args.name}-id`, state: unknownsFor(args.type, args.name, args.inputs, opts.preview) };
      },
      call: (args) => {
        throw new Error(`unexpected invoke ${args.token}: the program must not call data sources (they need a cloud)`);
      },
    },
    PROJECT,
    opts.stack,
    opts.preview,
    // The organization offline: stack references name "<org>/<project>/<stack>"; the lookup uses the stack.
    "organization",
  );
  pulumi.runtime.setAllConfig(opts.stackFile.config, opts.stackFile.secretKeys);
  const settings = require("@pulumi/pulumi/runtime/settings") as {
    getMonitor: () => { registerResource: (req: any, cb: (err: unknown, resp: any) => void) => Promise<void> };
    waitForRPCs: () => Promise<void>;
  };
  const monitor = settings.getMonitor();
  let lastProgress = 0;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: (err: unknown, resp: any) => void) => {
    const rec: RegisteredResource = {
      urn: "",
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList?.() ?? [],
      inputs: req.getObject()?.toJavaScript() ?? {},
    };
    resources.push(rec);
    if (opts.onProgress && Date.now() - lastProgress > 250) {
      lastProgress = Date.now();
      opts.onProgress(resources.length);
    }
    return original(req, (err, resp) => {
      if (resp) rec.urn = resp.getUrn();
      cb(err, resp);
    });
  };
  // Each evaluation loads a fresh SDK copy (jest isolation) that adds a process exit listener.
  process.setMaxListeners(0);
  let error: string | undefined;
  let mod: unknown;
  // The first error ends the evaluation, as it ends `pulumi up`: registrations that wait for a
  // failed resource (dependsOn) would otherwise keep waitForRPCs pending for ever.
  let failed: () => void = () => undefined;
  const errored = new Promise<void>((resolve) => (failed = resolve));
  const onUnhandled = (e: unknown) => {
    error ??= e instanceof Error ? e.message : String(e);
    failed();
  };
  process.on("unhandledRejection", onUnhandled);
  const settle = () => Promise.race([settings.waitForRPCs(), errored]);
  try {
    mod = opts.load();
    // A program that exports a function is called, as Pulumi does; its result is the stack outputs.
    if (typeof mod === "function") mod = await (mod as () => unknown)();
    await settle();
    // Outputs resolve in later ticks; wait until registrations stop arriving.
    let seen = -1;
    for (let i = 0; i < 1000 && seen !== resources.length && !error; i++) {
      seen = resources.length;
      await new Promise((r) => setImmediate(r));
      await settle();
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  if (error) {
    // Registrations that waited for the failed resource stay pending; the SDK would list them
    // as "promises still active" at process exit, after the real message. The evaluation is over.
    (require("@pulumi/pulumi/runtime/state") as { getStore: () => { leakCandidates?: Set<unknown> } }).getStore().leakCandidates?.clear();
  }
  let outputs: Record<string, unknown> | undefined;
  if (!error && mod && typeof mod === "object") {
    outputs = {};
    for (const [k, v] of Object.entries(mod)) outputs[k] = await resolveOutput(v);
  }
  process.off("unhandledRejection", onUnhandled);
  return { stack: opts.stack, preview: opts.preview, resources, error, outputs };
}

/** A stack output's value: Outputs resolved (unknown → undefined), recursively. */
async function resolveOutput(v: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(v)) return resolveOutput(await (v as unknown as { promise(): Promise<unknown> }).promise());
  if (Array.isArray(v)) return Promise.all(v.map(resolveOutput));
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await resolveOutput(x);
    return out;
  }
  return typeof v === "function" ? undefined : v;
}

/** The most resources any compute host costs: its component plus its children (linear in resources). */
export function maxResourcesPerComputeHost(resources: RegisteredResource[]): number {
  const children = new Map<string, number>();
  for (const r of resources) if (r.parent) children.set(r.parent, (children.get(r.parent) ?? 0) + 1);
  let max = 0;
  for (const r of resources) if (r.type === COMPUTE_HOST_TYPE) max = Math.max(max, 1 + (children.get(r.urn) ?? 0));
  return max;
}
