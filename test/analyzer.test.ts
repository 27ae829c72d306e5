/**
 * review/analyzer.ts against a throwaway policy pack generated here: started as
 * the Pulumi CLI starts a pack, driven over the Analyzer gRPC protocol.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PolicyPackRunner, reconcilePolicyConfig, toAnalyzerWire, type AnalyzerInfo, type AnalyzerResource } from "../review/analyzer";
import { OUTPUT_SIG, RESOURCE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN } from "../formats/pulumiWire";

const REPO = path.join(__dirname, "..");
const STACK_URN = "urn:pulumi:dev::vdi-fleet::pulumi:pulumi:Stack::vdi-fleet-dev";

const PACK_INDEX = `
import * as pulumi from "@pulumi/pulumi";
import { PolicyPack, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

const noBad: ResourceValidationPolicy = {
  name: "no-bad",
  description: "Resources must not be bad.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.props.echo) {
      console.log("seen " + JSON.stringify(args.props.echo));
      pulumi.log.warn("warned " + args.name);
      reportViolation("opts " + JSON.stringify(args.opts));
      const ctx = {
        tags: Object.fromEntries(args.stackTags),
        x: new pulumi.Config("vdi-fleet").get("x") ?? null,
        project: pulumi.getProject(),
        stack: pulumi.getStack(),
        dryRun: pulumi.runtime.isDryRun(),
      };
      reportViolation("ctx " + JSON.stringify(ctx));
    }
    if (args.props.bad === true) reportViolation(args.name + " is bad");
  },
};

const tooManyBad: StackValidationPolicy = {
  name: "too-many-bad",
  description: "At most 2 resources may be bad.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const bad = args.resources.filter((r) => r.props.bad === true);
    if (bad.length > 2) reportViolation(bad.length + " resources are bad");
    for (const r of args.resources) {
      if (r.props.checkLinks) reportViolation("links " + JSON.stringify({ parent: r.parent?.urn ?? null, deps: r.dependencies.map((d) => d.urn) }), r.urn);
    }
  },
};

const namePrefix: ResourceValidationPolicy = {
  name: "name-prefix",
  description: "Resource names start with the configured prefix.",
  enforcementLevel: "advisory",
  configSchema: { properties: { prefix: { type: "string", default: "ok-" } } },
  validateResource: (args, reportViolation) => {
    const prefix = args.getConfig<{ prefix: string }>().prefix;
    if (!args.name.startsWith(prefix)) reportViolation(args.name + " does not start with " + JSON.stringify(prefix));
  },
};

new PolicyPack("testpack", { policies: [noBad, tooManyBad, namePrefix] });
`;

/** Writes a policy pack into a fresh temp dir, its node_modules a link to the repo's. */
function writePack(index: string, name = "testpack", main = "index.ts"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-policy-pack-"));
  fs.writeFileSync(path.join(dir, "PulumiPolicy.yaml"), "runtime: nodejs\ndescription: throwaway pack for the analyzer client tests\n");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, version: "0.0.1", main }, null, 2));
  fs.writeFileSync(path.join(dir, main), index);
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}

/** Lines arrive on the pack's stdout/stderr independently of the gRPC answer: poll. */
async function waitForLog(pred: (l: PolicyPackRunner["logs"][number]) => boolean): Promise<void> {
  for (let i = 0; i < 100 && !runner.logs.some(pred); i++) await new Promise((r) => setTimeout(r, 20));
  expect(runner.logs.find(pred)).toBeDefined();
}

/** The message a policy reported with a prefix ("opts ", "ctx "), parsed. */
function reported(ds: { message: string }[], prefix: string): any {
  const m = ds.map((d) => d.message.split("\n")[1] ?? "").find((x) => x.startsWith(prefix));
  if (!m) throw new Error(`no "${prefix}" message in ${JSON.stringify(ds)}`);
  return JSON.parse(m.slice(prefix.length));
}

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

function res(name: string, inputs: Record<string, unknown>, extra: Partial<AnalyzerResource> = {}): AnalyzerResource {
  return {
    urn: `urn:pulumi:dev::vdi-fleet::test:index:Thing::${name}`,
    type: "test:index:Thing",
    name,
    custom: true,
    parent: STACK_URN,
    dependencies: [],
    additionalSecretOutputs: [],
    inputs,
    ...extra,
  };
}

const dirs: string[] = [];
let packDir: string;
let runner: PolicyPackRunner;
let info: AnalyzerInfo;

beforeAll(async () => {
  packDir = writePack(PACK_INDEX);
  dirs.push(packDir);
  runner = await PolicyPackRunner.start({ packDir, stack: { stack: "dev", config: { "vdi-fleet:x": "42" }, tags: { env: "test" } } });
  info = await runner.info();
});

