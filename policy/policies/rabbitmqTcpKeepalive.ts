import type { ResourceValidationPolicy } from "@pulumi/policy";
import { factNumber, keyValues, shippedHost, who } from "../../shipped/hosts";
import { settings, violation } from "../support/define";
import { RABBITMQ_CONF, SYSCTL_DIR } from "../../facts/paths";

const KERNEL_DEFAULTS = { time: 7200, intvl: 75, probes: 9 };

const configSchema = {
  properties: {
    marginSeconds: {
      type: "number" as const,
      description: "How far below the firewall idle timeout a dead idle connection must be detected (time + intvl × probes + margin < timeout); 0 = strictly below (L7).",
      default: 0,
    },
  },
};

/** The kernel keepalive timing a host ships (sysctl.d files), kernel defaults where unset. */
export function keepaliveSysctls(h: { files(): Array<{ path: string; content: string }> }): { time: number; intvl: number; probes: number } {
  const v = { ...KERNEL_DEFAULTS };
  for (const f of h.files().filter((x) => x.path.startsWith(SYSCTL_DIR)).sort((a, b) => a.path.localeCompare(b.path))) {
    const kv = keyValues(f.content);
    const n = (k: string) => (kv.has(k) ? Number(kv.get(k)) : undefined);
    v.time = n("net.ipv4.tcp_keepalive_time") ?? v.time;
    v.intvl = n("net.ipv4.tcp_keepalive_intvl") ?? v.intvl;
    v.probes = n("net.ipv4.tcp_keepalive_probes") ?? v.probes;
  }
  return v;
}

export const rabbitmqTcpKeepalive: ResourceValidationPolicy = {
  name: "rabbitmq-tcp-keepalive",
  description: "Blocks RabbitMQ brokers without TCP keepalive, or whose kernel keepalive would not detect an idle connection before the firewall drops it (L7: compute nodes stopped receiving messages).",
  enforcementLevel: "mandatory",
  configSchema,
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    const conf = h?.file(RABBITMQ_CONF);
    if (!h || !conf) return;
    const c = settings<{ marginSeconds: number }>(configSchema, args);
    const kv = keyValues(conf.content);
    if (kv.get("tcp_listen_options.keepalive") !== "true") {
      violation(report, who(h), `${RABBITMQ_CONF} tcp_listen_options.keepalive = ${kv.get("tcp_listen_options.keepalive") ?? "unset (off)"}: idle AMQP connections are silently dropped by the firewall (L7)`, "set rabbitmq.keepalive.enabled: true");
    }
    const k = keepaliveSysctls(h);
    const idle = factNumber(h, "firewall_idle_timeout_s");
    const detect = k.time + k.intvl * k.probes;
    if (idle === undefined) {
      violation(report, who(h), "the host document declares no firewall_idle_timeout_s, so keepalive timing cannot be judged", "set rabbitmq.firewallIdleTimeoutSeconds");
    } else if (!(detect + c.marginSeconds < idle)) {
      violation(
        report,
        who(h),
        `tcp_keepalive_time ${k.time} + intvl ${k.intvl} × probes ${k.probes} = ${detect} s is not below the firewall idle timeout ${idle} s${c.marginSeconds ? ` minus a ${c.marginSeconds} s margin` : ""} (L7)`,
        `lower rabbitmq.keepalive.timeSeconds (e.g. ${Math.max(1, Math.floor(idle / 6))}) so time + interval × probes < ${idle - c.marginSeconds}`,
      );
    }
  },
};
