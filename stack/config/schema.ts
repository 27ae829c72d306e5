/**
 * The one zod schema for the fleet config (`vdi-fleet:fleet` in Pulumi.<stack>.yaml).
 *
 * The schema rejects input that cannot mean anything (wrong types, negative
 * IOPS, version ranges, unknown roles, impossible RAID layouts, overlapping
 * address ranges, …). It deliberately accepts settings that are valid but
 * unsafe (a RAM ratio of 1.5, keepalive off, RAID 0): those are the policy
 * pack's to block, with the lesson that explains why, so that a reviewer sees
 * them in `pulumi preview` rather than as a config error.
 *
 * Cross-field checks that need the whole config live in `load.ts`.
 */
import { z } from "zod";
import { parseDebVersion } from "../../formats/dpkg";
import { IOPS_PER_BOOT } from "../../facts/bootStorm";
import { COMPONENTS, ROLES, type Component, type Role, type VersionSet } from "../../facts/packages";

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, { error: "must be lower-case letters, digits and '-', starting with a letter or digit" });

const exactVersion = z.string().superRefine((v, ctx) => {
  const p = parseDebVersion(v);
  if (typeof p === "string") ctx.addIssue({ code: "custom", message: `${p}`, input: v });
});

const ipv4 = z.ipv4({ error: "must be an IPv4 address like 10.20.1.11" });
const cidr = z.cidrv4({ error: "must be an IPv4 CIDR like 10.100.0.0/22" });
const url = z.string().regex(/^https?:\/\/[^\s]+$/, { error: "must be an http(s) URL" });
const iface = z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, { error: "must be a Linux interface name (1-15 characters)" });
const int = (min = 0) => z.number().int().min(min);
const ratio = z.number().min(0);

export const roles = ROLES;
export type { Role };

export const raidLevels = ["none", "raid0", "raid1", "raid5", "raid6", "raid10"] as const;
export type RaidLevel = (typeof raidLevels)[number];

export const hardwareProfileSchema = z.strictObject({
  /** Physical RAM in MiB. */
  ramMb: int(1024),
  /** Logical CPUs (threads) nova sees as VCPU inventory. */
  cpus: int(1),
  numaNodes: int(1).default(1),
  /** nova's [libvirt] virt_type: kvm on hardware with /dev/kvm; qemu (software emulation) only where there is none (the lab). */
  virtType: z.enum(["kvm", "qemu"]).default("kvm"),
  instanceStorage: z.strictObject({
    disks: int(1),
    raidLevel: z.enum(raidLevels),
    hotSpares: int(0).default(0),
    /** Sustained random IOPS the instance storage delivers (measured, not the datasheet). */
    iopsBudget: int(1),
    sizeGb: int(1),
    /**
     * The file system mounted at /var/lib/nova/instances (nova-compute does not start without it):
     * the RAID volume by UUID=… or LABEL=…, or tmpfs (the lab, which has no block devices).
     */
    device: z.string().regex(/^(UUID=[0-9A-Fa-f-]+|LABEL=[A-Za-z0-9_.-]{1,16}|PARTUUID=[0-9A-Fa-f-]+|tmpfs)$/, { error: "must be UUID=<uuid>, LABEL=<label> or PARTUUID=<uuid> of the instance-storage volume (or tmpfs)" }),
    fsType: z.enum(["xfs", "ext4", "tmpfs"]).default("xfs"),
  }),
});

export const flavorSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: "must be letters, digits, '.', '_' or '-'" }),
  vcpus: int(1),
  ramMb: int(256),
  diskGb: int(0),
  /** Nova flavor extra specs; values are strings as the API stores them. */
  extraSpecs: z.record(z.string(), z.string()).default({}),
  /** Public by default so every project can boot desktops; set false and grant access per project otherwise. */
  isPublic: z.boolean().default(true),
});

