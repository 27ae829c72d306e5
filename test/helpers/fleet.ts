/** Loads a shipped stack's fleet model directly (no Pulumi), for renderer tests. */
import * as fs from "fs";
import * as path from "path";
import { loadFleet, type Fleet } from "../../stack/config/load";
import { PROJECT_DIR, fleetOf, readStackFile, withFleetChange } from "../../review/evaluate";
import type { Change } from "./program";

export function loadStackFleet(stack: string, changes: Change[] = []): Fleet {
  let sf = readStackFile(stack);
  for (const [p, v] of changes) sf = withFleetChange(sf, p, v);
  const r = loadFleet(fleetOf(sf), {
    readFile: (p) => (fs.existsSync(path.resolve(PROJECT_DIR, p)) ? fs.readFileSync(path.resolve(PROJECT_DIR, p), "utf8") : undefined),
  });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return r.fleet;
}

export const TEST_SECRETS = {
  rabbitmqPassword: "p@ss/word:with%chars",
  rabbitmqErlangCookie: "TESTCOOKIE0123456789ABCD",
  novaServicePassword: "nova-test-password",
  neutronServicePassword: "neutron-test-password",
  metadataProxySharedSecret: "metadata-test-secret",
};
