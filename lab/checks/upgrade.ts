/**
 * An upgrade, as the stack does it (lab check 6): the version set moved to the
 * newer build of a pinned package in the lab's repository (rabbitmq-server
 * …+lab1). Only the commands of the hosts that install it change; running
 * them installs the new version under the stack's policy-rc.d, moves the hold,
 * restarts the service that runs the package's code (its MainPID changes) and
 * nothing else on those hosts, and the brokers are one cluster again after
 * each host (the converge's own health check). Then the version set moves back
 * (a downgrade, the same way), so the lab ends as it was.
 */
import type { Check, Lab, Recorder } from "../types";
import type { RemoteCommand } from "../converge";
import { restartedBetween, serviceStates, pidText } from "./booted";

function changedCommands(before: RemoteCommand[], after: RemoteCommand[]): RemoteCommand[] {
  const old = new Map(before.map((c) => [c.name, c]));
  return after.filter((c) => old.get(c.name)?.stdin !== c.stdin || old.get(c.name)?.create !== c.create);
}

async function move(lab: Lab, rec: Recorder, label: string, from: RemoteCommand[], to: RemoteCommand[], version: string): Promise<boolean> {
  const { pkg } = lab.upgrade;
  const changed = changedCommands(from, to);
  const hosts = lab.hosts.filter((h) => changed.some((c) => c.host === h.address));
  const installs = lab.hosts.filter((h) => h.exec(["dpkg-query", "-W", pkg]).status === 0);
  rec.expect(
    changed.length > 0 && hosts.length === installs.length && hosts.every((h) => installs.includes(h)) && changed.every((c) => c.name.endsWith("-converge")),
    `${label}: only the converge commands of the hosts that install ${pkg} change`,
    `changed: ${changed.map((c) => c.name).join(", ") || "none"}; ${pkg} is on ${installs.map((h) => h.name).join(", ")}`,
  );
  const before = new Map(installs.map((h) => [h.name, serviceStates(h)]));
  const res = await lab.converge(changed);
  if (!rec.expect(!res.failed, `${label}: the converge commands succeed (each host's health and cluster checks pass)`, res.runs.map((r) => `${r.name}: exit ${r.status} ${r.summary ?? ""}`).join("; "))) return false;
  for (const h of installs) {
    const got = h.exec(["dpkg-query", "-W", "-f", "${Version}", pkg]).stdout.trim();
    const held = h.exec(["apt-mark", "showhold"]).stdout.split("\n").includes(pkg);
    rec.expect(got === version && held, `${label}: ${h.name} has ${pkg} ${version}, held`, `dpkg: ${got}; held: ${held}`);
    const after = serviceStates(h);
    const restarted = restartedBetween(before.get(h.name)!, after);
    rec.expect(
      JSON.stringify(restarted) === JSON.stringify([`${pkg}.service`]),
      `${label}: on ${h.name} exactly ${pkg}.service restarted (new MainPID), nothing else`,
      `restarted: ${restarted.join(", ") || "nothing"}; ${pidText(before.get(h.name)!.get(`${pkg}.service`))} → ${pidText(after.get(`${pkg}.service`))}`,
    );
  }
  const cluster = installs[0]?.exec(["rabbitmqctl", "-q", "cluster_status", "--formatter", "json"]);
  if (cluster?.status === 0) {
    const running = ((JSON.parse(cluster.stdout) as { running_nodes?: string[] }).running_nodes ?? []).length;
    rec.expect(running === lab.hostsWithRole("messaging").length, `${label}: the brokers are one cluster again`, `${running} running nodes`);
  }
  return true;
}

export const upgradeCheck: Check = {
  id: "upgrade",
  lesson: "L1",
  title: "A version set moved to a newer build: installed, held, the package's service restarted and nothing else; and back",
  needs: [],
  async run(lab, rec) {
    const { pkg, from, to } = lab.upgrade;
    const vsKey = Object.entries(lab.fleet.spec.versionSets).find(([, v]) => Object.values(v).includes(from))?.[0];
    const component = vsKey ? Object.entries(lab.fleet.spec.versionSets[vsKey]).find(([, v]) => v === from)?.[0] : undefined;
    if (!vsKey || !component) throw new Error(`no version set pins ${pkg} ${from}`);
    const base = lab.commandsOf(lab.evaluation);
    const upgraded = lab.commandsOf(await lab.evaluateWith([[`versionSets.${vsKey}.${component}`, to]]));
    if (!(await move(lab, rec, `${component} ${from} → ${to}`, base, upgraded, to))) return;
    await move(lab, rec, `back to ${from}`, upgraded, base, from);
  },
};