export const workloadSchema = z.strictObject({
  /** The profile this workload is judged by (policy caps are per kind; L2 for windows-desktop). */
  kind: z.enum(["windows-desktop", "linux-desktop"]),
  flavor: flavorSchema,
  /** IOPS one desktop needs while it boots: 150 for a pooled desktop (CTX135986). */
  bootIopsPerDesktop: int(1).default(IOPS_PER_BOOT),
  /** Whether desktops of different tenants share hosts (KSM side channels, docs/lessons.md, L2). */
  tenancy: z.enum(["shared", "dedicated"]).default("dedicated"),
});

export const ksmSchema = z.strictObject({
  enabled: z.boolean(),
  /** "auto": 0 on multi-NUMA hosts, 1 otherwise (docs/lessons.md, L2). */
  mergeAcrossNodes: z.union([z.literal("auto"), z.literal(0), z.literal(1)]).default("auto"),
  pagesToScan: int(1).default(1000),
  sleepMillisecs: int(1).default(20),
});

export const overcommitSchema = z.strictObject({
  cpuAllocationRatio: ratio.optional(),
  ramAllocationRatio: ratio.optional(),
  diskAllocationRatio: ratio.optional(),
  initialCpuAllocationRatio: ratio.optional(),
  initialRamAllocationRatio: ratio.optional(),
  initialDiskAllocationRatio: ratio.optional(),
  reservedHostMemoryMb: int(0).optional(),
  reservedHostCpus: int(0).optional(),
  ksm: ksmSchema.optional(),
});

export const libvirtGuestsSchema = z.strictObject({
  onBoot: z.enum(["ignore", "start"]),
  /** Seconds between guest starts at host boot; 0 starts all at once (L3). */
  startDelaySeconds: int(0),
  onShutdown: z.enum(["shutdown", "suspend"]),
  shutdownTimeoutSeconds: int(0),
  parallelShutdown: int(0).default(0),
});

export const bootStormSchema = z.strictObject({
  /** nova [DEFAULT] max_concurrent_builds; 0 means unlimited (L3). */
  maxConcurrentBuilds: int(0).optional(),
  /** nova [compute] max_concurrent_disk_ops; 0 means unlimited (L3). */
  maxConcurrentDiskOps: int(0).optional(),
  resumeGuestsStateOnHostBoot: z.boolean().optional(),
  useCowImages: z.boolean().optional(),
  imagePrecacheConcurrency: int(1).optional(),
  libvirtGuests: libvirtGuestsSchema.partial().optional(),
});

/**
 * Where hosts install a version set from: a deb822 apt source (rendered with Signed-By). Only a
 * snapshot of the archive keeps exact pins installable (Debian's mirror keeps one version per suite).
 */
export const aptSourceSchema = z.strictObject({
  uri: url,
  suite: z.string().regex(/^[A-Za-z0-9._/-]+$/, { error: "must be an apt suite like bookworm or bookworm-security" }),
  components: z.array(z.string().regex(/^[a-z0-9-]+$/, { error: "must be an apt component like main" })).min(1).default(["main"]),
  /** The archive's signing key (ASCII-armored OpenPGP public key), a file of the project. */
  signingKeyFile: z.string().min(1),
});
export type AptSource = z.output<typeof aptSourceSchema>;

/** Exact Debian versions of every component (facts/packages.ts), and the apt source they install from. */
export const versionSetSchema = z.strictObject({
  ...(Object.fromEntries(COMPONENTS.map((c) => [c, exactVersion])) as Record<Component, typeof exactVersion>),
  aptSource: aptSourceSchema.optional(),
});
export type { VersionSet };

export const hostGroupSchema = z.strictObject({
  /** A host name, or a pattern with {n} / {n:03} replaced by the host's number. */
  name: z.string().regex(/^[a-z0-9][a-z0-9.{}:-]*$/, { error: "must be a host name or a pattern like cmp-a-{n:03}" }),
  /** Number of hosts in the group (default 1). */
  count: int(1).default(1),
  /** First host number for {n} (default 1). */
  start: int(0).default(1),
  /** SSH address of the first host; the following hosts get consecutive addresses. */
  address: ipv4,
  /** Tunnel (VXLAN) address of the first host; defaults to the SSH address. */
  tunnelAddress: ipv4.optional(),
  roles: z.array(z.enum(roles)).min(1),
  /** Cell of compute hosts (required for compute, not allowed otherwise). */
  cell: name.optional(),
  hardwareProfile: name,
  /** Overrides the cell's or the default version set. */
  versionSet: name.optional(),
});

