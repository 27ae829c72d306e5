import * as pulumi from "@pulumi/pulumi";
import type { Fleet, HostSpec } from "../stack/config/load";
import type { Secrets } from "../render/document";
import { hostCommands, type SshSettings } from "./hostCommands";

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
 * Its output is the list of brokers it converges.
 */
export class RabbitMQ extends pulumi.ComponentResource {
  /** The last broker's last command: everything that talks AMQP waits for it. */
  public readonly done: pulumi.Resource[];
  public readonly brokers: string[];

  constructor(name: string, args: RabbitMQArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vdi:messaging:RabbitMQ", name, { brokers: args.brokers.map((b) => b.name) }, opts);
    let after: pulumi.Resource[] = [];
    for (const host of args.brokers) after = [hostCommands(this, { fleet: args.fleet, host, ssh: args.ssh, secrets: args.secrets, after })];
    this.done = after;
    this.brokers = args.brokers.map((b) => b.name);
    this.registerOutputs({ brokers: this.brokers });
  }
}
