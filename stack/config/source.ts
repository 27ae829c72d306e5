/**
 * Where a stack's fleet config comes from: inline (`vdi-fleet:fleet` in
 * Pulumi.<stack>.yaml) or a fleet file (`vdi-fleet:fleetFile: fleets/prod.yaml`,
 * a YAML file in the project holding the same mapping). A region deployed as a
 * region stack plus one stack per cell keeps ONE fleet file that all its stacks
 * name, so the stacks cannot drift apart. The program (lib/stack.ts) and the
 * offline tools (lib/evaluate.ts) read it the same way.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { CONFIG_ROOT } from "./load";
import type { ConfigProblem } from "./problems";

export const FLEET_FILE_KEY = "vdi-fleet:fleetFile";

export interface FleetSource {
  /** The fleet mapping, when it could be read. */
  raw?: unknown;
  /** How problem paths start: the config key, or "<file>:". */
  root: string;
  /** The fleet file, relative to the project, when one is used. */
  file?: string;
  problems: ConfigProblem[];
}

/** Reads the fleet config of a stack; `get` returns a config value by full key ("vdi-fleet:fleet"). */
export function readFleetSource(get: (key: string) => string | undefined, projectDir: string, stackFile: string): FleetSource {
  const inline = get(CONFIG_ROOT);
  const file = get(FLEET_FILE_KEY);
  if (inline !== undefined && file !== undefined) {
    return {
      root: CONFIG_ROOT,
      problems: [{ path: FLEET_FILE_KEY, value: JSON.stringify(file), message: `both ${CONFIG_ROOT} and ${FLEET_FILE_KEY} are set in ${stackFile}`, fix: "keep one: the fleet mapping inline, or the file that holds it" }],
    };
  }
  if (file !== undefined) {
    const root = `${file}:`;
    const at = (message: string, fix: string): FleetSource => ({ root, file, problems: [{ path: FLEET_FILE_KEY, value: JSON.stringify(file), message, fix }] });
    if (path.isAbsolute(file) || file.split(/[\\/]/).includes("..")) return at("must be a path inside the project", "use a relative path such as fleets/prod.yaml");
    const full = path.join(projectDir, file);
    if (!fs.existsSync(full)) return at("no such file in the project", `create ${file} (the fleet mapping, as under ${CONFIG_ROOT}) or correct the path`);
    try {
      return { raw: yaml.load(fs.readFileSync(full, "utf8")), root, file, problems: [] };
    } catch (e) {
      return at(`is not valid YAML: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, "fix the YAML syntax at that line");
    }
  }
  if (inline === undefined) {
    return {
      root: CONFIG_ROOT,
      problems: [{ path: CONFIG_ROOT, value: "(missing)", message: "the fleet config is missing", fix: `add a ${CONFIG_ROOT.split(":")[1]}: mapping (or fleetFile: <file>) under config: in ${stackFile} (see Pulumi.prod.yaml)` }],
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(inline);
  } catch {
    raw = inline;
  }
  return { raw, root: CONFIG_ROOT, problems: [] };
}
