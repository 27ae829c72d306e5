// Which file the pack runs from (index.js). In this repository: the project's compiled
// bin/policy/pack.js when that build is current (run-policy-pack type-checks every TypeScript module
// the pack loads with ts-node: about 4 s a start, against 1.5 s compiled, measured), else the
// TypeScript sources (pack.ts: slower, never stale; stack/freshBuild.ts decides, as for the
// program). Installed from the package (`npm pack`), the compiled dist/.
"use strict";
const fs = require("fs");
const path = require("path");

function packEntry(packDir) {
  if (!fs.existsSync(path.join(packDir, "pack.ts"))) return path.join(packDir, "dist", "policy", "pack.js");
  const project = path.join(packDir, "..");
  const compiled = path.join(project, "bin", "policy", "pack.js");
  const freshBuild = path.join(project, "bin", "stack", "freshBuild.js");
  if (fs.existsSync(compiled) && fs.existsSync(freshBuild) && require(freshBuild).changedSinceBuild(project).length === 0) return compiled;
  return path.join(packDir, "pack.ts");
}

module.exports = { packEntry };
