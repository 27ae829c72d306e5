/**
 * The lab control plane's configuration files (lab-only: in production the
 * fleet assumes a control plane exists). Pure: settings in, text out. What the
 * README's "What the fleet needs from the control plane" asks of a real one,
 * this one has: service users in project `service` with the admin role, nova
 * reached by nova-compute as `nova` for Placement too, ML2 with openvswitch and
 * l2population, the fleet's tunnel type, the provider physnet flat, nova's
 * metadata API with the fleet's shared secret, and the fleet's own brokers
 * with quorum queues.
 */
import { renderIni, type IniDoc } from "../../formats/ini";

export interface ControlPlaneSettings {
  /** The control plane host's address (every API listens there). */
  address: string;
  region: string;
  /** oslo.messaging transport URL: the fleet's brokers, the stack's user (transportUrl of render/common). */
  transportUrl: string;
  quorumQueues: boolean;
  /** The fleet's provider physnets (flat) and tunnel type. */
  physnets: string[];
  tunnelType: "vxlan" | "geneve";
  /** Network nodes: dhcp_agents_per_network is at least 2 when there are several. */
  networkNodes: number;
  passwords: {
    /** MariaDB users (lab-generated). */
    db: Record<"keystone" | "placement" | "nova" | "neutron", string>;
    /** Keystone users: admin and placement lab-generated; nova and neutron the stack's service passwords. */
    admin: string;
    placement: string;
    nova: string;
    neutron: string;
    metadataSecret: string;
  };
}

const LAB_HEADER = ["Lab control plane (lab/booted/controlPlane): written by the lab, not by the stack."];
const keystoneUrl = (s: ControlPlaneSettings) => `http://${s.address}:5000`;
const db = (s: ControlPlaneSettings, user: keyof ControlPlaneSettings["passwords"]["db"], name: string = user) => `mysql+pymysql://${user}:${s.passwords.db[user]}@${s.address}/${name}`;

/** A keystoneauth password section body. */
function auth(s: ControlPlaneSettings, username: string, password: string): Array<[string, string]> {
  return [
    ["auth_type", "password"],
    ["auth_url", `${keystoneUrl(s)}/v3`],
    ["project_domain_name", "Default"],
    ["user_domain_name", "Default"],
    ["project_name", "service"],
    ["username", username],
    ["password", password],
    ["region_name", s.region],
  ];
}

export function renderMariadbConf(s: ControlPlaneSettings): string {
  return renderIni([["mysqld", [["bind-address", s.address], ["skip-name-resolve", 1], ["max_connections", 500]]]], LAB_HEADER);
}

/** SQL creating every database and user (idempotent). */
export function renderDatabasesSql(s: ControlPlaneSettings): string {
  const dbs: Array<[string, keyof ControlPlaneSettings["passwords"]["db"]]> = [
    ["keystone", "keystone"],
    ["placement", "placement"],
    ["nova_api", "nova"],
    ["nova", "nova"],
    ["nova_cell0", "nova"],
    ["neutron", "neutron"],
  ];
  const users = [...new Set(dbs.map(([, u]) => u))];
  return [
    ...dbs.map(([d]) => `CREATE DATABASE IF NOT EXISTS ${d};`),
    ...users.map((u) => `CREATE USER IF NOT EXISTS '${u}'@'%' IDENTIFIED BY '${s.passwords.db[u]}';`),
    ...dbs.map(([d, u]) => `GRANT ALL PRIVILEGES ON ${d}.* TO '${u}'@'%';`),
    "FLUSH PRIVILEGES;",
    "",
  ].join("\n");
}

export function renderKeystoneConf(s: ControlPlaneSettings): string {
  return renderIni(
    [
      ["DEFAULT", [["log_dir", "/var/log/keystone"], ["log_file", "keystone.log"]]],
      ["database", [["connection", db(s, "keystone")]]],
      ["token", [["provider", "fernet"]]],
    ],
    LAB_HEADER,
  );
}

/** Environment for the admin's `openstack` CLI (sourced by bash on the control plane host). */
export function renderAdminOpenrc(s: ControlPlaneSettings): string {
  return [
    `export OS_USERNAME=admin`,
    `export OS_PASSWORD='${s.passwords.admin}'`,
    `export OS_PROJECT_NAME=admin`,
    `export OS_USER_DOMAIN_NAME=Default`,
    `export OS_PROJECT_DOMAIN_NAME=Default`,
    `export OS_AUTH_URL=${keystoneUrl(s)}/v3`,
    `export OS_IDENTITY_API_VERSION=3`,
    `export OS_REGION_NAME=${s.region}`,
    "",
  ].join("\n");
}

