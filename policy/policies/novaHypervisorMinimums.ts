import type { ResourceValidationPolicy } from "@pulumi/policy";
import { compareDebVersions, isExactDebVersion, upstreamOf } from "../../formats/dpkg";
import { shippedHost, who } from "../../shipped/hosts";
import { novaRelease } from "../../facts/nova";
import { violation } from "../support/define";

export const novaHypervisorMinimums: ResourceValidationPolicy = {
  name: "nova-hypervisor-minimums",
  description: "Blocks compute hosts whose libvirt or QEMU is below the minimum of the deployed nova release, or whose nova release is not recorded in facts/nova.ts (L1).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const nova = h.packages.find((p) => p.name === "nova-compute");
    if (!nova || !isExactDebVersion(nova.version)) return;
    const rel = novaRelease(nova.version);
    if (!rel) {
      violation(report, who(h), `nova-compute ${nova.version} is a nova release not recorded in facts/nova.ts, so its libvirt/QEMU minimums and defaults are unknown`, "record the release's MIN_LIBVIRT_VERSION, MIN_QEMU_VERSION and initial_* defaults from nova/virt/libvirt/driver.py and nova/conf/compute.py");
      return;
    }
    for (const [pkg, min, what] of [
      ["libvirt-daemon-system", rel.minLibvirt, "MIN_LIBVIRT_VERSION"],
      ["qemu-system-x86", rel.minQemu, "MIN_QEMU_VERSION"],
    ] as const) {
      const p = h.packages.find((x) => x.name === pkg);
      if (!p) {
        violation(report, who(h), `nova-compute is pinned but ${pkg} is not`, `pin ${pkg} in the version set`);
      } else if (isExactDebVersion(p.version) && compareDebVersions(upstreamOf(p.version), min) < 0) {
        violation(report, who(h), `${pkg} ${p.version} is below nova ${rel.name}'s ${what} ${min}`, `pin ${pkg} ≥ ${min}`);
      }
    }
  },
};
