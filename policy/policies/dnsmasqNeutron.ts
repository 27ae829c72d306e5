import type { ResourceValidationPolicy } from "@pulumi/policy";
import { compareDebVersions, isExactDebVersion, upstreamOf } from "../../formats/dpkg";
import { iniGet, parseIni } from "../../formats/ini";
import { shippedHost, who, type ShippedHost } from "../../shipped/hosts";
import { settings, violation } from "../support/define";

const configSchema = {
  properties: {
    minVersion: { type: "string" as const, description: "Lowest dnsmasq upstream version: Neutron's MINIMUM_DNSMASQ_VERSION 2.67 (neutron/cmd/sanity/checks.py; L5).", default: "2.67" },
  },
};

/** The dnsmasq instances a host runs itself: enabled units whose ExecStart is dnsmasq, with their options. */
export function dnsmasqInstances(h: ShippedHost): Array<{ unit: string; options: string[] }> {
  const out: Array<{ unit: string; options: string[] }> = [];
  for (const f of h.files()) {
    const m = /^\/etc\/systemd\/system\/([^/]+\.service)$/.exec(f.path);
    if (!m) continue;
    const exec = iniGet(parseIni(f.content), "Service", "ExecStart");
    if (!exec || !/(^|\/)dnsmasq$/.test(exec.split(/\s+/)[0])) continue;
    const args = exec.split(/\s+/).slice(1);
    const options = args.filter((a) => a.startsWith("--")).map((a) => a.slice(2));
    const conf = args.find((a) => a.startsWith("--conf-file="))?.slice("--conf-file=".length);
    const confText = conf ? h.file(conf)?.content ?? "" : "";
    options.push(...confText.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
    out.push({ unit: m[1], options });
  }
  return out;
}

export const dnsmasqNeutron: ResourceValidationPolicy = {
  name: "dnsmasq-binding",
  description: "Blocks network nodes with dnsmasq below Neutron's minimum (2.67), and hosts running more than one dnsmasq instance without --bind-interfaces or --bind-dynamic (L5: DHCP renewals failed en masse).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ minVersion: string }>(configSchema, args);
    const dnsmasq = h.packages.find((p) => p.name === "dnsmasq-base");
    const dhcpAgent = h.packages.some((p) => p.name === "neutron-dhcp-agent");
    if (dhcpAgent && !dnsmasq) {
      violation(report, who(h), "neutron-dhcp-agent is installed but dnsmasq-base is not pinned, so apt picks any dnsmasq version (L5)", "pin dnsmasq-base in the version set");
    }
    if (dnsmasq && isExactDebVersion(dnsmasq.version) && compareDebVersions(upstreamOf(dnsmasq.version), c.minVersion) < 0) {
      violation(report, who(h), `dnsmasq-base ${dnsmasq.version} is below Neutron's minimum ${c.minVersion}: several instances do not really bind to their interfaces (L5)`, `pin dnsmasq-base ≥ ${c.minVersion} (2.90-4~deb12u2 on Debian 12)`);
    }
    const instances = dnsmasqInstances(h);
    if (instances.length > 1) {
      for (const i of instances) {
        if (!i.options.some((o) => o === "bind-interfaces" || o === "bind-dynamic")) {
          violation(report, who(h), `${i.unit} is one of ${instances.length} dnsmasq instances on the host and binds neither per interface (bind-interfaces) nor dynamically (bind-dynamic): a second DHCP instance fails to bind, or renewals reach the wrong one (L5)`, "set networking.dhcp.extraDnsmasq[].bind: interfaces");
        }
      }
    }
  },
};
