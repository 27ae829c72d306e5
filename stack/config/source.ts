/**
 * Where a stack's fleet config comes from, and where each of its values was
 * written:
 *
 *  - inline (`vdi-fleet:fleet` in Pulumi.<stack>.yaml), or a fleet file
 *    (`vdi-fleet:fleetFile: fleets/prod.yaml`, a YAML file in the project
 *    holding the same mapping). A region deployed as a region stack plus one
 *    stack per cell keeps ONE fleet file that all its stacks name;
 *  - either may start with `extends: <file>` to take shared sections (version
 *    sets, workloads, defaults, …) from another file of the project and state
 *    only what differs (the layering rule: ./origins.ts).
 *
 * The origins (file and line of every value) let config problems name the
 * line to edit. The program (stack/readStack.ts) and the offline tools
 * (review/evaluate.ts) read a stack's fleet the same way.
 */
import * as fs from "fs";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import { CONFIG_ROOT } from "./load";
import { indentSnippet, readYaml, type OriginTree } from "../../formats/yaml";
import { resolveExtends } from "./origins";
import { showPath, showValue, type ConfigProblem } from "./problems";

export const FLEET_FILE_KEY = "vdi-fleet:fleetFile";

export interface FleetSource {
  /** The fleet mapping, `extends` resolved, when it could be read. */
  raw?: unknown;
  /** Where each value of `raw` was written (absent when the stack file is not on disk). */
  origins?: OriginTree;
  /** How problem paths start: the config key, or "<file>:". */
  root: string;
  /** The fleet file, relative to the project, when one is used. */
  file?: string;
  /** Every file the fleet was read from (fleet file and bases). */
  files: string[];
  problems: ConfigProblem[];
}

function readProjectFile(projectDir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(projectDir, file), "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The origins of the inline fleet (`config: vdi-fleet:fleet:` in the stack file), when the file is
 * on disk and holds exactly the value the program was given (the CLI passes config as JSON, without
 * positions; a stack file edited since, or config kept elsewhere, gives no lines rather than wrong ones).
 */
function inlineOrigins(projectDir: string, stackFile: string, given: unknown): OriginTree | undefined {
  const text = readProjectFile(projectDir, stackFile);
  if (text === undefined) return undefined;
  const read = readYaml(stackFile, text);
  const config = read.value && typeof read.value === "object" ? (read.value as { config?: Record<string, unknown> }).config : undefined;
  const key = config && CONFIG_ROOT in config ? CONFIG_ROOT : CONFIG_ROOT.split(":")[1];
  if (!config || !isDeepStrictEqual(config[key], given)) return undefined;
  return read.origins?.children?.get("config")?.children?.get(key);
}

/**
 * Reads the fleet config of a stack; `get` returns a config value by full key
 * ("vdi-fleet:fleet"), `stackFile` is the stack's file name relative to the
 * project ("Pulumi.prod.yaml").
 */
export function readFleetSource(get: (key: string) => string | undefined, projectDir: string, stackFile: string): FleetSource {
  const inline = get(CONFIG_ROOT);
  const file = get(FLEET_FILE_KEY);
  if (inline !== undefined && file !== undefined) {
    return {
      root: CONFIG_ROOT,
      files: [],
      problems: [{ path: FLEET_FILE_KEY, value: JSON.stringify(file), message: `both ${CONFIG_ROOT} and ${FLEET_FILE_KEY} are set in ${stackFile}`, fix: "keep one: the fleet mapping inline, or the file that holds it" }],
    };
  }
  let top: { value: unknown; origins?: OriginTree; file?: string };
  let root: string;
  if (file !== undefined) {
    root = `${file}:`;
    const at = (message: string, fix: string): FleetSource => ({ root, file, files: [], problems: [{ path: FLEET_FILE_KEY, value: JSON.stringify(file), message, fix }] });
    if (path.isAbsolute(file) || file.split(/[\\/]/).includes("..")) return at("must be a path inside the project", "use a relative path such as fleets/prod.yaml");
    const text = readProjectFile(projectDir, file);
    if (text === undefined) return at("no such file in the project", `create ${file} (the fleet mapping, as under ${CONFIG_ROOT}) or correct the path`);
    const read = readYaml(file, text);
    if (read.error) {
      return {
        root,
        file,
        files: [file],
        problems: [{ path: file, at: read.error.origin, value: "", message: `not valid YAML: ${indentSnippet(read.error.message)}`, fix: "correct the YAML at that line" }],
      };
    }
    top = { value: read.value, origins: read.origins, file };
  } else if (inline === undefined) {
    return {
      root: CONFIG_ROOT,
      files: [],
      problems: [{ path: CONFIG_ROOT, value: "(missing)", message: "the fleet config is missing", fix: `add a ${CONFIG_ROOT.split(":")[1]}: mapping (or fleetFile: <file>) under config: in ${stackFile} (see Pulumi.prod.yaml)` }],
    };
  } else {
    root = CONFIG_ROOT;
    let raw: unknown;
    try {
      raw = JSON.parse(inline);
    } catch {
      raw = inline;
    }
    top = { value: raw, origins: inlineOrigins(projectDir, stackFile, raw) };
  }
  const layered = resolveExtends(top, (f) => readProjectFile(projectDir, f));
  const problems: ConfigProblem[] = layered.problems.map((p) => ({
    path: showPath(root, p.path, top.value),
    at: p.origin,
    value: p.value === undefined ? "" : showValue(p.value),
    message: p.message,
    fix: p.fix,
  }));
  return { raw: layered.value, origins: layered.origins, root, file, files: layered.files, problems };
}
