/**
 * Settings of this machine the booted lab changes, each restored at teardown
 * and named in the report; and the scan for anything a lab left behind.
 *
 *  - fs.inotify.max_user_instances: each booted host's systemd takes about 8 of
 *    the machine's 128 (measured); the lab raises it for its run only.
 */
import * as fs from "fs";
import { run } from "../sys";
import { cgroupName } from "./hosts";

const INOTIFY = "/proc/sys/fs/inotify/max_user_instances";
/** Instances a booted host's systemd and its services take (measured about 8; room for packages' own). */
export const INOTIFY_PER_HOST = 16;

export interface MachineChange {
  what: string;
  from: string;
  to: string;
}

/** Raises the inotify instance limit to fit `hosts` booted hosts over what the machine already uses; returns the change made, if any. */
export function raiseInotify(hosts: number): MachineChange | undefined {
  const current = Number(fs.readFileSync(INOTIFY, "utf8").trim());
  const want = 128 + hosts * INOTIFY_PER_HOST;
  if (current >= want) return undefined;
  fs.writeFileSync(INOTIFY, String(want));
  return { what: "fs.inotify.max_user_instances", from: String(current), to: String(want) };
}

/** Puts back what `raiseInotify` changed; returns a problem when it could not. */
export function restore(change: MachineChange | undefined): string | undefined {
  if (!change) return undefined;
  try {
    fs.writeFileSync(INOTIFY, change.from);
    const now = fs.readFileSync(INOTIFY, "utf8").trim();
    return now === change.from ? undefined : `${change.what} is ${now}, not the ${change.from} it was`;
  } catch (e) {
    return `could not restore ${change.what} to ${change.from}: ${(e as Error).message}`;
  }
}

/** The lab's cgroups (per host, in both hierarchies) that still exist. */
export function leftoverCgroups(prefix: string, hosts: string[]): string[] {
  const out: string[] = [];
  for (const h of hosts) for (const hier of ["systemd", "unified"]) if (fs.existsSync(`/sys/fs/cgroup/${hier}/${cgroupName(prefix, h)}`)) out.push(`/sys/fs/cgroup/${hier}/${cgroupName(prefix, h)}`);
  for (const hier of ["systemd", "unified"]) {
    const base = `/sys/fs/cgroup/${hier}`;
    if (!fs.existsSync(base)) continue;
    for (const e of fs.readdirSync(base)) if (e.startsWith(`${prefix}-`) && !out.includes(`${base}/${e}`)) out.push(`${base}/${e}`);
  }
  return out;
}

/** Mount points at or under `dir` (what a container left mounted on the machine). */
export function mountsUnder(dir: string): string[] {
  const r = run("findmnt", ["-rn", "-o", "TARGET"]);
  return r.stdout.split("\n").filter((m) => m === dir || m.startsWith(dir + "/"));
}
