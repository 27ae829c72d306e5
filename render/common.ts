/** Shared bits of rendered files. */
import type { Fleet, HostSpec } from "../stack/config/load";

export const MANAGED_HEADER = ["Managed by vdi-fleet (Pulumi); local changes are overwritten at the next converge."];

/** Short host name as RabbitMQ node names and nova use it. */
export function shortName(host: string): string {
  return host.split(".")[0];
}

/** oslo.messaging transport URL for all brokers; the password is URL-encoded. */
export function transportUrl(fleet: Fleet, password: string): string {
  const mq = fleet.spec.rabbitmq;
  const user = encodeURIComponent(mq.user);
  const pass = encodeURIComponent(password);
  const hosts = fleet.messagingHosts.map((h: HostSpec) => `${user}:${pass}@${h.address}:${mq.port}`).join(",");
  const vhost = mq.vhost === "/" ? "" : encodeURIComponent(mq.vhost);
  return `rabbit://${hosts}/${vhost}`;
}

/** A /bin/sh script with our header. */
export function shellScript(purpose: string[], body: string[]): string {
  return ["#!/bin/sh", ...MANAGED_HEADER.map((h) => `# ${h}`), ...purpose.map((p) => `# ${p}`), "set -eu", ...body].join("\n") + "\n";
}
