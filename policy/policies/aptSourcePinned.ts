import type { ResourceValidationPolicy } from "@pulumi/policy";
import { shippedHost, who } from "../../shipped/hosts";
import { APT_SOURCES_DIR, aptSourcePath } from "../../facts/paths";
import { violation } from "../support/define";

/** The deb822 fields of a .sources file ("Key: value" lines). */
function deb822(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (m) out.set(m[1].toLowerCase(), m[2].trim());
  }
  return out;
}

export const aptSourcePinned: ResourceValidationPolicy = {
  name: "apt-source-pinned",
  description:
    "Blocks hosts whose version set names no signed apt source: Debian's mirror keeps one version per suite, so exact pins are only installable from a snapshot of the archive, declared with the key that signs it (L1).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const vs = h.facts.version_set ?? "?";
    const src = h.file(aptSourcePath(vs));
    if (!src) {
      const others = h.files().filter((f) => f.path.startsWith(APT_SOURCES_DIR)).map((f) => f.path);
      violation(report, who(h), `version set ${vs} names no apt source${others.length ? ` (it ships ${others.join(", ")})` : ""}: the pinned versions leave Debian's mirror with its next update, and the host could then not be installed`, `set versionSets.${vs}.aptSource (uri, suite, components, signingKeyFile) to a snapshot of the archive`);
      return;
    }
    const f = deb822(src.content);
    const key = f.get("signed-by");
    const keyFile = key ? h.file(key) : undefined;
    if (!f.get("uris") || !f.get("suites")) {
      violation(report, who(h), `${src.path} names no URIs or Suites`, `set versionSets.${vs}.aptSource.uri and suite`);
    } else if (!key || !keyFile || !/-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(keyFile.content)) {
      violation(report, who(h), `${src.path} is not signed by a key the host is given (Signed-By: ${key ?? "none"}): apt would trust any archive key for it, or none`, `set versionSets.${vs}.aptSource.signingKeyFile to the archive's ASCII-armored key`);
    }
  },
};