export function renderPlacementConf(s: ControlPlaneSettings): string {
  return renderIni(
    [
      ["api", [["auth_strategy", "keystone"]]],
      ["keystone_authtoken", [["www_authenticate_uri", keystoneUrl(s)], ...auth(s, "placement", s.passwords.placement)]],
      ["placement_database", [["connection", db(s, "placement")]]],
    ],
    LAB_HEADER,
  );
}

const messaging = (s: ControlPlaneSettings): IniDoc[number] => ["oslo_messaging_rabbit", [["rabbit_quorum_queue", s.quorumQueues ? true : undefined]]];

/** nova.conf of nova-api, -conductor and -scheduler (one cell, cell1, on the fleet's brokers). */
export function renderControlNovaConf(s: ControlPlaneSettings): string {
  return renderIni(
    [
      ["DEFAULT", [["my_ip", s.address], ["state_path", "/var/lib/nova"], ["transport_url", s.transportUrl], ["enabled_apis", "osapi_compute,metadata"]]],
      ["api", [["auth_strategy", "keystone"]]],
      ["api_database", [["connection", db(s, "nova", "nova_api")]]],
      ["database", [["connection", db(s, "nova")]]],
      ["conductor", [["workers", 1]]],
      ["scheduler", [["workers", 1]]],
      ["keystone_authtoken", [["www_authenticate_uri", keystoneUrl(s)], ...auth(s, "nova", s.passwords.nova)]],
      ["placement", auth(s, "placement", s.passwords.placement)],
      ["neutron", [...auth(s, "neutron", s.passwords.neutron), ["service_metadata_proxy", true], ["metadata_proxy_shared_secret", s.passwords.metadataSecret]]],
      ["oslo_concurrency", [["lock_path", "/var/lib/nova/tmp"]]],
      messaging(s),
    ],
    LAB_HEADER,
  );
}

export function renderControlNeutronConf(s: ControlPlaneSettings): string {
  return renderIni(
    [
      [
        "DEFAULT",
        [
          ["core_plugin", "ml2"],
          ["service_plugins", "router"],
          ["allow_overlapping_ips", true],
          ["auth_strategy", "keystone"],
          ["transport_url", s.transportUrl],
          ["notify_nova_on_port_status_changes", true],
          ["notify_nova_on_port_data_changes", true],
          ["dhcp_agents_per_network", Math.max(1, Math.min(2, s.networkNodes))],
          ["api_workers", 1],
          ["rpc_workers", 1],
          ["rpc_state_report_workers", 1],
        ],
      ],
      ["database", [["connection", db(s, "neutron")]]],
      ["keystone_authtoken", [["www_authenticate_uri", keystoneUrl(s)], ...auth(s, "neutron", s.passwords.neutron)]],
      ["nova", auth(s, "nova", s.passwords.nova)],
      ["oslo_concurrency", [["lock_path", "/var/lib/neutron/tmp"]]],
      messaging(s),
    ],
    LAB_HEADER,
  );
}

export function renderMl2Conf(s: ControlPlaneSettings): string {
  return renderIni(
    [
      ["ml2", [["type_drivers", `flat,${s.tunnelType}`], ["tenant_network_types", s.tunnelType], ["mechanism_drivers", "openvswitch,l2population"], ["extension_drivers", "port_security"]]],
      ["ml2_type_flat", [["flat_networks", s.physnets.join(",")]]],
      [`ml2_type_${s.tunnelType}`, [["vni_ranges", "1:1000"]]],
    ],
    LAB_HEADER,
  );
}

/** debconf answers: none of Debian's OpenStack packages configures anything at install (the lab does). */
export const CONTROL_PRESEED = [
  "keystone keystone/configure_db boolean false",
  "keystone keystone/create-admin-tenant boolean false",
  "keystone keystone/register-endpoint boolean false",
  "nova-common nova/configure_db boolean false",
  "nova-common nova/configure_ksat boolean false",
  "nova-common nova/configure_rabbit boolean false",
  "nova-common nova/configure_placement boolean false",
  "nova-common nova/configure_neutron boolean false",
  "nova-api novaapi/configure_db boolean false",
  "nova-api nova/configure_api-endpoint boolean false",
  "placement-common placement/configure_db boolean false",
  "placement-common placement/configure_ksat boolean false",
  "placement-api placement/configure_api-endpoint boolean false",
  "neutron-common neutron/configure_db boolean false",
  "neutron-common neutron/configure_rabbit boolean false",
  "neutron-common neutron/configure_ksat boolean false",
  "neutron-common neutron/configure_nova boolean false",
  "neutron-api neutron/configure_api-endpoint boolean false",
  "",
].join("\n");
