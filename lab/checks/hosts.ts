/**
 * The converged hosts as their own systemd sees them (lab checks 1 and 8):
 *
 *  - every host's `systemctl is-system-running` is `running` (a `degraded`
 *    host fails, naming its failed units and their last log lines);
 *  - each role's services are active under the host's systemd — brokers
 *    rabbitmq-server; network node OVS and the four neutron agents; compute
 *    hosts OVS, libvirtd, nova-compute and the OVS agent — and so is every unit
 *    the host's document enables or starts (the stack's own), each with its
 *    MainPID in the report;
 *  - sysctls: every key the stack ships under a sysctl file reads the rendered
 *    value inside the host; keys a container cannot set (the machine's kernel
 *    settings: vm.*, kernel.*, fs.*, and net.* keys that are not per network
 *    namespace) are named with what vdi-apply said about them; the machine's
 *    own (root namespace) values of every key are what they were before the
 *    lab booted anything.
 */
import * as fs from "fs";
import type { Check } from "../types";
import { mainDocument, roleServices, shippedSysctls, unitStates } from "./booted";

const norm = (v: string) => v.trim().replace(/\s+/g, " ");

export const hostsCheck: Check = {
  id: "hosts",
  title: "Every host runs (systemd: running), its roles' services and the stack's units are active, its sysctls are the rendered ones and the machine's are untouched",
  needs: [],
  async run(lab, rec) {
    for (const host of lab.hosts) {
      const state = host.exec(["systemctl", "is-system-running"]).stdout.trim();
      const failed = host.exec(["systemctl", "--failed", "--plain", "--no-legend", "--no-pager"]).stdout.trim();
      const why = failed
        ? failed
            .split("\n")
            .map((l) => l.split(/\s+/)[0])
            .map((u) => `${u}: ${host.exec(["journalctl", "-u", u, "-n", "3", "--no-pager", "-o", "cat"]).stdout.trim().split("\n").join(" | ").slice(0, 300)}`)
            .join("; ")
        : "";
      rec.expect(state === "running", `${host.name}: systemctl is-system-running = running`, `${state}${why ? `; failed units: ${why}` : ""}`);
      if (host.roles.includes("control")) continue;
      const doc = mainDocument(lab, host);
      const units = roleServices(host, doc);
      const states = unitStates(host, units);
      // A oneshot unit of the stack (stale-port cleanup, OVS bridges) is "active (exited)" once it ran. A unit
      // whose condition does not hold here (KSM: its sysfs is the machine's, read-only) is skipped, not failed.
      const skippedByCondition = states.filter((s) => s.activeState === "inactive" && s.everStarted && s.conditionResult === "no");
      // A unit the document only enables (the boot-time stale-port cleanup) runs at the next boot: enabled, never started yet.
      const enabledOnly = new Set(
        (doc?.entries ?? []).flatMap((e) => (e.kind === "enable" ? [e.unit] : [])).filter((u) => !(doc?.entries ?? []).some((e) => e.kind === "start" && e.unit === u)),
      );
      const waitsForBoot = states.filter((s) => enabledOnly.has(s.id) && s.activeState === "inactive" && !s.everStarted && s.unitFileState === "enabled");
      for (const s of skippedByCondition) {
        const conds = (host.exec(["systemctl", "cat", s.id]).stdout.match(/^Condition\w+=.*$/gm) ?? []).join(" ");
        lab.deviations.push(`${host.name}: ${s.id} skipped, its start condition does not hold in a container (${conds || "see the unit"})`);
      }
      const bad = states.filter((s) => s.activeState !== "active" && !skippedByCondition.includes(s) && !waitsForBoot.includes(s));
      const journal = bad.map((s) => `${s.id}: ${host.exec(["journalctl", "-u", s.id, "-n", "8", "--no-pager", "-o", "cat"]).stdout.trim().split("\n").join(" | ").slice(0, 800)}`);
      rec.expect(
        bad.length === 0,
        `${host.name} [${host.roles.join(",")}]: ${units.length} services and units active (units the stack only enables: enabled, for the next boot)`,
        states
          .map((s) => `${s.id.replace(/\.service$/, "")}=${skippedByCondition.includes(s) ? "skipped (condition)" : waitsForBoot.includes(s) ? "enabled (runs at boot)" : `${s.activeState}/${s.subState}`}${s.mainPid ? ` pid ${s.mainPid}` : ""}`)
          .join(", ") + (journal.length ? `; ${journal.join("; ")}` : ""),
      );

      if (!doc) continue;
      const sysctls = shippedSysctls(doc);
      const set: string[] = [];
      const skipped: string[] = [];
      const wrong: string[] = [];
      const rootChanged: string[] = [];
      for (const [key, { value, file }] of sysctls) {
        const inHost = host.exec(["sysctl", "-n", key]);
        const procPath = `/proc/sys/${key.replace(/\./g, "/")}`;
        const writable = host.exec(["test", "-w", procPath]).status === 0;
        if (inHost.status !== 0) skipped.push(`${key} (absent here: ${inHost.stderr.trim().slice(0, 80)})`);
        else if (norm(inHost.stdout) === norm(value)) set.push(`${key}=${norm(value)}`);
        else if (!writable) skipped.push(`${key} (read-only in a container: the machine's ${norm(inHost.stdout)}; ${file} wants ${norm(value)})`);
        else wrong.push(`${key}=${norm(inHost.stdout)}, rendered ${norm(value)} (${file})`);
        const before = lab.rootSysctlsBefore.get(key);
        const rootNow = fs.existsSync(procPath) ? norm(fs.readFileSync(procPath, "utf8")) : undefined;
        if (before !== undefined && rootNow !== before) rootChanged.push(`${key}: ${before} → ${rootNow}`);
      }
      if (!sysctls.size) continue;
      rec.expect(wrong.length === 0 && set.length > 0, `${host.name}: the shipped per-namespace sysctls read the rendered values inside the host`, wrong.length ? wrong.join("; ") : `${set.join(", ")}`);
      if (skipped.length) lab.deviations.push(`${host.name}: not settable in a container (vdi-apply skips and reports them): ${skipped.join("; ")}`);
      rec.expect(rootChanged.length === 0, `${host.name}: the machine's own values of those ${sysctls.size} keys are unchanged`, rootChanged.join("; ") || `root namespace as before the lab (${[...sysctls.keys()].filter((k) => lab.rootSysctlsBefore.has(k)).length} keys compared)`);
    }
  },
};
