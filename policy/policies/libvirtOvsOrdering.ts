import type { ResourceValidationPolicy } from "@pulumi/policy";
import { iniGet, iniGetAll, parseIni } from "../../formats/ini";
import { shippedHost, who, type ShippedHost } from "../../shipped/hosts";
import { violation } from "../support/define";
import { LIBVIRT_UNITS, OVS_UNITS, UNIT_DIR, unitPath } from "../../facts/paths";


const words = (vs: string[]) => vs.flatMap((v) => v.split(/\s+/)).filter(Boolean);

/** All [Unit] values of a key for a unit, from its drop-ins (and unit file) shipped in the document. */
export function unitValues(h: ShippedHost, unit: string, key: string): string[] {
  return h
    .files()
    .filter((f) => f.path === unitPath(unit) || (f.path.startsWith(`${unitPath(unit)}.d/`) && f.path.endsWith(".conf")))
    .flatMap((f) => words(iniGetAll(parseIni(f.content), "Unit", key)));
}

/** Shipped units that remove stale OVS ports at boot (oneshot, enabled, script deletes ofport -1 ports). */
export function cleanupUnits(h: ShippedHost): Array<{ unit: string; before: string[]; after: string[] }> {
  const out: Array<{ unit: string; before: string[]; after: string[] }> = [];
  for (const f of h.files()) {
    const m = f.path.startsWith(`${UNIT_DIR}/`) ? /^([^/]+\.service)$/.exec(f.path.slice(UNIT_DIR.length + 1)) : null;
    if (!m) continue;
    const u = parseIni(f.content);
    const exec = iniGet(u, "Service", "ExecStart")?.split(/\s+/)[0]?.replace(/^[-@:+!]+/, "");
    const script = exec ? h.file(exec)?.content ?? "" : "";
    if (!/ofport=-1/.test(script) || !/del-port/.test(script)) continue;
    if (!h.enabled.includes(m[1])) continue;
    out.push({ unit: m[1], before: words(iniGetAll(u, "Unit", "Before")), after: words(iniGetAll(u, "Unit", "After")) });
  }
  return out;
}

export const libvirtOvsOrdering: ResourceValidationPolicy = {
  name: "libvirt-ovs-ordering",
  description: "Blocks hosts where libvirtd or libvirt-guests is not ordered after Open vSwitch (so it stops first), or where no boot-time stale-port cleanup runs before the OVS agent and nova-compute (L6).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const compute = h.roles.includes("compute");
    const network = h.roles.includes("network");
    if (!compute && !network) return;
    if (compute) {
      for (const unit of LIBVIRT_UNITS) {
        const after = unitValues(h, unit, "After");
        const before = unitValues(h, unit, "Before");
        const inverted = before.filter((u) => OVS_UNITS.includes(u));
        if (inverted.length) {
          violation(report, who(h), `${unit} is ordered Before=${inverted.join(" ")}: it would start before and stop after Open vSwitch, inverting L6`, `remove the Before= and order ${unit} After= the OVS units`);
        } else if (!after.includes("openvswitch-switch.service") && !(after.includes("ovsdb-server.service") && after.includes("ovs-vswitchd.service"))) {
          violation(report, who(h), `${unit} is not ordered After= Open vSwitch (After=${after.join(" ") || "nothing"}), so at shutdown OVS can stop first and leave stale ports (L6)`, `ship a drop-in /etc/systemd/system/${unit}.d/*.conf with After=${OVS_UNITS.join(" ")}`);
        }
      }
    }
    const needed = compute ? ["neutron-openvswitch-agent.service", "nova-compute.service"] : ["neutron-openvswitch-agent.service"];
    const units = cleanupUnits(h);
    const ok = units.find((u) => needed.every((n) => u.before.includes(n)) && u.after.some((a) => OVS_UNITS.includes(a)));
    if (!ok) {
      violation(
        report,
        who(h),
        units.length
          ? `the stale-port cleanup ${units.map((u) => u.unit).join(", ")} is not ordered After= OVS and Before= ${needed.join(" and ")}`
          : "no enabled boot-time unit removes stale OVS ports (ofport -1) — Debian ships none for neutron-ovs-cleanup (L6)",
        `ship an enabled oneshot unit After=ovs-vswitchd.service and Before=${needed.join(" ")} that deletes ports with ofport -1`,
      );
    }
  },
};
