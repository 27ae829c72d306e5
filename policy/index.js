// The pack's entry point (package.json "main"): the compiled pack when the build is current, else
// its TypeScript sources; installed from the package, dist/ (entry.js says why).
"use strict";
module.exports = require(require("./entry").packEntry(__dirname));
