// The GitHub Actions workflows in .github/workflows: well-formed, npm scripts
// that exist, no secrets where fork code runs, no script injection, pinned
// actions, and the pr-comment script run against a mocked GitHub API.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";

const ROOT = path.resolve(__dirname, "..");
const WORKFLOWS_DIR = path.join(ROOT, ".github", "workflows");
const FILES = ["pr-review.yml", "pr-comment.yml", "review-stack.yml", "deploy.yml"] as const;

const MARKER = "<!-- vdi-fleet-preview -->";
const SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository";

type Dict = Record<string, unknown>;
interface Step {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  with?: Dict;
  env?: Dict;
  "continue-on-error"?: unknown;
}
interface Job {
  name?: string;
  if?: string;
  "runs-on"?: unknown;
  needs?: string | string[];
  environment?: string | { name?: string };
  concurrency?: unknown;
  permissions?: unknown;
  env?: Dict;
  secrets?: unknown;
  uses?: string;
  steps?: Step[];
}
interface Workflow {
  name?: string;
  on: unknown;
  permissions?: unknown;
  concurrency?: unknown;
  env?: Dict;
  defaults?: unknown;
  jobs: Record<string, Job>;
}

function isDict(v: unknown): v is Dict {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function listWorkflowFiles(): string[] {
  return fs.readdirSync(WORKFLOWS_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
}

const parsed = new Map<string, Workflow>();
function load(file: string): Workflow {
  const cached = parsed.get(file);
  if (cached) return cached;
  const doc = YAML.parse(fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8")) as Dict;
  // The yaml package reads `on` as a string key (YAML 1.2 core schema); a YAML 1.1 reader would make it `true`.
  if (!("on" in doc) && "true" in doc) doc.on = doc["true"];
  parsed.set(file, doc as unknown as Workflow);
  return doc as unknown as Workflow;
}

function allWorkflows(): Array<[string, Workflow]> {
  return listWorkflowFiles().map((f) => [f, load(f)]);
}

/** The triggers of a workflow as event -> config (null when unconfigured). */
function triggers(wf: Workflow): Record<string, unknown> {
  const on = wf.on;
  if (typeof on === "string") return { [on]: null };
  if (Array.isArray(on)) return Object.fromEntries(on.map((e) => [String(e), null]));
  if (isDict(on)) return on;
  return {};
}

function steps(job: Job): Step[] {
  return Array.isArray(job.steps) ? job.steps : [];
}

function allSteps(wf: Workflow): Array<[string, Step]> {
  return Object.entries(wf.jobs).flatMap(([id, job]) => steps(job).map((s): [string, Step] => [id, s]));
}

function actionOf(uses: string | undefined): string | undefined {
  return uses?.split("@")[0];
}

function stepUsing(job: Job, action: string): Step[] {
  return steps(job).filter((s) => actionOf(s.uses) === action);
}

/** Every `${{ ... }}` expression in a value (strings, nested objects and lists). */
function expressions(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === "string") {
      for (const m of v.matchAll(/\$\{\{([\s\S]*?)\}\}/g)) out.push(m[1].trim());
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (isDict(v)) {
      Object.entries(v).forEach(([k, x]) => {
        walk(k);
        walk(x);
      });
    }
  };
  walk(value);
  return out;
}

/** An `if:` is an expression with or without the `${{ }}` wrapper. */
function ifExpression(cond: string | undefined): string {
  const s = (cond ?? "").trim();
  const m = /^\$\{\{([\s\S]*)\}\}$/.exec(s);
  return m ? m[1].trim() : s;
}

function usesSecrets(value: unknown): boolean {
  if (isDict(value) && "secrets" in value && (value as Job).uses) return true; // reusable workflow: secrets: inherit / map
  return expressions(value).some((e) => /\bsecrets\b/.test(e));
}

/** Splits an expression at `op` outside parentheses and quoted strings. */
function splitTopLevel(expr: string, op: "&&" | "||"): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inQuote = false;
  let cur = "";
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (inQuote) {
      cur += c;
      if (c === "'") {
        if (expr[i + 1] === "'") {
          cur += "'";
          i++;
        } else inQuote = false;
      }
      continue;
    }
    if (c === "'") inQuote = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    if (depth === 0 && expr.startsWith(op, i)) {
      parts.push(cur);
      cur = "";
      i += op.length - 1;
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  return parts.map(normalize);
}

function stripOuterParens(e: string): string {
  let s = e.trim();
  for (;;) {
    if (!s.startsWith("(") || !s.endsWith(")")) return s;
    // Only when the first parenthesis closes at the very end.
    let depth = 0;
    let closesAtEnd = true;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "(") depth++;
      else if (s[i] === ")") depth--;
      if (depth === 0 && i < s.length - 1) {
        closesAtEnd = false;
        break;
      }
    }
    if (!closesAtEnd) return s;
    s = s.slice(1, -1).trim();
  }
}

function normalize(e: string): string {
  return stripOuterParens(e.replace(/\s+/g, " ").trim());
}

/** The conjuncts that must all hold for the condition to be true ([] if it is a top-level disjunction). */
function requiredConjuncts(cond: string | undefined): string[] {
  const e = normalize(ifExpression(cond));
  if (e === "") return [];
  if (splitTopLevel(e, "||").length > 1) return [];
  return splitTopLevel(e, "&&");
}

