import type { ResourceValidationPolicy } from "@pulumi/policy";
import { keyValues, shippedHost, who } from "../../shipped/hosts";
import { violation } from "../support/define";
import { RABBITMQ_CONF } from "../../facts/paths";

/** RabbitMQ's default tcp_listen_options (rabbit.app, 3.10.8). */
const DEFAULTS = ["backlog", "nodelay", "linger.on", "linger.timeout", "exit_on_close"];

export const rabbitmqListenOptions: ResourceValidationPolicy = {
  name: "rabbitmq-listen-options",
  description: "Warns when rabbitmq.conf sets some tcp_listen_options but not RabbitMQ's defaults: setting any one key replaces the whole default list (measured: only keepalive remained).",
  enforcementLevel: "advisory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    const conf = h?.file(RABBITMQ_CONF);
    if (!h || !conf) return;
    const kv = keyValues(conf.content);
    if (![...kv.keys()].some((k) => k.startsWith("tcp_listen_options."))) return;
    const missing = DEFAULTS.filter((d) => !kv.has(`tcp_listen_options.${d}`));
    if (missing.length) {
      violation(report, who(h), `${RABBITMQ_CONF} sets tcp_listen_options but not ${missing.map((m) => `tcp_listen_options.${m}`).join(", ")}; those defaults are then lost`, "write RabbitMQ's defaults (backlog 128, nodelay true, linger on/0, exit_on_close false) next to keepalive");
    }
  },
};
