/**
 * RabbitMQ broker configuration (L7).
 *
 * Setting any tcp_listen_options.* key replaces RabbitMQ's whole default
 * list (docs/lessons.md, L7: measured, only [{keepalive,true}] remained), so the
 * defaults — backlog 128, nodelay true, linger {true,0}, exit_on_close
 * false — are written explicitly next to keepalive.
 */
import type { Fleet } from "../stack/config/load";
import { MANAGED_HEADER, shellScript, shortName } from "./common";

import { RABBITMQ_USERS } from "../facts/paths";

/** RabbitMQ's default tcp_listen_options (rabbit.app of 3.10.8). */
export const RABBITMQ_DEFAULT_LISTEN_OPTIONS: Array<[string, string]> = [
  ["tcp_listen_options.backlog", "128"],
  ["tcp_listen_options.nodelay", "true"],
  ["tcp_listen_options.linger.on", "true"],
  ["tcp_listen_options.linger.timeout", "0"],
  ["tcp_listen_options.exit_on_close", "false"],
];

export function renderRabbitmqConf(fleet: Fleet): string {
  const mq = fleet.spec.rabbitmq;
  const lines: Array<[string, string]> = [
    ["listeners.tcp.default", String(mq.port)],
    ["heartbeat", String(mq.heartbeatSeconds)],
    ...RABBITMQ_DEFAULT_LISTEN_OPTIONS,
    ["tcp_listen_options.keepalive", mq.keepalive.enabled ? "true" : "false"],
    ["loopback_users.guest", "true"],
  ];
  if (fleet.messagingHosts.length > 1) {
    lines.push(["cluster_formation.peer_discovery_backend", "classic_config"]);
    fleet.messagingHosts.forEach((h, i) => lines.push([`cluster_formation.classic_config.nodes.${i + 1}`, `rabbit@${shortName(h.name)}`]));
    // On a partition, the minority side pauses instead of diverging (RabbitMQ's default: ignore).
    lines.push(["cluster_partition_handling", mq.partitionHandling]);
  }
  return [
    ...MANAGED_HEADER.map((h) => `# ${h}`),
    mq.keepalive.enabled
      ? "# L7: TCP keepalive on, with the default listen options kept (setting one key replaces the list)."
      : "# L7: TCP keepalive OFF (unsafe: the firewall drops idle broker connections); default listen options kept.",
    ...lines.map(([k, v]) => `${k} = ${v}`),
    "",
  ].join("\n");
}

/** Creates/updates the OpenStack user from /etc/vdi/rabbitmq-users; passwords go through stdin, never argv. */
export function renderRabbitmqUsersScript(): string {
  return shellScript(
    ["Creates the RabbitMQ users listed in /etc/vdi/rabbitmq-users (user password vhost) and removes guest."],
    [
      `F=${RABBITMQ_USERS}`,
      "rabbitmqctl -q await_startup",
      // -q --no-table-headers prints "user<TAB>[tags]" (3.10 has no tsv formatter). The listing is
      // its own assignment so that set -e stops the script when it fails (a pipeline reports cut's status).
      'users="$(rabbitmqctl -q list_users --no-table-headers)"',
      'existing="$(printf "%s\\n" "$users" | cut -f1)"',
      'while read -r user pass vhost; do',
      '  [ -n "$user" ] || continue',
      '  if printf "%s\\n" "$existing" | grep -qx "$user"; then',
      '    printf "%s\\n" "$pass" | rabbitmqctl -q change_password "$user"',
      "  else",
      '    printf "%s\\n" "$pass" | rabbitmqctl -q add_user "$user"',
      "  fi",
      '  rabbitmqctl -q add_vhost "$vhost" 2>/dev/null || true',
      '  rabbitmqctl -q set_permissions -p "$vhost" "$user" ".*" ".*" ".*"',
      'done < "$F"',
      'if printf "%s\\n" "$existing" | grep -qx guest; then rabbitmqctl -q delete_user guest; fi',
    ],
  );
}

export function renderRabbitmqUsers(user: string, password: string, vhost: string): string {
  if (/\s/.test(password) || password.length === 0) {
    throw new Error("the RabbitMQ password must be non-empty and contain no whitespace");
  }
  return `${user} ${password} ${vhost}\n`;
}

/**
 * Fails (bounded wait, 90 s) unless this broker runs clustered with every broker converged before it:
 * a broker that cannot reach or resolve its peers would otherwise start alone, and the converge
 * succeed. `expected` are the RabbitMQ node names (this broker's included).
 */
export function renderRabbitmqClusterCheck(expected: string[]): string {
  return shellScript(
    [`Fails unless this broker runs in one cluster with: ${expected.join(" ")}.`],
    [
      `expected="${expected.join(" ")}"`,
      "rabbitmqctl -q await_startup",
      "i=0",
      "while :; do",
      // The CLI's JSON (stable across versions; rabbit_nodes:list_running/0 does not exist in 3.10).
      "  running=\"$(rabbitmqctl -q cluster_status --formatter json | sed -n 's/.*\"running_nodes\":\\[\\([^]]*\\)\\].*/\\1/p' || true)\"",
      "  missing=\"\"",
      "  for n in $expected; do case \"$running\" in *\"\\\"$n\\\"\"*) ;; *) missing=\"$missing $n\" ;; esac; done",
      '  [ -z "$missing" ] && { echo "rabbitmq-cluster-check: running with$(for n in $expected; do printf \" %s\" \"$n\"; done)"; exit 0; }',
      "  i=$((i + 1))",
      '  if [ "$i" -ge 30 ]; then echo "rabbitmq-cluster-check: not clustered with$missing (running: $running); check that every broker\'s short host name resolves to its address on this host (/etc/hosts) and that the Erlang cookies match" >&2; exit 1; fi',
      "  sleep 3",
      "done",
    ],
  );
}
