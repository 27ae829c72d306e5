/**
 * The policy pack is self-contained: `npm pack` of policy/ (what `pulumi policy
 * publish` runs) gives a tarball that, extracted and installed in an empty
 * directory as the Pulumi CLI installs published packs, runs through
 * @pulumi/pulumi/cmd/run-policy-pack and gives exactly the verdicts the
 * pack in this repository gives.
 *
 * The install resolves the pack's declared dependencies from the npm cache,
 * asking the npm registry for what it lacks (npm install --prefer-offline).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PolicyPackRunner, type PolicyDiagnostic } from "../review/analyzer";
import type { Evaluation } from "../review/evaluate";
import { copyProject, removeProjects } from "./helpers/project";
import { runStack } from "./helpers/program";

jest.setTimeout(600_000);

let tmp: string;
let installed: string;
let tarball: string[];

beforeAll(() => {
  const project = copyProject();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-pack-"));
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: path.join(project, "policy"), encoding: "utf8" }).trim().split("\n").pop()!;
  const tgz = path.join(tmp, out);
  tarball = execFileSync("tar", ["tzf", tgz], { encoding: "utf8" }).trim().split("\n").sort();
  // An empty directory, as the Pulumi CLI unpacks a published pack, then installs its dependencies.
  const empty = path.join(tmp, "empty");
  fs.mkdirSync(empty);
  execFileSync("tar", ["xzf", tgz, "-C", empty]);
  installed = path.join(empty, "package");
  execFileSync("npm", ["install", "--prefer-offline", "--omit=dev", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"], { cwd: installed, stdio: "pipe", timeout: 300_000 });
  removeProjects();
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("the tarball holds the compiled pack, the modules it imports, its data and manifest — and no sources", () => {
  expect(tarball.filter((f) => f.endsWith(".ts"))).toEqual([]);
  expect(tarball).toEqual(expect.arrayContaining(["package/index.js", "package/entry.js", "package/package.json", "package/PulumiPolicy.yaml", "package/data/deny-list.yaml", "package/data/tested-combinations.yaml", "package/dist/policy/pack.js"]));
  const dirs = [...new Set(tarball.filter((f) => f.startsWith("package/dist/")).map((f) => f.split("/")[2]))].sort();
  // Only the leaves the pack shares with the stack: never the stack, its renderers or the review tooling.
  expect(dirs).toEqual(["facts", "formats", "policy", "shipped"]);
});

describe("installed in an empty directory, it judges as the repository's pack does", () => {
  let here: PolicyPackRunner;
  let there: PolicyPackRunner;
  beforeAll(async () => {
    here = await PolicyPackRunner.start({ packDir: "policy" });
    there = await PolicyPackRunner.start({ packDir: installed });
  });
  afterAll(async () => {
    await here?.stop();
    await there?.stop();
  });

  test("the same policies, levels and config schemas", async () => {
    const [a, b] = await Promise.all([here.info(), there.info()]);
    expect(b).toEqual(a);
    expect(b.policies.length).toBeGreaterThan(20);
  });

  const verdicts = async (ev: Evaluation): Promise<[PolicyDiagnostic[], PolicyDiagnostic[]]> => {
    expect(ev.error).toBeUndefined();
    return [await here.analyzeAll(ev.resources), await there.analyzeAll(ev.resources)];
  };

  test("prod: the same (clean) verdicts", async () => {
    const [a, b] = await verdicts(await runStack("prod", { preview: true }));
    expect(b).toEqual(a);
    expect(a.filter((d) => d.enforcementLevel === "mandatory")).toEqual([]);
  });

  test("an unsafe prod: the same violations, message for message", async () => {
    const ev = await runStack("prod", {
      preview: true,
      changes: [
        ["defaults.overcommit.ramAllocationRatio", 1.5],
        ["rabbitmq.keepalive.enabled", false],
        ["versionSets.bookworm-2026-10.dnsmasq", "2.86-1.1"],
        ["cells.0.desktops", 9000],
      ],
    });
    const [a, b] = await verdicts(ev);
    expect(b).toEqual(a);
    expect([...new Set(a.map((d) => d.policyName))]).toEqual(expect.arrayContaining(["ram-allocation-ratio", "rabbitmq-tcp-keepalive", "package-deny-list", "tested-version-combination", "cell-capacity-n-plus-one"]));
    expect(a.filter((d) => d.enforcementLevel === "mandatory").length).toBeGreaterThan(200);
  });
});
