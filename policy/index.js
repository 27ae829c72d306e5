// The pack's entry point (package.json "main").
//
// In this repository the pack runs from its TypeScript sources (pack.ts):
// `pulumi preview --policy-pack policy` starts it with run-policy-pack, which
// registers ts-node. `npm pack` (what `pulumi policy publish` runs) first
// compiles pack.ts and every module it imports from the repository (formats/,
// facts/, shipped/) into dist/ (the prepack script), so the tarball holds
// everything the pack needs; installed from it, this file loads dist/.
"use strict";
const fs = require("fs");
const path = require("path");

const compiled = path.join(__dirname, "dist", "policy", "pack.js");
module.exports = require(fs.existsSync(path.join(__dirname, "pack.ts")) ? "./pack.ts" : compiled);