export const cellSchema = z.strictObject({
  name,
  availabilityZone: name,
  workload: name,
  /** Desktops planned in this cell. */
  desktops: int(0),
  versionSet: name.optional(),
  overcommit: overcommitSchema.optional(),
  bootStorm: bootStormSchema.optional(),
});

export const bridgeSchema = z.strictObject({
  name: z.string().regex(/^br-[a-z0-9-]{1,12}$/, { error: "must be an OVS bridge name like br-provider" }),
  physnet: name,
  /** Physical NIC plugged into the bridge. */
  interface: iface,
});

export const poolSchema = z.strictObject({ start: ipv4, end: ipv4 });

export const providerNetworkSchema = z.strictObject({
  name,
  physnet: name,
  type: z.enum(["flat", "vlan"]),
  segmentationId: int(1).optional(),
  cidr,
  gatewayIp: ipv4,
  allocationPools: z.array(poolSchema).min(1),
});

export const tenantNetworkSchema = z.strictObject({
  name,
  cidr,
  gatewayIp: ipv4.optional(),
  dnsNameservers: z.array(ipv4).default([]),
  allocationPools: z.array(poolSchema).optional(),
  enableDhcp: z.boolean().default(true),
});

export const dnsmasqInstanceSchema = z.strictObject({
  /** The interface this instance serves. */
  interface: iface,
  /** dnsmasq --dhcp-range value, e.g. 10.30.0.100,10.30.0.200,255.255.255.0,12h */
  dhcpRange: z.string().regex(/^[0-9.,a-z]+$/, { error: "must be a dnsmasq dhcp-range like 10.30.0.100,10.30.0.200,255.255.255.0,12h" }),
  /** How the instance binds: per interface (L5). "none" reproduces the production failure. */
  bind: z.enum(["interfaces", "dynamic", "none"]).default("interfaces"),
});

export const networkingSchema = z.strictObject({
  bridges: z.array(bridgeSchema).min(1),
  tunnelType: z.enum(["vxlan", "geneve"]).default("vxlan"),
  /** OVS bridges' datapath: the kernel's (system), or userspace (netdev: hosts without the openvswitch kernel module, like the lab's containers). */
  datapathType: z.enum(["system", "netdev"]).default("system"),
  providerNetwork: providerNetworkSchema,
  tenantNetworks: z.array(tenantNetworkSchema).min(1),
  router: z.strictObject({ name }),
  /**
   * Network nodes' kernel tables, sized for the desktops behind them when not given: the neighbour
   * table (net.ipv4.neigh.default.gc_thresh3, kernel default 1024) and conntrack (nf_conntrack_max).
   */
  networkNodeLimits: z
    .strictObject({
      neighbourEntries: int(1024).optional(),
      conntrackEntries: int(65536).optional(),
    })
    .default({}),
  dhcp: z
    .strictObject({
      leaseDurationSeconds: int(120).default(86400),
      /** dnsmasq instances we run ourselves on network nodes (e.g. for a management network). */
      extraDnsmasq: z.array(dnsmasqInstanceSchema).default([]),
    })
    .default({ leaseDurationSeconds: 86400, extraDnsmasq: [] }),
});