function hasSameRepoGuard(job: Job): boolean {
  const reversed = SAME_REPO.split(" == ").reverse().join(" == ");
  return requiredConjuncts(job.if).some((c) => c === SAME_REPO || c === reversed);
}

function packageScripts(): Record<string, string> {
  // Read at test time: other changes add scripts (npm run preview).
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> };
  return pkg.scripts ?? {};
}

/** The npm scripts a shell script runs: `npm run[-script] [flags] <name>`, and `npm test|t|start|stop|restart`. */
function npmScriptsRun(script: string): string[] {
  const names: string[] = [];
  for (const m of script.matchAll(/\bnpm\s+(?:run|run-script)((?:\s+-[^\s]+)*)\s+([^\s;&|()<>'"`$]+)/g)) names.push(m[2]);
  for (const m of script.matchAll(/\bnpm\s+(test|t|start|stop|restart)\b/g)) names.push(m[1] === "t" ? "test" : m[1]);
  return names;
}

function runScripts(wf: Workflow): string[] {
  return allSteps(wf)
    .map(([, s]) => s.run)
    .filter((r): r is string => typeof r === "string");
}

describe(".github/workflows", () => {
  test("exists and holds the four workflows", () => {
    expect(fs.statSync(WORKFLOWS_DIR).isDirectory()).toBe(true);
    expect(listWorkflowFiles()).toEqual(expect.arrayContaining([...FILES]));
  });

  test.each(FILES.map((f) => [f]))("%s is well-formed YAML with a name, triggers and jobs", (file) => {
    const wf = load(file);
    expect(isDict(wf)).toBe(true);
    expect(typeof wf.name).toBe("string");
    expect(Object.keys(triggers(wf)).length).toBeGreaterThan(0);
    expect(isDict(wf.jobs)).toBe(true);
    expect(Object.keys(wf.jobs).length).toBeGreaterThan(0);
    for (const [id, job] of Object.entries(wf.jobs)) {
      expect([id, isDict(job)]).toEqual([id, true]);
      if (job.uses) continue; // a reusable workflow call
      expect([id, job["runs-on"] !== undefined]).toEqual([id, true]);
      expect([id, steps(job).length > 0]).toEqual([id, true]);
      for (const s of steps(job)) {
        // Every step does exactly one thing.
        expect([id, s.name ?? s.uses ?? s.run, Number(s.uses !== undefined) + Number(s.run !== undefined)]).toEqual([id, s.name ?? s.uses ?? s.run, 1]);
      }
    }
  });

  test("workflow names are unique (workflow_run refers to them by name)", () => {
    const names = allWorkflows().map(([, wf]) => wf.name);
    expect(new Set(names).size).toBe(names.length);
  });

  test("every workflow sets top-level permissions, never write-all", () => {
    for (const [file, wf] of allWorkflows()) {
      expect([file, isDict(wf.permissions)]).toEqual([file, true]);
      for (const v of [wf.permissions, ...Object.values(wf.jobs).map((j) => j.permissions)]) {
        expect([file, v]).not.toEqual([file, "write-all"]);
      }
    }
  });
});

describe("npm commands", () => {
  test("every `npm run <x>` in a run: script is a script in package.json", () => {
    const scripts = packageScripts();
    const missing: string[] = [];
    for (const [file, wf] of allWorkflows()) {
      for (const run of runScripts(wf)) {
        for (const name of npmScriptsRun(run)) {
          if (!(name in scripts)) missing.push(`${file}: npm run ${name}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  test("the parser of npm commands finds what it should", () => {
    expect(npmScriptsRun('npm ci\nnpm test\nnpm run preview -- --stack prod || status=$?\nnpm run --silent plan\nnpm t')).toEqual([
      "preview",
      "plan",
      "test",
      "test",
    ]);
  });

  test("npm ci has a lockfile to install from", () => {
    expect(fs.existsSync(path.join(ROOT, "package-lock.json"))).toBe(true);
  });

  test("pr-review runs npm ci, npm test, then the offline preview of prod against the base branch", () => {
    const runs = runScripts(load("pr-review.yml"));
    const ci = runs.findIndex((r) => /^\s*npm ci\b/m.test(r));
    const test = runs.findIndex((r) => /^\s*npm test\b/m.test(r));
    const preview = runs.findIndex((r) => /\bnpm run preview\b/.test(r));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(test).toBeGreaterThan(ci);
    expect(preview).toBeGreaterThan(test);
    const cmd = runs[preview];
    expect(cmd).toMatch(/npm run preview -- --stack prod\b/);
    expect(cmd).toMatch(/--compare "origin\/\$\{?[A-Z_]+\}?"/);
    expect(cmd).toMatch(/--format md\b/);
    expect(cmd).toMatch(/--out preview\.md\b/);
  });

  test("on GitHub's runners the jobs run the unit suites, never the booted lab (it needs root, systemd-nspawn and a Debian 12 root file system, and was never tried there)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    // npm test leaves the lab out; test:lab is the lab alone.
    expect(pkg.scripts.test).toMatch(/jest --testPathIgnorePatterns \/test\/lab\.test\.ts$/);
    expect(pkg.scripts["test:lab"]).toMatch(/jest test\/lab\.test\.ts$/);
    for (const [file, wf] of allWorkflows()) {
      for (const [id, job] of Object.entries(wf.jobs)) {
        const scripts = steps(job).flatMap((st) => npmScriptsRun(st.run ?? ""));
        expect([file, id, scripts.filter((x) => x === "test:lab" || x === "lab")]).toEqual([file, id, []]);
        expect([file, id, steps(job).some((st) => /\bsudo\b/.test(st.run ?? ""))]).toEqual([file, id, false]);
      }
    }
    // The two workflows that test the code run npm test.
    for (const file of ["pr-review.yml", "deploy.yml"]) expect([file, runScripts(load(file)).some((r) => /^\s*npm test\b/m.test(r))]).toEqual([file, true]);
  });
});

describe("triggers", () => {
  test("no workflow uses pull_request_target", () => {
    for (const [file, wf] of allWorkflows()) {
      expect([file, Object.keys(triggers(wf))]).not.toEqual([file, expect.arrayContaining(["pull_request_target"])]);
    }
  });

  test("pr-review runs on every pull request, forks included", () => {
    const t = triggers(load("pr-review.yml"));
    expect(Object.keys(t)).toEqual(["pull_request"]);
    // No branch, path or type filter: every PR (the default types) gets a review.
    expect(t.pull_request ?? null).toBeNull();
  });

  test("pr-comment runs when the pr-review workflow completes", () => {
    const review = load("pr-review.yml");
    const t = triggers(load("pr-comment.yml"));
    expect(Object.keys(t)).toEqual(["workflow_run"]);
    const wr = t.workflow_run as { workflows?: string[]; types?: string[] };
    expect(wr.workflows).toEqual([review.name]);
    expect(wr.types).toEqual(["completed"]);
  });

  test("review-stack runs on the PR events that create, update and destroy the stack", () => {
    const t = triggers(load("review-stack.yml"));
    expect(Object.keys(t)).toEqual(["pull_request"]);
    expect((t.pull_request as { types?: string[] }).types?.slice().sort()).toEqual(
      ["opened", "synchronize", "reopened", "labeled", "closed"].sort(),
    );
  });

  test("deploy runs on pushes to main", () => {
    const t = triggers(load("deploy.yml"));
    expect(Object.keys(t)).toEqual(["push"]);
    expect((t.push as { branches?: string[] }).branches).toEqual(["main"]);
  });
});

describe("secrets and fork pull requests", () => {
  const prWorkflows = (): Array<[string, Workflow]> => allWorkflows().filter(([, wf]) => "pull_request" in triggers(wf));

  test("the same-repository guard is recognised only as a required conjunct", () => {
    expect(hasSameRepoGuard({ if: `${SAME_REPO} && contains(github.event.pull_request.labels.*.name, 'preview')` })).toBe(true);
    expect(hasSameRepoGuard({ if: `\${{ (${SAME_REPO}) && (a || b) }}` })).toBe(true);
    expect(hasSameRepoGuard({ if: `${SAME_REPO} || github.event.action == 'closed'` })).toBe(false);
    expect(hasSameRepoGuard({ if: `github.event.action == 'x' && 'a && ${SAME_REPO}' == 'b'` })).toBe(false);
    expect(hasSameRepoGuard({})).toBe(false);
  });

  test("workflows triggered by pull_request put no secrets in workflow-level env or defaults", () => {
    for (const [file, wf] of prWorkflows()) {
      expect([file, usesSecrets(wf.env), usesSecrets(wf.defaults)]).toEqual([file, false, false]);
    }
  });

  test("in workflows triggered by pull_request, jobs that can run for forks use no secrets", () => {
    for (const [file, wf] of prWorkflows()) {
      for (const [id, job] of Object.entries(wf.jobs)) {
        if (!hasSameRepoGuard(job)) expect([file, id, usesSecrets(job)]).toEqual([file, id, false]);
      }
    }
  });

  test("in workflows triggered by pull_request, every job that uses secrets requires a same-repository PR", () => {
    for (const [file, wf] of prWorkflows()) {
      for (const [id, job] of Object.entries(wf.jobs)) {
        if (usesSecrets(job)) expect([file, id, hasSameRepoGuard(job)]).toEqual([file, id, true]);
      }
    }
  });

  test("pr-review: every job runs for forks, with no secrets and a read-only token", () => {
    const wf = load("pr-review.yml");
    expect(usesSecrets(wf)).toBe(false);
    expect(wf.permissions).toEqual({ contents: "read" });
    for (const [id, job] of Object.entries(wf.jobs)) {
      expect([id, hasSameRepoGuard(job), usesSecrets(job), job.permissions]).toEqual([id, false, false, undefined]);
    }
  });

  test("review-stack: both jobs use secrets, and only for same-repository PRs with the preview label", () => {
    const wf = load("review-stack.yml");
    expect(Object.keys(wf.jobs).sort()).toEqual(["deploy", "destroy"]);
    for (const id of ["deploy", "destroy"]) {
      const job = wf.jobs[id];
      expect([id, usesSecrets(job), hasSameRepoGuard(job)]).toEqual([id, true, true]);
      expect(requiredConjuncts(job.if)).toContain("contains(github.event.pull_request.labels.*.name, 'preview')");
    }
    expect(requiredConjuncts(wf.jobs.deploy.if)).toContain("github.event.action != 'closed'");
    expect(requiredConjuncts(wf.jobs.destroy.if)).toContain("github.event.action == 'closed'");
  });
});

describe("script injection", () => {
  // Contexts an outsider controls (branch names, titles, bodies, commit
  // messages) or that the brief requires to go through env. Numbers and ids are fine.
  const UNTRUSTED = /\bgithub\.(head_ref|base_ref)\b|\bgithub\.event\.(?!(?:pull_request\.number|number|workflow_run\.id|workflow_run\.run_number|workflow_run\.run_attempt)\b)/;

  test("the untrusted-context pattern catches what it should", () => {
    for (const e of [
      "github.head_ref",
      "github.base_ref",
      "github.event.pull_request.title",
      "github.event.pull_request.body",
      "github.event.pull_request.head.ref",
      "github.event.workflow_run.head_branch",
      "github.event.workflow_run.display_title",
      "github.event.head_commit.message",
      "github.event.pull_request.number_of_things",
    ]) {
      expect([e, UNTRUSTED.test(e)]).toEqual([e, true]);
    }
    for (const e of ["github.event.pull_request.number", "github.event.workflow_run.id", "steps.preview.outputs.exit-code", "runner.temp"]) {
      expect([e, UNTRUSTED.test(e)]).toEqual([e, false]);
    }
  });

  test("no run: script and no github-script script interpolates an untrusted context (it must go through env)", () => {
    const found: string[] = [];
    for (const [file, wf] of allWorkflows()) {
      for (const [job, s] of allSteps(wf)) {
        const code = [s.run, actionOf(s.uses) === "actions/github-script" ? s.with?.script : undefined];
        for (const e of expressions(code)) {
          if (UNTRUSTED.test(e)) found.push(`${file} ${job} "${s.name ?? s.uses ?? ""}": \${{ ${e} }}`);
        }
      }
    }
    expect(found).toEqual([]);
  });

  test("pr-review passes the base branch to the preview through env", () => {
    const [, step] = allSteps(load("pr-review.yml")).find(([, s]) => /\bnpm run preview\b/.test(s.run ?? ""))!;
    const envName = Object.entries(step.env ?? {}).find(([, v]) => typeof v === "string" && /\bgithub\.base_ref\b/.test(v))?.[0];
    expect(envName).toBeDefined();
    expect(step.run).toContain(`"origin/\${${envName}}"`);
  });
});

describe("actions", () => {
  const MAJORS: Record<string, string> = {
    "actions/checkout": "v4",
    "actions/setup-node": "v4",
    "actions/upload-artifact": "v4",
    "actions/download-artifact": "v4",
    "actions/github-script": "v7",
    "pulumi/actions": "v6",
  };

  /**
   * Why a `uses:` line is not pinned (undefined: it is): a full commit SHA, with the release tag in a
   * trailing comment, in the known major. A tag can be moved to other code; a commit cannot. The tag
   * stays beside it for the reader and for update tools. Local and docker actions are not checked.
   */
  function pinProblem(line: string): string | undefined {
    const m = /uses:\s*(\S+?)@(\S+)(?:\s+#\s*(\S+))?\s*$/.exec(line);
    if (!m) return "not <action>@<ref> [# <tag>]";
    const [, action, ref, tag] = m;
    if (action.startsWith("./") || action.startsWith("docker://")) return undefined;
    if (!/^[0-9a-f]{40}$/.test(ref)) return `${action} is pinned to ${ref}, not a full commit SHA`;
    if (!/^v\d+\.\d+\.\d+$/.test(tag ?? "")) return `${action}@${ref} has no release tag in a comment (# vX.Y.Z)`;
    if (action in MAJORS && tag.split(".")[0] !== MAJORS[action]) return `${action} is at ${tag}, not in ${MAJORS[action]}`;
    return undefined;
  }

  test("every action is pinned to a full commit SHA, with its release tag in a comment (the known ones in their major)", () => {
    // The SHAs are the tags' commits in the actions' own repositories.
    for (const file of listWorkflowFiles()) {
      const lines = fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8").split("\n").filter((l) => /^\s*(- )?uses:/.test(l));
      // Every uses: the YAML reader sees is one of these lines (nothing escapes the check).
      const wf = load(file);
      const parsedUses = [...Object.values(wf.jobs).map((j) => j.uses), ...allSteps(wf).map(([, s]) => s.uses)].filter((u): u is string => typeof u === "string");
      expect([file, lines.length]).toEqual([file, parsedUses.length]);
      expect([file, lines.map((l) => pinProblem(l)).filter(Boolean)]).toEqual([file, []]);
    }
  });

  test("the pin check refuses a tag, a short SHA, a SHA without its tag and another major", () => {
    expect(pinProblem("      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0")).toBeUndefined();
    expect(pinProblem("      - uses: actions/checkout@v4")).toMatch(/not a full commit SHA/);
    expect(pinProblem("      - uses: actions/checkout@11d5960 # v4.4.0")).toMatch(/not a full commit SHA/);
    expect(pinProblem("      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262")).toMatch(/no release tag/);
    expect(pinProblem("      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v5.0.0")).toMatch(/not in v4/);
  });

  test("setup-node uses Node 20 with the npm cache", () => {
    for (const [file, wf] of allWorkflows()) {
      for (const [job, s] of allSteps(wf)) {
        if (actionOf(s.uses) !== "actions/setup-node") continue;
        expect([file, job, String(s.with?.["node-version"]), s.with?.cache]).toEqual([file, job, "20", "npm"]);
      }
    }
  });

  test("the workflows that run npm set up Node first", () => {
    for (const [file, wf] of allWorkflows()) {
      for (const [id, job] of Object.entries(wf.jobs)) {
        const ss = steps(job);
        const firstNpm = ss.findIndex((s) => /\bnpm\b/.test(s.run ?? ""));
        if (firstNpm < 0) continue;
        const node = ss.findIndex((s) => actionOf(s.uses) === "actions/setup-node");
        const checkout = ss.findIndex((s) => actionOf(s.uses) === "actions/checkout");
        expect([file, id, checkout >= 0 && checkout < node && node < firstNpm]).toEqual([file, id, true]);
      }
    }
  });
});

describe("pr-review.yml", () => {
  const wf = (): Workflow => load("pr-review.yml");
  const job = (): Job => Object.values(wf().jobs)[0];

  test("has one job", () => {
    expect(Object.keys(wf().jobs)).toHaveLength(1);
  });

  test("checks out the full history without persisting the token", () => {
    const [checkout] = stepUsing(job(), "actions/checkout");
    expect(checkout.with?.["fetch-depth"]).toBe(0);
    expect(checkout.with?.["persist-credentials"]).toBe(false);
  });

  test("one run per PR, a newer push cancels the running one", () => {
    const c = wf().concurrency as { group?: string; "cancel-in-progress"?: boolean };
    expect(c.group).toMatch(/\$\{\{\s*github\.event\.pull_request\.number\s*\}\}/);
    expect(c["cancel-in-progress"]).toBe(true);
  });

  test("keeps the preview's exit code, publishes the report, then fails the job on a non-zero exit", () => {
    const ss = steps(job());
    const p = ss.findIndex((s) => /\bnpm run preview\b/.test(s.run ?? ""));
    const preview = ss[p];
    expect(preview.id).toBeDefined();
    // The report is published even when the preview fails.
    const keepsGoing = preview["continue-on-error"] === true || /\|\|\s*\w+=\$\?/.test(preview.run ?? "") || /\|\|\s*echo\b/.test(preview.run ?? "");
    expect(keepsGoing).toBe(true);
    expect(preview.run).toMatch(/GITHUB_OUTPUT/);

    const summary = ss.findIndex((s) => /preview\.md[\s\S]*>>\s*"?\$\{?GITHUB_STEP_SUMMARY/.test(s.run ?? ""));
    expect(summary).toBeGreaterThan(p);

    const numberFile = ss.findIndex(
      (s) => Object.values(s.env ?? {}).some((v) => typeof v === "string" && /github\.event\.pull_request\.number/.test(v)) && />\s*\S*pr-number/.test(s.run ?? ""),
    );
    expect(numberFile).toBeGreaterThan(p);

    const upload = ss.findIndex((s) => actionOf(s.uses) === "actions/upload-artifact");
    expect(upload).toBeGreaterThan(Math.max(summary, numberFile));
    const up = ss[upload];
    expect(up.with?.name).toBe("preview-report");
    expect(String(up.with?.path)).toMatch(/preview\.md/);
    expect(String(up.with?.path)).toMatch(/pr-number/);

    // The last step fails the job when the preview exited non-zero.
    const last = ss[ss.length - 1];
    expect(ss.length - 1).toBeGreaterThan(upload);
    expect(ifExpression(last.if)).toContain(`steps.${preview.id}.outputs`);
    expect(last.run).toMatch(/\bexit [1-9]/);
    // Steps after the preview still run when it (or the tests) failed.
    for (const s of ss.slice(p + 1)) expect([s.name, ifExpression(s.if)]).toEqual([s.name, expect.stringMatching(/always\(\)|!cancelled\(\)/)]);
  });
});

describe("pr-comment.yml", () => {
  const wf = (): Workflow => load("pr-comment.yml");
  const job = (): Job => wf().jobs.comment;

  test("has exactly the permissions it needs", () => {
    expect(wf().permissions).toEqual({ "pull-requests": "write", actions: "read" });
    for (const j of Object.values(wf().jobs)) expect(j.permissions).toBeUndefined();
  });

  test("checks out no code and runs no npm or node", () => {
    for (const [id, s] of allSteps(wf())) {
      expect([id, actionOf(s.uses)]).not.toEqual([id, "actions/checkout"]);
      expect([id, actionOf(s.uses)]).not.toEqual([id, "actions/setup-node"]);
      expect([id, s.uses?.startsWith("./") ?? false]).toEqual([id, false]);
      expect([id, /\b(npm|npx|node|yarn|pnpm|corepack|bun|deno|ts-node)\b/.test(s.run ?? "")]).toEqual([id, false]);
    }
  });

  test("runs for failed review runs too (a policy violation fails the run)", () => {
    const cond = ifExpression(job().if);
    expect(cond).toContain("github.event.workflow_run.event == 'pull_request'");
    expect(cond).not.toMatch(/conclusion\s*==\s*'success'/);
  });

  test("downloads preview-report from the triggering run, into the runner's temp directory", () => {
    const [dl] = stepUsing(job(), "actions/download-artifact");
    expect(dl.with).toMatchObject({
      name: "preview-report",
      "run-id": "${{ github.event.workflow_run.id }}",
      "github-token": "${{ secrets.GITHUB_TOKEN }}",
    });
    expect(String(dl.with?.path)).toMatch(/^\$\{\{ runner\.temp \}\}/);
    // Only when the artifact exists: no artifact is a graceful skip.
    expect(ifExpression(dl.if)).toMatch(/steps\.\w+\.outputs\.found == 'true'/);
  });

  // The two github-script steps, run as github-script runs them, against a mocked API.
  type Call = { method: string; args: Dict };
  interface Mock {
    calls: Call[];
    outputs: Dict;
    failed: string[];
    notices: string[];
  }
  const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

  function scriptOf(index: number): string {
    const scripts = stepUsing(job(), "actions/github-script").map((s) => String(s.with?.script));
    expect(scripts).toHaveLength(2);
    return scripts[index];
  }

  async function runScript(
    script: string,
    env: Record<string, string>,
    api: { artifacts?: Array<{ name: string; expired: boolean }>; prHeadSha?: string | null; comments?: Array<{ id: number; body: string; user: { login: string; type: string } }> },
  ): Promise<Mock> {
    const mock: Mock = { calls: [], outputs: {}, failed: [], notices: [] };
    const record = (method: string, result: (args: Dict) => unknown) => async (args: Dict) => {
      mock.calls.push({ method, args });
      return result(args);
    };
    const github = {
      rest: {
        actions: { listWorkflowRunArtifacts: record("listWorkflowRunArtifacts", () => ({ data: { artifacts: api.artifacts ?? [] } })) },
        pulls: {
          get: record("pulls.get", (a) => {
            if (api.prHeadSha === null) throw Object.assign(new Error("Not Found"), { status: 404 });
            return { data: { number: a.pull_number, head: { sha: api.prHeadSha } } };
          }),
        },
        issues: {
          listComments: record("listComments", () => ({ data: api.comments ?? [] })),
          updateComment: record("updateComment", (a) => ({ data: { id: a.comment_id } })),
          createComment: record("createComment", () => ({ data: { id: 999 } })),
        },
      },
      paginate: async (fn: (a: Dict) => Promise<{ data: unknown[] }>, args: Dict) => (await fn(args)).data,
    };
    const context = { repo: { owner: "acme", repo: "vdi-fleet" } };
    const core = {
      setOutput: (k: string, v: unknown) => (mock.outputs[k] = v),
      setFailed: (m: string) => mock.failed.push(m),
      notice: (m: string) => mock.notices.push(m),
      info: () => undefined,
      warning: (m: string) => mock.notices.push(m),
    };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      await new AsyncFunction("require", "github", "context", "core", script)(require, github, context, core);
    } finally {
      for (const k of Object.keys(env)) {
        if (k in saved) process.env[k] = saved[k];
        else delete process.env[k];
      }
    }
    return mock;
  }

  const SHA = "0123456789abcdef0123456789abcdef01234567";
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pr-comment-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function writeReport(prNumber: string, body: string): void {
    fs.writeFileSync(path.join(dir, "pr-number.txt"), prNumber);
    fs.writeFileSync(path.join(dir, "preview.md"), body);
  }
  const env = (): Record<string, string> => ({
    REPORT_DIR: dir,
    RUN_ID: "4242",
    RUN_HEAD_SHA: SHA,
    RUN_URL: "https://github.com/acme/vdi-fleet/actions/runs/4242",
    RUN_CONCLUSION: "failure",
  });
  const writes = (m: Mock): Call[] => m.calls.filter((c) => c.method === "createComment" || c.method === "updateComment");
  const bot = { login: "github-actions[bot]", type: "Bot" };

  test("the find step reports whether the artifact exists", async () => {
    const yes = await runScript(scriptOf(0), env(), { artifacts: [{ name: "preview-report", expired: false }] });
    expect(yes.outputs.found).toBe("true");
    expect(yes.calls[0].args).toMatchObject({ run_id: 4242, name: "preview-report" });
    const none = await runScript(scriptOf(0), env(), { artifacts: [] });
    expect(none.outputs.found).toBe("false");
    expect(none.failed).toEqual([]);
    const expired = await runScript(scriptOf(0), env(), { artifacts: [{ name: "preview-report", expired: true }] });
    expect(expired.outputs.found).toBe("false");
  });

  test("creates the comment when there is none, starting with the marker", async () => {
    writeReport("17\n", `${MARKER}\n### preview\n1 mandatory violation\n`);
    const m = await runScript(scriptOf(1), env(), { prHeadSha: SHA, comments: [{ id: 5, body: `hello ${MARKER}`, user: { login: "alice", type: "User" } }] });
    expect(m.failed).toEqual([]);
    const w = writes(m);
    expect(w.map((c) => c.method)).toEqual(["createComment"]);
    expect(w[0].args.issue_number).toBe(17);
    const body = String(w[0].args.body);
    expect(body.startsWith(MARKER)).toBe(true);
    expect(body.split(MARKER)).toHaveLength(2); // not doubled
    expect(body).toContain("1 mandatory violation");
  });

  test("updates its existing comment instead of adding another", async () => {
    writeReport("17", `${MARKER}\nnew report`);
    const m = await runScript(scriptOf(1), env(), {
      prHeadSha: SHA,
      comments: [
        { id: 3, body: "unrelated", user: bot },
        { id: 8, body: `${MARKER}\nold report`, user: bot },
      ],
    });
    const w = writes(m);
    expect(w.map((c) => c.method)).toEqual(["updateComment"]);
    expect(w[0].args.comment_id).toBe(8);
    expect(String(w[0].args.body)).toContain("new report");
  });

  test("adds the marker to a report without one", async () => {
    writeReport("17", "plain report");
    const m = await runScript(scriptOf(1), env(), { prHeadSha: SHA });
    expect(String(writes(m)[0].args.body).startsWith(MARKER)).toBe(true);
  });

  test("truncates a long report to at most 60,000 characters", async () => {
    writeReport("17", MARKER + "\n" + "x".repeat(59_990) + "😀".repeat(50_000));
    const m = await runScript(scriptOf(1), env(), { prHeadSha: SHA });
    const body = String(writes(m)[0].args.body);
    expect(body.length).toBeLessThanOrEqual(60_000);
    expect(body).toMatch(/truncated/i);
    expect(body.startsWith(MARKER)).toBe(true);
    expect(() => encodeURIComponent(body)).not.toThrow(); // no lone surrogate
  });

  test.each([["0"], ["-3"], ["17; rm -rf /"], ["1e3"], ["017"], ["abc"], [""], ["99999999999999999999"], ["17\n18"]])(
    "rejects the PR number %j and posts nothing",
    async (n) => {
      writeReport(n, `${MARKER}\nreport`);
      const m = await runScript(scriptOf(1), env(), { prHeadSha: SHA });
      expect(writes(m)).toEqual([]);
      expect(m.calls.filter((c) => c.method === "pulls.get")).toEqual([]);
      expect(m.failed.length).toBe(1);
    },
  );

  test("posts nothing when the PR's head is not the commit the review run tested", async () => {
    writeReport("17", `${MARKER}\nreport`);
    const m = await runScript(scriptOf(1), env(), { prHeadSha: "f".repeat(40) });
    expect(writes(m)).toEqual([]);
  });

  test("posts nothing when the PR does not exist", async () => {
    writeReport("17", `${MARKER}\nreport`);
    const m = await runScript(scriptOf(1), env(), { prHeadSha: null });
    expect(writes(m)).toEqual([]);
    expect(m.failed.length).toBe(1);
  });

  test("reads no symlink out of the artifact", async () => {
    fs.writeFileSync(path.join(dir, "pr-number.txt"), "17");
    const secret = path.join(dir, "..", `secret-${path.basename(dir)}`);
    fs.writeFileSync(secret, "SECRET");
    try {
      fs.symlinkSync(secret, path.join(dir, "preview.md"));
      const m = await runScript(scriptOf(1), env(), { prHeadSha: SHA });
      expect(writes(m)).toEqual([]);
    } finally {
      fs.rmSync(secret, { force: true });
    }
  });
});

describe("review-stack.yml", () => {
  const wf = (): Workflow => load("review-stack.yml");
  const pulumiSteps = (id: string): Step[] => stepUsing(wf().jobs[id], "pulumi/actions");
  const STACK = "${{ vars.PULUMI_ORG }}/vdi-fleet/pr-${{ github.event.pull_request.number }}";

  test("deploy copies Pulumi.pr.yaml to the PR's stack config, then previews and updates with the policy pack", () => {
    expect(fs.existsSync(path.join(ROOT, "Pulumi.pr.yaml"))).toBe(true);
    const ss = steps(wf().jobs.deploy);
    const copy = ss.findIndex((s) => /cp Pulumi\.pr\.yaml "Pulumi\.pr-\$\{?PR_NUMBER\}?\.yaml"/.test(s.run ?? ""));
    const npmCi = ss.findIndex((s) => /\bnpm ci\b/.test(s.run ?? ""));
    expect(copy).toBeGreaterThanOrEqual(0);
    expect(npmCi).toBeGreaterThanOrEqual(0);
    const env = { ...wf().jobs.deploy.env, ...ss[copy].env };
    expect(env.PR_NUMBER).toBe("${{ github.event.pull_request.number }}");
    const pulumi = pulumiSteps("deploy");
    expect(pulumi.map((s) => s.with?.command)).toEqual(["preview", "up"]);
    for (const s of pulumi) {
      expect(s.with).toMatchObject({ "stack-name": STACK, upsert: true, policyPacks: "policy" });
      expect(ss.indexOf(s)).toBeGreaterThan(Math.max(copy, npmCi));
      expect(s.env?.PULUMI_ACCESS_TOKEN).toBe("${{ secrets.PULUMI_ACCESS_TOKEN }}");
    }
  });

  test("destroy destroys and removes the PR's stack", () => {
    const pulumi = pulumiSteps("destroy");
    expect(pulumi.map((s) => s.with?.command)).toEqual(["destroy"]);
    expect(pulumi[0].with).toMatchObject({ "stack-name": STACK, remove: true });
  });

  test("runs one job per PR at a time and never cancels a destroy", () => {
    for (const id of ["deploy", "destroy"]) {
      const c = wf().jobs[id].concurrency as { group?: string; "cancel-in-progress"?: boolean } | undefined;
      expect([id, c?.group]).toEqual([id, expect.stringMatching(/github\.event\.pull_request\.number/)]);
    }
    const destroy = wf().jobs.destroy.concurrency as { "cancel-in-progress"?: boolean };
    expect(destroy["cancel-in-progress"]).not.toBe(true);
    // A workflow-level group would let a queued run replace a queued destroy of another event.
    expect(wf().concurrency).toBeUndefined();
  });

  test("OpenStack credentials come from secrets, only inside the guarded jobs", () => {
    for (const id of ["deploy", "destroy"]) {
      const job = wf().jobs[id];
      expect([id, expressions(job).some((e) => /secrets\.OPENSTACK_CLOUDS_YAML/.test(e))]).toEqual([id, true]);
      expect([id, job.env?.OS_CLOUD]).toEqual([id, expect.any(String)]);
    }
  });
});

describe("deploy.yml", () => {
  const wf = (): Workflow => load("deploy.yml");
  const FIRST = "${{ vars.PULUMI_ORG }}/vdi-fleet/${{ needs.plan.outputs.first }}";
  const CELL = "${{ vars.PULUMI_ORG }}/vdi-fleet/${{ matrix.stack }}";
  const environmentOf = (job: Job) => (typeof job.environment === "string" ? job.environment : job.environment?.name);
  const strategyOf = (job: Job) => (job as unknown as { strategy?: { "fail-fast"?: boolean; matrix?: Dict } }).strategy;

  test("the plan job runs the unit tests, then works out the stacks and their form from the stack DEPLOY_STACK names", () => {
    const job = wf().jobs.plan;
    const runs = steps(job).map((s) => s.run ?? "");
    const test = runs.findIndex((r) => /^\s*npm test\b/m.test(r));
    const plan = steps(job).findIndex((s) => s.id === "plan");
    expect(test).toBeGreaterThan(runs.findIndex((r) => /\bnpm ci\b/.test(r)));
    expect(plan).toBeGreaterThan(test);
    expect(steps(job)[plan].run).toBe('npm run -s deploy-plan -- --stack "${DEPLOY_STACK}" --format github >> "${GITHUB_OUTPUT}"');
    expect(job.env).toBeUndefined();
    expect(expressions(job).some((e) => /secrets\./.test(e))).toBe(false);
    expect((job as unknown as { outputs: Dict }).outputs).toEqual({
      form: "${{ steps.plan.outputs.form }}",
      first: "${{ steps.plan.outputs.first }}",
      cells: "${{ steps.plan.outputs.cells }}",
    });
  });

  test("DEPLOY_STACK names a stack this repository can deploy as configured", () => {
    const stack = String(wf().env?.DEPLOY_STACK);
    const r = spawnSync(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", path.join(ROOT, "scripts", "deployPlan.ts"), "--stack", stack, "--format", "github"], { cwd: ROOT, encoding: "utf8" });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(new RegExp(`^form=(single|split)\nfirst=${stack}\ncells=\\[.*\\]\n$`));
  });

  test("previews the first stack with the policy pack after npm ci", () => {
    const job = wf().jobs.preview;
    expect([job.needs].flat()).toEqual(["plan"]);
    const ss = steps(job);
    const npmCi = ss.findIndex((s) => /\bnpm ci\b/.test(s.run ?? ""));
    const [pulumi] = stepUsing(job, "pulumi/actions");
    expect(npmCi).toBeGreaterThanOrEqual(0);
    expect(ss.indexOf(pulumi)).toBeGreaterThan(npmCi);
    expect(pulumi.with).toMatchObject({ command: "preview", "stack-name": FIRST, policyPacks: "policy" });
  });

  test("deploys the first stack after its preview, in the protected production environment, with the policy pack", () => {
    const job = wf().jobs.deploy;
    expect([job.needs].flat().sort()).toEqual(["plan", "preview"]);
    expect(environmentOf(job)).toBe("production");
    const ss = steps(job);
    const npmCi = ss.findIndex((s) => /\bnpm ci\b/.test(s.run ?? ""));
    const pulumi = stepUsing(job, "pulumi/actions");
    expect(pulumi.map((s) => s.with?.command)).toEqual(["up"]);
    expect(ss.indexOf(pulumi[0])).toBeGreaterThan(npmCi);
    expect(pulumi[0].with).toMatchObject({ "stack-name": FIRST, policyPacks: "policy" });
  });

  test("split form: after the region stack is deployed, every cell stack is previewed, then deployed, in parallel (a matrix), each with the policy pack, behind the protected environment", () => {
    const jobs = wf().jobs;
    expect(Object.keys(jobs)).toEqual(["plan", "preview", "deploy", "preview-cells", "deploy-cells"]);
    const split = "${{ needs.plan.outputs.form == 'split' }}";
    const [previewCells, deployCells] = [jobs["preview-cells"], jobs["deploy-cells"]];
    expect([previewCells.if, deployCells.if]).toEqual([split, split]);
    expect([previewCells.needs, deployCells.needs]).toEqual([
      ["plan", "deploy"],
      ["plan", "preview-cells"],
    ]);
    for (const [job, command] of [
      [previewCells, "preview"],
      [deployCells, "up"],
    ] as const) {
      expect(strategyOf(job)).toMatchObject({ "fail-fast": false, matrix: { stack: "${{ fromJSON(needs.plan.outputs.cells) }}" } });
      const pulumi = stepUsing(job, "pulumi/actions");
      expect(pulumi.map((s) => s.with)).toEqual([expect.objectContaining({ command, "stack-name": CELL, policyPacks: "policy" })]);
    }
    expect(environmentOf(previewCells)).toBeUndefined();
    expect(environmentOf(deployCells)).toBe("production");
    // Every job that reaches the cloud has the credentials and the settings check.
    for (const id of ["preview", "deploy", "preview-cells", "deploy-cells"]) {
      expect([id, expressions(jobs[id]).some((e) => /secrets\.OPENSTACK_CLOUDS_YAML/.test(e))]).toEqual([id, true]);
      expect([id, steps(jobs[id]).some((s) => s.name === "Check the settings")]).toEqual([id, true]);
    }
  });

  test("one prod deployment at a time, never cancelled", () => {
    const c = wf().concurrency as { group?: string; "cancel-in-progress"?: boolean };
    expect(typeof c.group).toBe("string");
    expect(c.group).not.toMatch(/\$\{\{/); // one fixed group, not one per commit or run
    expect(c["cancel-in-progress"]).toBe(false);
  });
});
