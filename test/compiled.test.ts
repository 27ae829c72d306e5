/**
 * The compiled program (bin/, built by `npm ci` and by `npm test` before jest):
 * Pulumi runs it (Pulumi.yaml `main: bin/`), the npm scripts run it, it refuses
 * to run older than its sources, and it formats stack traces the fast way.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { PROJECT_DIR } from "../stack/projectDir";
import { changedSinceBuild, staleBuildProblem } from "../stack/freshBuild";
import { nativeStackTraces, nodeSourceMaps } from "../stack/stackTraces";
import { PolicyPackRunner } from "../review/analyzer";
import { copyProject, removeProjects } from "./helpers/project";

const errorClass = Error as { prepareStackTrace?: unknown };

describe("Pulumi runs the compiled program", () => {
  test("Pulumi.yaml points at bin/ with Pulumi's own TypeScript support off, and bin/ is built from every source", () => {
    const project = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8"));
    expect(project.main).toBe("bin/");
    expect(project.runtime).toMatchObject({ name: "nodejs", options: { typescript: false } });
    // npm ci builds it (prepare); npm test built it before jest started.
    const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8"));
    expect(pkg.scripts.prepare).toBe("tsc -p tsconfig.build.json");
    expect(fs.existsSync(path.join(PROJECT_DIR, "bin", "index.js"))).toBe(true);
    expect(changedSinceBuild(PROJECT_DIR)).toEqual([]);
  });

  test("npm run plan runs the compiled program and lists the stack", () => {
    const r = spawnSync("npm", ["run", "-s", "plan", "--", "--stack", "pr"], { cwd: PROJECT_DIR, encoding: "utf8", timeout: 240_000, env: { ...process.env, FORCE_COLOR: "0" } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/vdi:compute:Host/);
  }, 240_000);
});

test("npm run -s preview -- --format json writes JSON alone on stdout", () => {
  const r = spawnSync("npm", ["run", "-s", "preview", "--", "--stack", "pr", "--format", "json"], { cwd: PROJECT_DIR, encoding: "utf8", timeout: 240_000, env: { ...process.env, FORCE_COLOR: "0" } });
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ schemaVersion: 1, stack: "pr" });
  expect(r.stderr).toMatch(/^✔ pr: /m);
}, 240_000);

describe("the policy pack runs compiled when the build is current, from its sources otherwise", () => {
  let dir: string;
  beforeAll(() => {
    dir = copyProject();
  });
  afterAll(() => removeProjects());
  const packEntry = (d: string): string => (require(path.join(PROJECT_DIR, "policy", "entry.js")) as { packEntry: (dir: string) => string }).packEntry(d);

  test("this checkout (built by npm test) runs bin/policy/pack.js; an edited policy source runs pack.ts, and the edit is what judges", async () => {
    expect(packEntry(path.join(PROJECT_DIR, "policy"))).toBe(path.join(PROJECT_DIR, "bin", "policy", "pack.js"));
    expect(packEntry(path.join(dir, "policy"))).toBe(path.join(dir, "bin", "policy", "pack.js"));
    const file = path.join(dir, "policy", "policies", "raidHotSpare.ts");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/description: "[^"]*"/, 'description: "edited after the build"'));
    expect(packEntry(path.join(dir, "policy"))).toBe(path.join(dir, "policy", "pack.ts"));
    const runner = await PolicyPackRunner.start({ packDir: path.join(dir, "policy") });
    try {
      expect((await runner.info()).policies.find((p) => p.name === "raid-hot-spare")?.description).toBe("edited after the build");
    } finally {
      await runner.stop();
    }
  }, 120_000);
});

describe("a build older than its sources", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-fresh-"));
    fs.writeFileSync(path.join(dir, "tsconfig.build.json"), JSON.stringify({ include: ["index.ts", "components/**/*.ts"] }));
    fs.mkdirSync(path.join(dir, "components", "sub"), { recursive: true });
    fs.mkdirSync(path.join(dir, "bin"));
    for (const f of ["index.ts", "components/cell.ts", "components/sub/host.ts", "components/notes.md"]) fs.writeFileSync(path.join(dir, f), "");
    fs.writeFileSync(path.join(dir, "bin", ".tsbuildinfo"), "{}");
    const at = (f: string, s: number) => fs.utimesSync(path.join(dir, f), s, s);
    for (const f of ["index.ts", "components/cell.ts", "components/sub/host.ts", "components/notes.md"]) at(f, 1_000);
    at("bin/.tsbuildinfo", 2_000);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("is fresh when no source is newer than the build", () => {
    expect(staleBuildProblem(dir)).toBeUndefined();
  });

  test("names every newer source (only the build's sources) and the fix", () => {
    fs.utimesSync(path.join(dir, "components/sub/host.ts"), 3_000, 3_000);
    fs.utimesSync(path.join(dir, "components/notes.md"), 3_000, 3_000);
    expect(changedSinceBuild(dir)).toEqual([path.join("components", "sub", "host.ts")]);
    expect(staleBuildProblem(dir)).toBe("the compiled program in bin/ is older than components/sub/host.ts. Fix: run npm run build (pulumi runs bin/, Pulumi.yaml main), then run the command again.");
  });

  test("without a build every source is newer", () => {
    fs.rmSync(path.join(dir, "bin"), { recursive: true });
    expect(changedSinceBuild(dir).sort()).toEqual(["components/cell.ts", "components/sub/host.ts", "index.ts"].map((f) => path.join(...f.split("/"))));
  });
});