export const rabbitmqSchema = z.strictObject({
  port: int(1).max(65535).default(5672),
  vhost: z.string().regex(/^[A-Za-z0-9/_.-]+$/, { error: "must be a RabbitMQ vhost name like / or openstack" }).default("/"),
  user: name.default("openstack"),
  /** AMQP heartbeat the broker offers, seconds (RabbitMQ guide: 5–20 optimal; 0 disables). */
  heartbeatSeconds: int(0),
  /** oslo.messaging [oslo_messaging_rabbit] heartbeat_timeout_threshold (0 disables). */
  heartbeatTimeoutThreshold: int(0).default(60),
  heartbeatRate: int(1).default(2),
  /** What brokers do when the cluster partitions: pause_minority keeps an odd-sized cluster consistent. */
  partitionHandling: z.enum(["ignore", "pause_minority", "autoheal"]).default("pause_minority"),
  /** oslo.messaging rabbit_quorum_queue: the OpenStack queues survive the loss of a broker. */
  quorumQueues: z.boolean().default(true),
  keepalive: z.strictObject({
    enabled: z.boolean(),
    /** net.ipv4.tcp_keepalive_time (kernel default 7200). */
    timeSeconds: int(1),
    intervalSeconds: int(1),
    probes: int(1),
  }),
  /** Idle timeout of the firewall between the services and the broker (L7). */
  firewallIdleTimeoutSeconds: int(1),
});

export const fleetSchema = z.strictObject({
  region: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: "must be a region name (letters, digits, '.', '_', '-')" }),
  controlPlane: z.strictObject({
    keystoneUrl: url,
    /** Region of the placement/neutron endpoints nova uses; defaults to `region`. */
    placementRegion: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: "must be a region name (letters, digits, '.', '_', '-')" }).optional(),
    glanceUrl: url,
    novncBaseUrl: url,
    /** nova's metadata API as the network nodes' metadata agents reach it (desktops get metadata through it). */
    novaMetadataHost: z.string().regex(/^[A-Za-z0-9.-]+$/, { error: "must be a host name or IPv4 address" }),
    novaMetadataPort: int(1).max(65535).default(8775),
    novaMetadataProtocol: z.enum(["http", "https"]).default("http"),
    /**
     * A control-plane host with nova-manage and the API database, reached over SSH like the fleet's
     * hosts (its key in knownHostsFile): before a cell's aggregate is created or changed, the stack
     * runs `nova-manage cell_v2 discover_hosts --by-service` there, so new compute hosts are mapped.
     */
    cellDiscovery: z.strictObject({
      host: z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, { error: "must be the control-plane host's name" }),
      address: ipv4,
    }),
  }),
  ssh: z.strictObject({
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { error: "must be a Unix user name" }).default("root"),
    port: int(1).max(65535).default(22),
    /** OpenSSH known_hosts file (relative to the project) holding every host's key. */
    knownHostsFile: z.string().min(1),
    perDialTimeoutSeconds: int(1).default(15),
    dialErrorLimit: int(1).default(10),
  }),
  /** Where host documents are applied: "/" in production, the lab's directory in the lab. */
  hostRoot: z.string().regex(/^\/[^\s]*$/, { error: "must be an absolute path without spaces" }).default("/"),
  hardwareProfiles: z.record(name, hardwareProfileSchema),
  workloads: z.record(name, workloadSchema),
  versionSets: z.record(name, versionSetSchema),
  defaults: z.strictObject({
    versionSet: name,
    overcommit: overcommitSchema.default({}),
    bootStorm: bootStormSchema.default({}),
  }),
  cells: z.array(cellSchema).min(1, { error: "at least one cell is needed" }),
  hosts: z.array(hostGroupSchema).min(1, { error: "at least one host is needed" }),
  networking: networkingSchema,
  rabbitmq: rabbitmqSchema,
  rollout: z
    .strictObject({
      /** Hosts converged first, alone, in each cell. */
      canaryHosts: int(1).default(1),
      /** Hosts converged together in each later wave. */
      batchSize: int(1).default(20),
    })
    .default({ canaryHosts: 1, batchSize: 20 }),
});

export type FleetInput = z.input<typeof fleetSchema>;
export type FleetSpec = z.output<typeof fleetSchema>;
export type HardwareProfile = z.output<typeof hardwareProfileSchema>;
export type Workload = z.output<typeof workloadSchema>;
export type Overcommit = z.output<typeof overcommitSchema>;
export type BootStorm = z.output<typeof bootStormSchema>;
export type LibvirtGuests = z.output<typeof libvirtGuestsSchema>;
export type Networking = z.output<typeof networkingSchema>;
export type RabbitmqSpec = z.output<typeof rabbitmqSchema>;
export type Flavor = z.output<typeof flavorSchema>;
