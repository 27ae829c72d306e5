/**
 * `npm run pack-apply`: writes host/apply.sh.gz.b64, the apply script as the
 * converge commands ship it (compacted, gzip -9, base64). It is checked in so
 * that every machine ships the same bytes (zlib builds differ); the program
 * refuses to run when it no longer matches host/apply.sh.
 */
import * as fs from "fs";
import * as zlib from "zlib";
import { applyScriptText, PACKED_SCRIPT_PATH, packedScriptProblem } from "../host/applyScript";
import { parseCli, runCli } from "./cli";

const USAGE = "usage: npm run pack-apply     (writes host/apply.sh.gz.b64 from host/apply.sh)";

runCli(async () => {
  parseCli(process.argv.slice(2), {}, USAGE);
  const packed = zlib.gzipSync(Buffer.from(applyScriptText(), "utf8"), { level: 9 }).toString("base64");
  fs.writeFileSync(PACKED_SCRIPT_PATH, packed + "\n");
  const problem = packedScriptProblem();
  if (problem) {
    process.stderr.write(`${problem}\n`);
    return 1;
  }
  process.stdout.write(`wrote ${PACKED_SCRIPT_PATH}: ${applyScriptText().length} bytes of script, ${packed.length} packed\n`);
  return 0;
}, 1);
