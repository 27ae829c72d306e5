/**
 * A throwaway copy of this project (its tracked and untracked, non-ignored
 * files, with node_modules linked) in its own git repository, for tests that
 * run the CLI the way a user does, write stack files, or compare git refs.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { PROJECT_DIR, fleetOf, readStackFile } from "../../review/evaluate";
import { changedSinceBuild } from "../../stack/freshBuild";

const made: string[] = [];

export function copyProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-project-"));
  made.push(dir);
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: PROJECT_DIR, encoding: "utf8" }).split("\0").filter(Boolean);
  for (const f of files) {
    const src = path.join(PROJECT_DIR, f);
    if (!fs.existsSync(src) || fs.statSync(src).isDirectory()) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(src, path.join(dir, f));
  }
  fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
  // The build too, as a user has it after npm ci (the policy pack runs compiled when it is current:
  // policy/entry.js), marked as built from the copied sources; a source the test edits afterwards
  // is newer, and the pack then runs from its sources.
  if (fs.existsSync(path.join(PROJECT_DIR, "bin", ".tsbuildinfo"))) {
    fs.cpSync(path.join(PROJECT_DIR, "bin"), path.join(dir, "bin"), { recursive: true });
    const newest = Math.max(...files.map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)).map((f) => fs.statSync(f).mtimeMs));
    fs.utimesSync(path.join(dir, "bin", ".tsbuildinfo"), (newest + 1) / 1000, (newest + 1) / 1000);
  }
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, stdio: "pipe" });
  git("init", "-q");
  git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A");
  git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy");
  return dir;
}

export function removeProjects(): void {
  while (made.length) fs.rmSync(made.pop()!, { recursive: true, force: true });
}

/**
 * Writes Pulumi.<name>.yaml from another stack file with fleet changes at dotted paths (undefined
 * deletes). The changes apply to the stack's effective fleet: its fleet file and the bases it
 * extends are resolved and inlined into the new stack file (the changes are this stack's only).
 */
export function writeStack(dir: string, name: string, from: string, changes: Array<[string, unknown]>): void {
  const doc = YAML.parse(fs.readFileSync(path.join(dir, `Pulumi.${from}.yaml`), "utf8")) as { config: Record<string, any> };
  doc.config["vdi-fleet:fleet"] = fleetOf(readStackFile(from, dir));
  delete doc.config["vdi-fleet:fleetFile"];
  const fleet = doc.config["vdi-fleet:fleet"];
  for (const [dotted, value] of changes) {
    const parts = dotted.split(".");
    let cur = fleet;
    for (const p of parts.slice(0, -1)) cur = cur[p] ??= /^\d+$/.test(p) ? [] : {};
    if (value === undefined) delete cur[parts[parts.length - 1]];
    else cur[parts[parts.length - 1]] = value;
  }
  fs.writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), YAML.stringify(doc, { lineWidth: 200 }));
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run preview -- ARGS` in a project copy as the npm script does: the compiled
 * bin/scripts/preview.js when the copy's build is current, else (a test edited a source) the
 * sources through ts-node, which is what `npm run -s build` would make current first.
 */
export function runPreview(dir: string, args: string[]): CliResult {
  const compiled = path.join(dir, "bin", "scripts", "preview.js");
  const entry = fs.existsSync(compiled) && changedSinceBuild(dir).length === 0 ? [compiled] : [require.resolve("ts-node/dist/bin"), "--transpile-only", "scripts/preview.ts"];
  const r = spawnSync(process.execPath, [...entry, ...args], {
    cwd: dir,
    encoding: "utf8",
    timeout: 240_000,
    env: { ...process.env, FORCE_COLOR: "0" },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
