import type { StackValidationPolicy } from "@pulumi/policy";
import { iniGet, parseIni } from "../../formats/ini";
import { NEUTRON_CONF, NOVA_CONF, RABBITMQ_CONF } from "../../facts/paths";
import { OSLO_HEARTBEAT_DEFAULTS, RABBITMQ_DEFAULT_HEARTBEAT, heartbeatPairProblem } from "../../facts/heartbeat";
import { keyValues, shippedHost, who } from "../../shipped/hosts";

const number = (v: string | undefined, dflt: number) => (v === undefined || v.trim() === "" ? dflt : Number(v));

export const amqpHeartbeatPair: StackValidationPolicy = {
  name: "amqp-heartbeat-pair",
  description:
    "Blocks OpenStack services whose heartbeat settings, with the brokers' in the same stack, let the broker close a working but idle connection (oslo.messaging 14 sends a frame only after the negotiated heartbeat of silence, checking every threshold/rate/2; the broker gives up after twice the negotiated heartbeat; L7).",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const brokers = new Set<number>();
    const clients: Array<{ who: string; urn: string; path: string; t: number; r: number }> = [];
    for (const r of args.resources) {
      const h = shippedHost(r.type, r.props);
      if (!h) continue;
      const conf = h.file(RABBITMQ_CONF);
      if (conf) brokers.add(number(keyValues(conf.content).get("heartbeat"), RABBITMQ_DEFAULT_HEARTBEAT));
      for (const path of [NOVA_CONF, NEUTRON_CONF]) {
        const f = h.file(path);
        if (!f) continue;
        const ini = parseIni(f.content);
        clients.push({
          who: who(h),
          urn: r.urn,
          path,
          t: number(iniGet(ini, "oslo_messaging_rabbit", "heartbeat_timeout_threshold"), OSLO_HEARTBEAT_DEFAULTS.timeoutThreshold),
          r: number(iniGet(ini, "oslo_messaging_rabbit", "heartbeat_rate"), OSLO_HEARTBEAT_DEFAULTS.rate),
        });
      }
    }
    // A cell stack's brokers belong to its region stack (same region revision): its clients are
    // judged there; here only against a broker offering at least their own threshold.
    const offered = brokers.size ? [...brokers] : [];
    for (const c of clients) {
      for (const h of offered.length ? offered : [c.t]) {
        const problem = heartbeatPairProblem(h, c.t, c.r);
        if (problem) {
          report(`${c.who}: ${c.path} [oslo_messaging_rabbit] heartbeat_timeout_threshold = ${c.t}, heartbeat_rate = ${c.r} with a broker heartbeat of ${h}: ${problem}. Fix: set rabbitmq.heartbeatTimeoutThreshold ≤ rabbitmq.heartbeatSeconds and heartbeatRate ≥ 2 × threshold / negotiated heartbeat (e.g. 30, 30, 3).`, c.urn);
          break;
        }
      }
    }
  },
};
