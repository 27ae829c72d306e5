import type { ResourceValidationPolicy } from "@pulumi/policy";
import { iniGet, parseIni } from "../../formats/ini";
import { keyValues, shippedHost, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";
import { NEUTRON_CONF, NOVA_CONF, RABBITMQ_CONF } from "../../facts/paths";

const configSchema = {
  properties: {
    minSeconds: { type: "number" as const, description: "Lowest broker heartbeat, s: RabbitMQ warns below 5 (heartbeat guide).", default: 5 },
    maxSeconds: { type: "number" as const, description: "Highest broker heartbeat, s: RabbitMQ's own default is 60; longer lets dead peers linger (L7).", default: 60 },
  },
};

const CLIENT_FILES = [NOVA_CONF, NEUTRON_CONF];

export const amqpHeartbeat: ResourceValidationPolicy = {
  name: "amqp-heartbeat",
  description: "Blocks a broker heartbeat of 0 or outside 5–60 s, and OpenStack services with heartbeat_timeout_threshold 0 (L7; RabbitMQ calls disabling heartbeats highly recommended against).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const c = settings<{ minSeconds: number; maxSeconds: number }>(configSchema, args);
    const conf = h.file(RABBITMQ_CONF);
    if (conf) {
      const raw = keyValues(conf.content).get("heartbeat");
      const hb = raw === undefined ? 60 : Number(raw);
      if (!(hb >= c.minSeconds && hb <= c.maxSeconds)) {
        violation(report, who(h), `${RABBITMQ_CONF} heartbeat = ${raw}${hb === 0 ? " disables heartbeats" : ` is outside ${c.minSeconds}–${c.maxSeconds} s`} (L7)`, `set rabbitmq.heartbeatSeconds between ${c.minSeconds} and ${c.maxSeconds} (5–20 is RabbitMQ's recommendation)`);
      }
    }
    for (const path of CLIENT_FILES) {
      const f = h.file(path);
      if (!f) continue;
      const v = iniGet(parseIni(f.content), "oslo_messaging_rabbit", "heartbeat_timeout_threshold");
      if (v !== undefined && Number(v) === 0) {
        violation(report, who(h), `${path} [oslo_messaging_rabbit] heartbeat_timeout_threshold = 0 disables client heartbeats (L7)`, "set rabbitmq.heartbeatTimeoutThreshold to 60 (oslo.messaging's default)");
      }
    }
  },
};
