/**
 * Rollout safety over real SSH: a command that fails stops the rollout (later
 * waves do not run, as `pulumi up` stops dependents), and a host whose SSH key
 * differs from the pinned one is refused before anything runs on it.
 */
import * as fs from "fs";
import * as path from "path";
import type { Check } from "../types";

export const rolloutCheck: Check = {
  id: "rollout",
  title: "A failed command stops later waves; a host key that is not the pinned one is refused",
  needs: [],
  async run(lab, rec) {
    const commands = lab.commandsOf(lab.evaluation);
    const canary = commands.find((c) => lab.hostsWithRole("compute").some((h) => c.name === `${h.name}-converge` && c.host === h.address));
    if (!canary) throw new Error("no compute host converge command");
    const host = lab.hosts.find((h) => h.address === canary.host)!;
    const novaConf = path.join(host.root, "etc/nova/nova.conf");
    const before = fs.readFileSync(novaConf, "utf8");

    // A document truncated in transit: apply.sh validates everything first, so nothing changes, and the rollout stops.
    const broken = { ...canary, stdin: canary.stdin.replace(/\nend\s*$/, "\n").replace("ram_allocation_ratio", "ram_allocation_ratio_changed_but_truncated") };
    // Everything that waits for the canary, directly or through other commands (the later waves).
    const waiting = new Set([canary.name]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const c of commands) {
        if (!waiting.has(c.name) && c.after.some((a) => waiting.has(a))) {
          waiting.add(c.name);
          grew = true;
        }
      }
    }
    const later = commands.filter((c) => c !== canary && waiting.has(c.name));
    const res = await lab.converge([broken, ...later]);
    rec.expect(res.failed?.name === canary.name, `a truncated document makes ${canary.name} fail`, res.failed ? `exit ${res.failed.status}: ${res.failed.error?.split("\n")[0] ?? ""}` : "it did not fail", true);
    rec.expect(later.length > 0 && res.skipped.length === later.length && res.runs.length === 1, "commands that wait for it do not run", `not run: ${res.skipped.join(", ") || "none"}`);
    rec.expect(fs.readFileSync(novaConf, "utf8") === before, `${host.name} is left as it was (nothing applied from the bad document)`);

    // The pinned host key: another host's key for this address is refused by the SSH client.
    const other = commands.find((c) => c.hostKey !== canary.hostKey);
    if (!other) throw new Error("need two hosts with different keys");
    const wrongKey = { ...canary, name: `${canary.name}-wrong-key`, hostKey: other.hostKey, after: [] };
    const res2 = await lab.converge([wrongKey]);
    const r = res2.runs[0];
    rec.expect(r.status !== 0 && /host key|REMOTE HOST IDENTIFICATION/i.test(r.error ?? ""), `connecting to ${host.name} with ${other.name.replace(/-\w+$/, "")}'s key pinned is refused`, `exit ${r.status}: ${(r.error ?? "").split("\n").find((l) => /key/i.test(l)) ?? ""}`, true);
    rec.expect(fs.readFileSync(novaConf, "utf8") === before, `${host.name} unchanged after the refused connection`);
  },
};
