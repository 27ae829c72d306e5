import * as pulumi from "@pulumi/pulumi";
import type { Fleet, HostSpec } from "../stack/config/load";
import { renderCredentialsDocument, renderHostDocument, type Secrets } from "../render/document";
import { convergeHost, type SshSettings } from "./hostCommands";

export interface RabbitMQArgs {
  fleet: Fleet;
  /** Brokers converged by this component (messaging hosts without compute or network role). */
  brokers: HostSpec[];
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
}

/**
 * The RabbitMQ cluster (`vdi:messaging:RabbitMQ`): rabbitmq.conf with TCP
 * keepalive and the default listen options, heartbeat, kernel keepalive
 * sysctls below the firewall idle timeout (L7), the OpenStack user.
 * Brokers converge one at a time (a rolling restart keeps the cluster up).
 */
export class RabbitMQ extends pulumi.ComponentResource {
  public readonly documents: Record<string, string> = {};
  /** The last broker's last command: everything that talks AMQP waits for it. */
  public readonly done: pulumi.Resource[];

  constructor(name: string, args: RabbitMQArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:messaging:RabbitMQ", name, { brokers: args.brokers.map((b) => b.name) }, opts);
    let after: pulumi.Resource[] = [];
    for (const host of args.brokers) {
      const document = renderHostDocument(args.fleet, host);
      this.documents[host.name] = document;
      const done = convergeHost(this, {
        host,
        ssh: args.ssh,
        document,
        credentials: args.secrets.apply((s) => renderCredentialsDocument(args.fleet, host, s)),
        after,
      });
      after = [done];
    }
    this.done = after;
    this.registerOutputs({});
  }
}
