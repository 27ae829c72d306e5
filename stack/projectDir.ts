/**
 * The project directory: the nearest directory up from this module with
 * Pulumi.yaml. The same from the TypeScript sources (stack/) and from the
 * compiled program (bin/stack/), so files the program reads beside its code
 * (host/apply.sh, inventory/, fleets/, Pulumi.<stack>.yaml) are found either way.
 */
import * as fs from "fs";
import * as path from "path";

export function projectDirAbove(from: string): string {
  for (let dir = from, i = 0; i < 8; i++, dir = path.dirname(dir)) if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
  throw new Error(`no Pulumi.yaml above ${from}: the project directory cannot be found`);
}

export const PROJECT_DIR = projectDirAbove(__dirname);
