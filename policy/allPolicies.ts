/** The pack's policies, in the order the README documents them. */
import type { Policies } from "@pulumi/policy";
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

export const policies: Policies = [
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