afterAll(async () => {
  await runner?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

afterEach(async () => {
  // Each test starts from the pack's defaults, as a fresh CLI run would.
  await runner.configure({});
});

test("GetAnalyzerInfo lists the policies, sorted, with types, levels and config schema", () => {
  expect(info.name).toBe("testpack");
  expect(info.version).toBe("0.0.1");
  expect(info.supportsConfig).toBe(true);
  expect(info.policies.map((p) => [p.name, p.policyType, p.enforcementLevel])).toEqual([
    ["name-prefix", "resource", "advisory"],
    ["no-bad", "resource", "mandatory"],
    ["too-many-bad", "stack", "mandatory"],
  ]);
  expect(info.policies[0].configSchema).toEqual({ properties: { prefix: { type: "string", default: "ok-" } } });
});

test("start: Handshake is unimplemented by @pulumi/policy (tolerated), ConfigureStack is implemented", () => {
  expect(runner.supports).toEqual({ handshake: false, configureStack: true });
  expect(runner.logs.filter((l) => l.source === "runner")).toEqual([]);
});

test("the stack context reaches the policies: ConfigureStack tags, PULUMI_CONFIG, project/stack/dry-run env", async () => {
  const ds = await runner.analyze(res("ok-ctx", { echo: true }));
  expect(reported(ds, "ctx ")).toEqual({ tags: { env: "test" }, x: "42", project: "vdi-fleet", stack: "dev", dryRun: true });
});

test("Analyze: a bad resource gets the mandatory violation, with policy name and urn", async () => {
  const r = res("ok-a", { bad: true });
  expect(await runner.analyze(r)).toEqual([
    {
      policyName: "no-bad",
      policyPackName: "testpack",
      policyPackVersion: "0.0.1",
      description: "Resources must not be bad.",
      message: "Resources must not be bad.\nok-a is bad",
      enforcementLevel: "mandatory",
      urn: r.urn,
    },
  ]);
  expect(await runner.analyze(res("ok-b", { bad: false }))).toEqual([]);
});

test("Analyze: an unknown value the policy reads gives the SDK's advisory, not a pass or a crash", async () => {
  const ds = await runner.analyze(res("ok-u", { bad: UNKNOWN }));
  expect(ds).toHaveLength(1);
  expect(ds[0]).toMatchObject({ policyName: "no-bad", enforcementLevel: "advisory" });
  expect(ds[0].message).toBe("can't run policy 'no-bad' from policy pack 'testpack@v0.0.1' during preview: string value at .bad can't be known during preview");
});

test("Analyze: a secret is seen by the policy as its plain value", async () => {
  const ds = await runner.analyze(res("ok-s", { bad: secret(true) }));
  expect(ds.map((d) => [d.policyName, d.enforcementLevel, d.message])).toEqual([["no-bad", "mandatory", "Resources must not be bad.\nok-s is bad"]]);
  // A nested secret too, and what the policy reads is the value, not the wrapper.
  await runner.analyze(res("ok-e", { echo: { nested: secret("s3cr3t") } }));
  await waitForLog((l) => l.source === "stdout" && l.message === 'seen {"nested":"s3cr3t"}');
});

test("Analyze: every request carries the resource options, as the engine sends them", async () => {
  const ds = await runner.analyze(res("ok-o", { echo: 1 }, { additionalSecretOutputs: ["password"], protect: true, ignoreChanges: ["tags"] }));
  expect(reported(ds, "opts ")).toEqual({
    protect: true,
    ignoreChanges: ["tags"],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: ["password"],
    parent: STACK_URN,
  });
});

test("policy logs: pulumi.log goes to the pack's stderr (the engine address is not used by the nodejs runtime)", async () => {
  await runner.analyze(res("ok-l", { echo: "x" }));
  await waitForLog((l) => l.source === "stderr" && l.message === "warning: [runtime] warned ok-l");
  expect(runner.logs.filter((l) => l.source === "engine")).toEqual([]);
});

test("AnalyzeStack returns the stack violation; resources carry parent and dependencies", async () => {
  const rs = [res("ok-1", { bad: true }), res("ok-2", { bad: secret(true) }), res("ok-3", { bad: false })];
  expect(await runner.analyzeStack(rs.slice(0, 2))).toEqual([]);
  const ds = await runner.analyzeStack([...rs, res("ok-4", { bad: true })]);
  expect(ds).toEqual([
    expect.objectContaining({ policyName: "too-many-bad", enforcementLevel: "mandatory", urn: "", message: "At most 2 resources may be bad.\n3 resources are bad" }),
  ]);

  const parent = res("ok-p", {}, { parent: STACK_URN });
  const child = res("ok-c", { checkLinks: true }, { parent: parent.urn, dependencies: [rs[2].urn] });
  const links = await runner.analyzeStack([rs[2], parent, child]);
  expect(links).toHaveLength(1);
  expect(links[0].urn).toBe(child.urn);
  expect(JSON.parse(links[0].message.split("\nlinks ")[1])).toEqual({ parent: parent.urn, deps: [rs[2].urn] });
});

test("config: schema defaults are applied at start, as the CLI does", async () => {
  expect(runner.effectiveConfig["name-prefix"]).toEqual({ enforcementLevel: "advisory", properties: { prefix: "ok-" } });
  const ds = await runner.analyze(res("zzz", {}));
  expect(ds.map((d) => d.message)).toEqual(['Resource names start with the configured prefix.\nzzz does not start with "ok-"']);
});

test("Configure changes an enforcement level, and properties", async () => {
  await runner.configure({ "no-bad": { enforcementLevel: "advisory" } });
  expect((await runner.analyze(res("ok-a", { bad: true }))).map((d) => [d.policyName, d.enforcementLevel])).toEqual([["no-bad", "advisory"]]);

  await runner.configure({ "no-bad": "disabled", "name-prefix": { prefix: "zz" } });
  expect(await runner.analyze(res("zzz", { bad: true }))).toEqual([]);
  expect((await runner.analyze(res("ok-a", {}))).map((d) => d.message)).toEqual(['Resource names start with the configured prefix.\nok-a does not start with "zz"']);

  await runner.configure({ all: "advisory" });
  expect((await runner.analyzeStack([1, 2, 3].map((i) => res(`ok-${i}`, { bad: true })))).map((d) => d.enforcementLevel)).toEqual(["advisory"]);

  // Each Configure starts from the defaults again.
  await runner.configure({});
  expect((await runner.analyze(res("ok-a", { bad: true }))).map((d) => d.enforcementLevel)).toEqual(["mandatory"]);
});

test("Configure validates against the policy's schema, as the CLI does", async () => {
  await expect(runner.configure({ "name-prefix": { prefix: 3 } })).rejects.toThrow(/name-prefix: prefix: must be string/);
  await expect(runner.configure({ "no-bad": "sometimes" as never })).rejects.toThrow(/not a valid enforcement level/);
  await expect(runner.configure({ "no-such-policy": { x: 1 } })).rejects.toThrow(/invalid enforcement level/);
});

test("reconcilePolicyConfig: defaults, then the pack's initial config, then the given config", () => {
  const i: AnalyzerInfo = {
    ...info,
    initialConfig: { "no-bad": { enforcementLevel: "advisory", extra: 1 } },
  };
  expect(reconcilePolicyConfig(i, {})["no-bad"]).toEqual({ enforcementLevel: "advisory", properties: { extra: 1 } });
  expect(reconcilePolicyConfig(i, { "no-bad": "mandatory" })["no-bad"]).toEqual({ enforcementLevel: "mandatory", properties: { extra: 1 } });
});

test("analyzeAll: Analyze for every resource, components first (as the engine: a parent before its children), then AnalyzeStack; sorted", async () => {
  const component = res("zz-component", { bad: true }, { custom: false, type: "vdi:index:Component" });
  const rs = [res("ok-b", { bad: true }), component, res("ok-a", { bad: true }), res("zz-c", { bad: true })];
  const ds = await runner.analyzeAll(rs, { concurrency: 2 });
  expect(ds.map((d) => [d.urn.split("::").pop(), d.policyName])).toEqual([
    ["", "too-many-bad"],
    ["ok-a", "no-bad"],
    ["ok-b", "no-bad"],
    ["zz-c", "name-prefix"],
    ["zz-c", "no-bad"],
    ["zz-component", "name-prefix"],
    ["zz-component", "no-bad"],
  ]);
  // include "custom": the custom resources alone.
  const custom = await runner.analyzeAll(rs, { include: "custom" });
  expect(custom.filter((d) => d.urn === component.urn)).toEqual([]);
  expect(custom).toHaveLength(5);
});

test("wire form: resource references and output values are downgraded as the engine does, internal keys dropped", () => {
  const ref = (urn: string, id?: string) => ({ [SIG_KEY]: RESOURCE_SIG, urn, ...(id === undefined ? {} : { id }) });
  const out = (v: Record<string, unknown>) => ({ [SIG_KEY]: OUTPUT_SIG, ...v });
  expect(
    toAnalyzerWire({
      custom: ref("urn:a", "i-1"),
      pending: ref("urn:b", ""),
      component: ref("urn:c"),
      known: out({ value: 1 }),
      unknown: out({}),
      secretOut: out({ value: "x", secret: true }),
      __defaults: ["name"],
      list: [undefined, secret(UNKNOWN)],
    }),
  ).toEqual({
    custom: "i-1",
    pending: UNKNOWN,
    component: "urn:c",
    known: 1,
    unknown: UNKNOWN,
    secretOut: secret("x"),
    list: [null, secret(UNKNOWN)],
  });
});

test("timings: 1,000 Analyze calls and AnalyzeStack with 1,000 resources", async () => {
  const rs = Array.from({ length: 1000 }, (_, i) => res(`ok-${String(i).padStart(4, "0")}`, { bad: i % 100 === 0, size: i, tags: { a: "b" }, password: secret("p") }));
  const time = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t = Date.now();
    const v = await f();
    return [v, Date.now() - t];
  };
  const analyzeOnly = (concurrency: number) => time(() => runner.analyzeAll(rs.map((r) => ({ ...r, custom: true })), { concurrency }));
  const [, serialMs] = await analyzeOnly(1);
  const [ds, parallelMs] = await analyzeOnly(16);
  const [stack, stackMs] = await time(() => runner.analyzeStack(rs));
  process.stdout.write(
    `analyzer timings: pack start ${runner.startTimings.portMs} ms to port, ${runner.startTimings.readyMs} ms ready; ` +
      `analyzeAll(1,000) ${serialMs} ms at 1 in flight, ${parallelMs} ms at 16 (each incl. one AnalyzeStack); AnalyzeStack(1,000) ${stackMs} ms\n`,
  );
  expect(ds.filter((d) => d.policyName === "no-bad")).toHaveLength(10);
  expect(stack.map((d) => d.message)).toEqual(["At most 2 resources may be bad.\n10 resources are bad"]);
  // Times are printed, not asserted: a loaded machine is not a defect (npm run bench judges speed).
});

test("a pack's initial config without an enforcement level: read as advisory, as the CLI reads it", async () => {
  const dir = writePack(PACK_INDEX.replace('{ policies: [noBad, tooManyBad, namePrefix] }', '{ policies: [noBad, tooManyBad, namePrefix] }, { "no-bad": { note: "x" } }'), "initpack");
  dirs.push(dir);
  const r = await PolicyPackRunner.start({ packDir: dir });
  try {
    expect((await r.info()).initialConfig).toEqual({ "no-bad": { enforcementLevel: "advisory", note: "x" } });
    expect(r.effectiveConfig["no-bad"]).toEqual({ enforcementLevel: "advisory", properties: { note: "x" } });
    expect((await r.analyze(res("ok-a", { bad: true }))).map((d) => d.enforcementLevel)).toEqual(["advisory"]);
  } finally {
    await r.stop();
  }
});

async function startError(dir: string, timeoutMs: number): Promise<Error> {
  const err = await PolicyPackRunner.start({ packDir: dir, timeoutMs }).then(
    (r) => r.stop().then(() => new Error("started")),
    (e: Error) => e,
  );
  const pid = Number(/\(pid (\d+)\)/.exec(err.message)?.[1]);
  expect(pid).toBeGreaterThan(0);
  expect(alive(pid)).toBe(false);
  return err;
}

test("a pack that fails to load: a clear error with its stderr, and no process left", async () => {
  const bad = writePack(`import { PolicyPack } from "@pulumi/policy";\nthrow new Error("boom at load");\nnew PolicyPack("x", { policies: [] });\n`, "badpack");
  dirs.push(bad);
  const err = await startError(bad, 30_000);
  expect(err.message).toMatch(/exited \(exit code \d+\) before printing its port/);
  expect(err.message).toMatch(/boom at load/);
});

test("a pack that never prints a port: the timeout, and no process left", async () => {
  // Plain JavaScript, so its stderr line comes right after Node starts, without a TypeScript
  // compile first: a loaded machine then still prints it well inside the timeout.
  const slow = writePack(`console.error("thinking");\nsetInterval(() => {}, 1000);\n`, "slowpack", "index.js");
  dirs.push(slow);
  const err = await startError(slow, 8000);
  expect(err.message).toMatch(/did not print its port within 8000 ms/);
  expect(err.message).toMatch(/thinking/);
});

test("stop() kills the pack by PID, and is idempotent", async () => {
  const r = await PolicyPackRunner.start({ packDir });
  const pid = r.pid!;
  expect(alive(pid)).toBe(true);
  expect(process.listeners("exit").length).toBeGreaterThan(0);
  const before = process.listenerCount("exit");
  await Promise.all([r.stop(), r.stop()]);
  await r.stop();
  expect(alive(pid)).toBe(false);
  expect(process.listenerCount("exit")).toBe(before - 1);
  await expect(r.analyze(res("ok-a", {}))).rejects.toThrow(/stopped/);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
