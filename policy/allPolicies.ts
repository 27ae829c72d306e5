/** The pack's policies, in the order the README documents them. */
import type { Policies, ResourceValidation, StackValidation } from "@pulumi/policy";
import { locateMessage, provenanceFor, remember, stackProvenance } from "./support/provenance";
import { amqpHeartbeat } from "./policies/amqpHeartbeat";
import { amqpHeartbeatPair } from "./policies/amqpHeartbeatPair";
import { aptSourcePinned } from "./policies/aptSourcePinned";
import { bootStormLimits } from "./policies/bootStormLimits";
import { cellCapacityNPlusOne } from "./policies/cellCapacityNPlusOne";
import { cpuAllocationRatio } from "./policies/cpuAllocationRatio";
import { cpuRatioComfort } from "./policies/cpuRatioComfort";
import { diskAllocationRatio } from "./policies/diskAllocationRatio";
import { dnsmasqNeutron } from "./policies/dnsmasqNeutron";
import { exactPackagePins } from "./policies/exactPackagePins";
import { hostDocumentWellFormed } from "./policies/hostDocumentWellFormed";
import { instanceStorageMounted } from "./policies/instanceStorageMounted";
import { instanceStorageRaid } from "./policies/instanceStorageRaid";
import { ksmSharedTenancy } from "./policies/ksmSharedTenancy";
import { ksmWithRamOvercommit } from "./policies/ksmWithRamOvercommit";
import { libvirtGuestsShutdown } from "./policies/libvirtGuestsShutdown";
import { libvirtOvsOrdering } from "./policies/libvirtOvsOrdering";
import { networkNodeTables } from "./policies/networkNodeTables";
import { noPlaintextSecrets } from "./policies/noPlaintextSecrets";
import { novaHypervisorMinimums } from "./policies/novaHypervisorMinimums";
import { packageDenyList } from "./policies/packageDenyList";
import { rabbitmqClusterAvailability } from "./policies/rabbitmqClusterAvailability";
import { rabbitmqListenOptions } from "./policies/rabbitmqListenOptions";
import { rabbitmqTcpKeepalive } from "./policies/rabbitmqTcpKeepalive";
import { raidHotSpare } from "./policies/raidHotSpare";
import { ramAllocationRatio } from "./policies/ramAllocationRatio";
import { reservedHostMemory } from "./policies/reservedHostMemory";
import { sshHostKeyPinned } from "./policies/sshHostKeyPinned";
import { testedVersionCombination } from "./policies/testedVersionCombination";

const judges: Policies = [
  ramAllocationRatio,
  cpuAllocationRatio,
  diskAllocationRatio,
  ksmWithRamOvercommit,
  reservedHostMemory,
  bootStormLimits,
  libvirtGuestsShutdown,
  instanceStorageRaid,
  instanceStorageMounted,
  aptSourcePinned,
  exactPackagePins,
  packageDenyList,
  novaHypervisorMinimums,
  testedVersionCombination,
  libvirtOvsOrdering,
  rabbitmqTcpKeepalive,
  amqpHeartbeat,
  amqpHeartbeatPair,
  rabbitmqClusterAvailability,
  dnsmasqNeutron,
  networkNodeTables,
  sshHostKeyPinned,
  noPlaintextSecrets,
  hostDocumentWellFormed,
  cellCapacityNPlusOne,
  cpuRatioComfort,
  ksmSharedTenancy,
  raidHotSpare,
  rabbitmqListenOptions,
];

/**
 * Every fix names where the setting it asks to change was written (support/provenance.ts): each
 * resource policy first lets the pack remember the components it analyzes (their parent and, for a
 * cell, the provenance of its settings), and the fix of each violation reported for a resource of
 * a cell has its settings located. The judgement is each policy's own, unchanged.
 */
const locatingResource = (v: ResourceValidation): ResourceValidation => (args, report) => {
  remember(args);
  // Looked up only when the policy reports (most resources pass): nothing per resource otherwise.
  return v(args, (message, urn) => report(locateMessage(message, provenanceFor(args)), urn));
};

const locatingStack = (v: StackValidation): StackValidation => (args, report) => {
  let of: ReturnType<typeof stackProvenance> | undefined;
  return v(args, (message, urn) => report(urn ? locateMessage(message, (of ??= stackProvenance(args.resources))(urn)) : message, urn));
};

export const policies: Policies = judges.map((p) => {
  if ("validateResource" in p && p.validateResource) {
    const v = p.validateResource;
    return { ...p, validateResource: Array.isArray(v) ? v.map(locatingResource) : locatingResource(v) };
  }
  if ("validateStack" in p && p.validateStack) return { ...p, validateStack: locatingStack(p.validateStack) };
  return p;
});
