/**
 * The lab's convergence plan and lock, without root: which commands, in which
 * order, with which pinned keys (`npm test`; the booted lab itself is
 * `npm run test:lab`, test/lab.test.ts).
 */
import * as fs from "fs";
import * as path from "path";
import { parseKnownHosts } from "../formats/knownHosts";
import { PROJECT_DIR } from "../review/evaluate";
import { waitForLock } from "../lab/lab";
import { remoteCommands, waves, type RemoteCommand } from "../lab/converge";
import { runStack } from "./helpers/program";
import { ORDER } from "./helpers/labOrder";

describe("lab convergence plan (no root needed)", () => {
  test("brokers one at a time, then the network node, then the cell's canary and the rest, then the cell's host discovery; every command pins the inventory's host key", async () => {
    const ev = await runStack("lab");
    expect(ev.error).toBeUndefined();
    const cmds = remoteCommands(ev.resources);
    expect(waves(cmds).map((w) => w.map((c) => c.name))).toEqual(ORDER.map((n) => [n]));
    const known = parseKnownHosts(fs.readFileSync(path.join(PROJECT_DIR, "inventory", "lab.known_hosts"), "utf8"));
    for (const c of cmds) {
      const entry = known.entries.find((k) => k.patterns.includes(c.host));
      expect(entry).toBeDefined();
      expect(c.hostKey).toBe(`${entry!.keyType} ${entry!.key}`);
    }
    expect(cmds.filter((c) => c.quiet).map((c) => c.name)).toEqual(ORDER.filter((n) => n.endsWith("-credentials")));
    // The discovery runs on the control plane host, which the stack does not converge.
    expect(cmds.find((c) => c.name === "lab-discover-hosts")).toMatchObject({ host: "10.199.0.5", create: "nova-manage cell_v2 discover_hosts --by-service" });
  });

  const cmd = (name: string, after: string[] = []): RemoteCommand => ({ urn: "", name, host: "h", port: 22, user: "root", privateKey: "k", hostKey: "ssh-ed25519 AAAA", perDialTimeout: 1, create: "true", stdin: "", quiet: false, after });

  test("a dependency cycle is refused", () => {
    expect(() => waves([cmd("a", ["b"]), cmd("b", ["a"])])).toThrow(/dependency cycle/);
  });

  test("when only some commands run (the changed ones), they stay ordered through the commands between them", () => {
    const all = [cmd("a1"), cmd("a2", ["a1"]), cmd("b1", ["a2"]), cmd("b2", ["b1"]), cmd("c1", ["b2"])];
    const changed = [all[0], all[2], all[4]];
    expect(waves(changed, all).map((w) => w.map((c) => c.name))).toEqual([["a1"], ["b1"], ["c1"]]);
    // Without the other commands, nothing would order them.
    expect(waves(changed).map((w) => w.map((c) => c.name))).toEqual([["a1", "b1", "c1"]]);
  });

  test("a second lab run waits for the first (bounded) and then says it did not run, naming the other run", async () => {
    const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "vdi-lab-lock-"));
    const lockDir = path.join(dir, "lab.lock");
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, "pid"), String(process.ppid)); // a live process that is not us
      const said: string[] = [];
      const r = await waitForLock(lockDir, 300, (l) => said.push(l));
      expect(typeof r).toBe("string");
      expect(r).toMatch(new RegExp(`another lab run \\(pid ${process.ppid}\\).*still after waiting 0 s: this run did not start`));
      expect(said).toHaveLength(1);
      // Its owner gone, the lock is taken over.
      fs.writeFileSync(path.join(lockDir, "pid"), "999999999");
      const taken = await waitForLock(lockDir, 300, () => undefined);
      expect(typeof taken).not.toBe("string");
      if (typeof taken !== "string") taken.release();
      expect(fs.existsSync(lockDir)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

