import type { ResourceValidationPolicy } from "@pulumi/policy";
import { parseDebVersion } from "../../formats/dpkg";
import { shippedHost, who } from "../../shipped/hosts";
import { violation } from "../support/define";
import { APT_PINS } from "../../facts/paths";


/** Stanzas of an apt preferences file: Package / Pin / Pin-Priority. */
export function parsePreferences(text: string): Array<{ packages: string[]; pin?: string; priority?: number }> {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line.trim());
        if (m && !line.trim().startsWith("#")) fields.set(m[1].toLowerCase(), m[2].trim());
      }
      return { packages: (fields.get("package") ?? "").split(/\s+/).filter(Boolean), pin: fields.get("pin"), priority: fields.has("pin-priority") ? Number(fields.get("pin-priority")) : undefined };
    })
    .filter((s) => s.packages.length > 0);
}

export const exactPackagePins: ResourceValidationPolicy = {
  name: "exact-package-pins",
  description: "Blocks hosts whose packages are not pinned to an exact Debian version with apt Pin-Priority 1001 written before they are installed (L1).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h || h.packages.length === 0) return;
    const pins = h.file(APT_PINS);
    const stanzas = pins ? parsePreferences(pins.content) : [];
    const order = h.doc.entries.map((e) => (e.kind === "file" ? e.file.path : e.kind));
    if (!pins) {
      violation(report, who(h), `no apt preferences file ${APT_PINS} pins the packages`, "ship the pins with the host document (the program renders them from the version set)");
    } else if (order.indexOf(APT_PINS) > order.indexOf("package")) {
      violation(report, who(h), `${APT_PINS} is written after the packages are installed, so the first install is not pinned`, "write the pins before the first package directive");
    }
    for (const p of h.packages) {
      const parsed = parseDebVersion(p.version);
      if (typeof parsed === "string") {
        violation(report, who(h), `package ${p.name} has version ${JSON.stringify(p.version)}: ${parsed}`, `pin ${p.name} to the exact version from \`apt-cache policy ${p.name}\` in the version set`);
        continue;
      }
      if (!pins) continue;
      const s = stanzas.find((x) => x.packages.includes(p.name));
      if (!s || s.pin !== `version ${p.version}`) {
        violation(report, who(h), `${APT_PINS} does not pin ${p.name} to version ${p.version}${s?.pin ? ` (it says "Pin: ${s.pin}")` : ""}`, `add "Package: ${p.name} / Pin: version ${p.version} / Pin-Priority: 1001"`);
      } else if (s.priority === undefined || Number.isNaN(s.priority) || s.priority < 1001) {
        violation(report, who(h), `${APT_PINS} pins ${p.name} with Pin-Priority ${s.priority ?? "unset"}; below 1001 apt keeps or installs other versions`, "use Pin-Priority: 1001");
      }
    }
  },
};
