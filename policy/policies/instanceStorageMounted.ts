import type { ResourceValidationPolicy } from "@pulumi/policy";
import { iniGetAll, parseIni } from "../../formats/ini";
import { INSTANCES_DIR, INSTANCES_MOUNT_UNIT, NOVA_COMPUTE_DROP_IN, unitPath } from "../../facts/paths";
import { shippedHost, profile, who } from "../../shipped/hosts";
import { violation } from "../support/define";

export const instanceStorageMounted: ResourceValidationPolicy = {
  name: "instance-storage-mounted",
  description:
    "Blocks compute hosts that do not mount their instance storage at /var/lib/nova/instances, or whose nova-compute may start without it and write desktops' disks to the root file system (L3).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h || !h.roles.includes("compute")) return;
    const mount = h.file(unitPath(INSTANCES_MOUNT_UNIT));
    const where = mount ? iniGetAll(parseIni(mount.content), "Mount", "Where")[0] : undefined;
    if (!mount || where !== INSTANCES_DIR || !h.enabled.includes(INSTANCES_MOUNT_UNIT)) {
      violation(report, who(h), `no enabled ${INSTANCES_MOUNT_UNIT} mounts the instance storage at ${INSTANCES_DIR}`, `give ${profile(h)}.instanceStorage.device (UUID=…, LABEL=… of the RAID volume) and fsType`);
    }
    const dropIn = h.file(NOVA_COMPUTE_DROP_IN);
    const requires = dropIn ? iniGetAll(parseIni(dropIn.content), "Unit", "RequiresMountsFor").join(" ").split(/\s+/) : [];
    if (!requires.includes(INSTANCES_DIR)) {
      violation(report, who(h), `nova-compute.service does not require ${INSTANCES_DIR} to be mounted (RequiresMountsFor): it would start on the root file system`, `ship ${NOVA_COMPUTE_DROP_IN} with RequiresMountsFor=${INSTANCES_DIR}`);
    }
  },
};