describe("stack traces of the compiled program", () => {
  // In a plain Node process, as Pulumi runs the program (jest formats traces its own way).
  // Each pair of traces is taken at the same places, so they differ only in how they are formatted.
  const probe = `
    const { formatStack, nativeStackTraces } = require("./bin/stack/stackTraces.js");
    const at = (m) => new TypeError(m).stack;
    const deep = async () => { await null; return at("async"); };
    const outer = async () => await deep();
    function debuggablePromise() { return new Error().stack; }
    const sample = async () => [at("boom"), await outer(), debuggablePromise()];
    const modes = { v8: () => undefined, ours: () => (Error.prepareStackTrace = formatStack), fast: () => nativeStackTraces(true) };
    (async () => {
      const out = {};
      for (const [name, set] of Object.entries(modes)) {
        set();
        await null; // every sample from the same (shallow) stack
        out[name] = await sample();
      }
      console.log(JSON.stringify(out));
    })();`;

  test("formatStack writes what V8 writes; the SDK's leak-debugging traces are not formatted, every other trace is, as V8 does", () => {
    const r = spawnSync(process.execPath, ["-e", probe], { cwd: PROJECT_DIR, encoding: "utf8" });
    expect(r.stderr).toBe("");
    const { v8, ours, fast } = JSON.parse(r.stdout) as Record<string, string[]>;
    expect(v8[0]).toMatch(/^TypeError: boom\n {4}at at \(/);
    expect(v8[1]).toMatch(/\n {4}at async outer \(/);
    expect(ours).toEqual(v8);
    expect(v8[2]).toMatch(/^Error\n {4}at debuggablePromise /);
    expect(fast).toEqual([v8[0], v8[1], ""]);
  });

  test("Node's own source maps, when asked for, format every trace", () => {
    expect(nodeSourceMaps([], "--max-old-space-size=4096 --enable-source-maps")).toBe(true);
    expect(nodeSourceMaps(["--enable-source-maps"], "")).toBe(true);
    expect(nodeSourceMaps([], "--enable-source-maps-not")).toBe(false);
  });

  test("under ts-node or jest nothing is changed", () => {
    const saved = errorClass.prepareStackTrace;
    const mine = () => "mine";
    errorClass.prepareStackTrace = mine;
    try {
      nativeStackTraces();
      expect(errorClass.prepareStackTrace).toBe(mine);
    } finally {
      errorClass.prepareStackTrace = saved;
    }
  });
});
