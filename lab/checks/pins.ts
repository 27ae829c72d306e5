/**
 * Lesson L1 on the booted hosts (lab check 2): what the stack installed from
 * the lab's signed repository is exactly what it pinned, and stays so.
 *
 *  - `dpkg-query` shows exactly the pinned version of every `package` line of
 *    the host's document;
 *  - `apt-mark showhold` lists every one of them;
 *  - the repository holds a newer build of one pinned package
 *    (rabbitmq-server …+lab1): `apt-get -s upgrade` on a host that has it keeps
 *    the pinned version, and `apt-cache policy` shows the newer one as a
 *    candidate only without the pins (negative control: the same apt with the
 *    host's preferences and holds ignored would take it);
 *  - the apt source is the stack's deb822 file with Signed-By, and apt
 *    verified the repository's signature (no "unauthenticated" anywhere).
 */
import type { Check } from "../types";
import { mainDocument } from "./booted";

export const pinsCheck: Check = {
  id: "pins",
  lesson: "L1",
  title: "Every pinned package at exactly its version and held; the newer build in the repository is not taken",
  needs: [],
  async run(lab, rec) {
    for (const host of lab.hosts.filter((h) => !h.roles.includes("control"))) {
      const doc = mainDocument(lab, host);
      if (!doc) {
        rec.fail(`${host.name}: its document`, "no converge command for it");
        continue;
      }
      const pins = doc.entries.flatMap((e) => (e.kind === "package" ? [{ name: e.name, version: e.version }] : []));
      const q = host.exec(["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n", ...pins.map((p) => p.name)]);
      const got = new Map(q.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/)).map(([n, v, st]) => [n, { v, st }] as const));
      const off = pins.filter((p) => got.get(p.name)?.v !== p.version || !/^[hi]i/.test(got.get(p.name)?.st ?? ""));
      rec.expect(off.length === 0 && pins.length > 0, `${host.name}: dpkg shows the ${pins.length} pinned versions installed`, off.length ? off.map((p) => `${p.name}: ${got.get(p.name)?.v ?? "not installed"} (${got.get(p.name)?.st ?? "-"}), pinned ${p.version}`).join("; ") : pins.map((p) => `${p.name}=${p.version}`).join(", "));
      const holds = new Set(host.exec(["apt-mark", "showhold"]).stdout.trim().split("\n").filter(Boolean));
      const unheld = pins.filter((p) => !holds.has(p.name));
      rec.expect(unheld.length === 0, `${host.name}: apt-mark showhold lists every pinned package`, unheld.length ? `not held: ${unheld.map((p) => p.name).join(", ")}` : `held: ${[...holds].sort().join(", ")}`);

      const up = pins.find((p) => p.name === lab.upgrade.pkg);
      if (!up) continue;
      const update = host.exec(["apt-get", "update", "-q"], { timeoutMs: 120_000 });
      rec.expect(update.status === 0 && !/unauthenticated|NO_PUBKEY|not signed/i.test(update.stdout + update.stderr), `${host.name}: apt-get update verifies the lab repository's signature (the stack's Signed-By key)`, (update.stdout + update.stderr).trim().split("\n").filter((l) => /Get:|Hit:|Err|W:/.test(l)).slice(0, 3).join(" | "));
      const policy = host.exec(["apt-cache", "policy", up.name]).stdout;
      const candidate = /Candidate:\s*(\S+)/.exec(policy)?.[1];
      rec.expect(candidate === up.version && policy.includes(lab.upgrade.to), `${host.name}: with ${up.name} ${lab.upgrade.to} in the repository, apt's candidate stays the pinned ${up.version}`, policy.trim().split("\n").map((l) => l.trim()).join(" | "));
      const sim = host.exec(["apt-get", "-s", "-q", "upgrade"], { timeoutMs: 120_000 }).stdout;
      const inst = sim.split("\n").filter((l) => l.startsWith("Inst "));
      rec.expect(!inst.some((l) => l.startsWith(`Inst ${up.name} `)), `${host.name}: apt-get -s upgrade keeps ${up.name} at ${up.version}`, inst.length ? inst.join(" | ") : (/\d+ upgraded.*$/m.exec(sim)?.[0] ?? sim.trim().split("\n").pop() ?? ""));
      // Negative control: the same apt without the stack's pins and holds takes the newer build.
      const free = host.exec(["apt-get", "-s", "-q", "-o", "Dir::Etc::preferencesparts=/nonexistent", "-o", "Dir::Etc::preferences=/nonexistent", "--ignore-hold", "install", up.name], { timeoutMs: 120_000 }).stdout;
      rec.expect(new RegExp(`^Inst ${up.name.replace(/[.+]/g, "\\$&")} \\[${up.version.replace(/[.+~]/g, "\\$&")}\\] \\(${lab.upgrade.to.replace(/[.+~]/g, "\\$&")}`, "m").test(free), `${host.name}: without the pins and holds apt would take ${lab.upgrade.to}`, free.split("\n").find((l) => l.startsWith(`Inst ${up.name}`)) ?? free.trim().split("\n").slice(-2).join(" | "), true);
    }
  },
};
