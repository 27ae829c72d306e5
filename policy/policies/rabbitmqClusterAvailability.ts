import type { ResourceValidationPolicy } from "@pulumi/policy";
import { iniGet, parseIni } from "../../formats/ini";
import { NEUTRON_CONF, NOVA_CONF, RABBITMQ_CONF } from "../../facts/paths";
import { factNumber, keyValues, shippedHost, who } from "../../shipped/hosts";
import { violation } from "../support/define";

export const rabbitmqClusterAvailability: ResourceValidationPolicy = {
  name: "rabbitmq-cluster-availability",
  description:
    "Blocks a multi-broker fleet whose brokers keep RabbitMQ's default partition handling (ignore: both sides go on and diverge), or whose OpenStack services keep classic queues, which live on one broker and are lost with it (oslo.messaging rabbit_quorum_queue; L7).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const h = shippedHost(args.type, args.props);
    if (!h) return;
    const conf = h.file(RABBITMQ_CONF);
    if (conf) {
      const kv = keyValues(conf.content);
      const nodes = [...kv.keys()].filter((k) => /^cluster_formation\.classic_config\.nodes\./.test(k)).length;
      const handling = kv.get("cluster_partition_handling") ?? "ignore (the default)";
      if (nodes > 1 && !/^(pause_minority|autoheal)$/.test(handling)) {
        violation(report, who(h), `${RABBITMQ_CONF} clusters ${nodes} brokers with cluster_partition_handling = ${handling}: after a network partition both sides keep running and their queues diverge`, "set rabbitmq.partitionHandling: pause_minority (an odd number of brokers) or autoheal");
      } else if (nodes > 1 && handling === "pause_minority" && nodes % 2 === 0) {
        violation(report, who(h), `${RABBITMQ_CONF} uses pause_minority with ${nodes} brokers: a partition into two equal halves pauses every broker`, "run an odd number of brokers, or set rabbitmq.partitionHandling: autoheal");
      }
    }
    const brokers = factNumber(h, "brokers");
    if (brokers !== undefined && brokers > 1) {
      for (const path of [NOVA_CONF, NEUTRON_CONF]) {
        const f = h.file(path);
        if (!f) continue;
        const q = iniGet(parseIni(f.content), "oslo_messaging_rabbit", "rabbit_quorum_queue")?.toLowerCase();
        if (q !== "true") {
          violation(report, who(h), `${path} [oslo_messaging_rabbit] rabbit_quorum_queue is ${q ?? "unset (false)"} with ${brokers} brokers: its RPC queues are classic queues on one broker, lost when that broker goes down`, "set rabbitmq.quorumQueues: true (a vhost already used with classic queues needs its queues deleted first: README)");
        }
      }
    }
  },
};
