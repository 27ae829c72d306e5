/**
 * Neutron agent configuration for compute and network hosts, and the
 * dnsmasq instances we run ourselves (bound per interface, L5).
 */
import type { Fleet, HostSpec } from "../stack/config/load";
import type { RabbitmqSpec } from "../stack/config/schema";
import { renderIni } from "../formats/ini";
import { dnsmasqLeaseFile, dnsmasqPidFile } from "../facts/paths";
import { MANAGED_HEADER } from "./common";
import { bridgeMappings } from "./host";

export function renderNeutronConf(fleet: Fleet, host: HostSpec): string {
  const mq: RabbitmqSpec = fleet.spec.rabbitmq;
  return renderIni(
    [
      [
        "DEFAULT",
        [
          ["host", host.name],
          ["core_plugin", "ml2"],
          ["auth_strategy", "keystone"],
          // L5: lease length handed to dnsmasq by the DHCP agent.
          ["dhcp_lease_duration", fleet.spec.networking.dhcp.leaseDurationSeconds],
        ],
      ],
      [
        "oslo_messaging_rabbit",
        [
          ["heartbeat_timeout_threshold", mq.heartbeatTimeoutThreshold],
          ["heartbeat_rate", mq.heartbeatRate],
          ["rabbit_quorum_queue", mq.quorumQueues ? true : undefined],
        ],
      ],
      ["oslo_concurrency", [["lock_path", "/var/lib/neutron/tmp"]]],
      [
        "agent",
        [
          // Debian's sudoers allows only neutron-rootwrap for the neutron user; the code default is plain sudo.
          ["root_helper", "sudo neutron-rootwrap /etc/neutron/rootwrap.conf"],
          ["root_helper_daemon", "sudo neutron-rootwrap-daemon /etc/neutron/rootwrap.conf"],
        ],
      ],
    ],
    [...MANAGED_HEADER, `neutron agents on ${host.name}.`],
  );
}

/** The secret part read by every neutron agent from neutron.conf.d (oslo.config's default config dir). */
export function renderNeutronCredentials(transportUrl: string, metadataProxySharedSecret?: string): string {
  return renderIni(
    [
      [
        "DEFAULT",
        [
          ["transport_url", transportUrl],
          ["metadata_proxy_shared_secret", metadataProxySharedSecret],
        ],
      ],
    ],
    MANAGED_HEADER,
  );
}

/** Metadata for desktops (cloudbase-init) through the L3 agent's proxy to nova's metadata API. */
export function renderMetadataAgentIni(fleet: Fleet): string {
  const cp = fleet.spec.controlPlane;
  return renderIni(
    [
      [
        "DEFAULT",
        [
          ["nova_metadata_host", cp.novaMetadataHost],
          ["nova_metadata_port", cp.novaMetadataPort],
          ["nova_metadata_protocol", cp.novaMetadataProtocol],
        ],
      ],
    ],
    MANAGED_HEADER,
  );
}

export function renderOvsAgentIni(fleet: Fleet, host: HostSpec): string {
  const net = fleet.spec.networking;
  return renderIni(
    [
      [
        "ovs",
        [
          ["bridge_mappings", bridgeMappings(fleet)],
          ["local_ip", host.tunnelAddress],
          // netdev: the userspace datapath, where the kernel has no openvswitch module.
          ["datapath_type", net.datapathType === "netdev" ? "netdev" : undefined],
        ],
      ],
      [
        "agent",
        [
          ["tunnel_types", net.tunnelType],
          ["l2_population", true],
        ],
      ],
      ["securitygroup", [["firewall_driver", "openvswitch"]]],
    ],
    MANAGED_HEADER,
  );
}

export function renderDhcpAgentIni(): string {
  return renderIni(
    [
      [
        "DEFAULT",
        [
          ["interface_driver", "openvswitch"],
          // Neutron starts one dnsmasq per network with --bind-dynamic (Train+); L5 needs dnsmasq ≥ 2.67.
          ["dhcp_driver", "neutron.agent.linux.dhcp.Dnsmasq"],
          ["enable_isolated_metadata", true],
        ],
      ],
    ],
    MANAGED_HEADER,
  );
}

export function renderL3AgentIni(): string {
  return renderIni([["DEFAULT", [["interface_driver", "openvswitch"]]]], MANAGED_HEADER);
}

/** dnsmasq configuration of one of our own DHCP instances (L5: bound to its interface). */
export function renderDnsmasqConf(d: { interface: string; dhcpRange: string; bind: "interfaces" | "dynamic" | "none" }): string {
  const bind = d.bind === "interfaces" ? ["bind-interfaces"] : d.bind === "dynamic" ? ["bind-dynamic"] : [];
  return [
    ...MANAGED_HEADER.map((h) => `# ${h}`),
    `# L5: one instance per interface, bound to it, so unicast renewals reach the right instance.`,
    "port=0",
    "no-resolv",
    "no-hosts",
    `interface=${d.interface}`,
    ...bind,
    `dhcp-range=${d.dhcpRange}`,
    "dhcp-authoritative",
    `dhcp-leasefile=${dnsmasqLeaseFile(d.interface)}`,
    `pid-file=${dnsmasqPidFile(d.interface)}`,
    "",
  ].join("\n");
}
