/**
 * AMQP heartbeats between oslo.messaging 14 (bookworm) and RabbitMQ 3.10 (L7), read from
 * py-amqp 5.1.1, oslo.messaging 14.0.3 impl_rabbit.py and rabbit_reader/rabbit_heartbeat.erl:
 *
 *  - the client asks for its heartbeat_timeout_threshold T; the negotiated value N is min(H, T)
 *    when both that and the broker's heartbeat H are above 0, the larger when one is 0, and 0 when
 *    T is 0 (the client refuses);
 *  - the client checks every T/R/2 seconds and sends a frame only after N seconds of silence, so
 *    an idle connection is silent for up to N + T/R seconds;
 *  - the broker closes a connection silent for 2N to 3N seconds.
 *
 * So T/R must stay below N, and with a margin at most N/2; the guide calls N below 5 s likely to
 * give false alarms.
 */

/** oslo.messaging 14's defaults (heartbeat_rate became 3 only in 14.5). */
export const OSLO_HEARTBEAT_DEFAULTS = { timeoutThreshold: 60, rate: 2 } as const;
/** RabbitMQ 3.10's default broker heartbeat. */
export const RABBITMQ_DEFAULT_HEARTBEAT = 60;
export const MIN_NEGOTIATED_HEARTBEAT = 5;

/** The heartbeat a client with threshold T negotiates with a broker offering H (0: none). */
export function negotiatedHeartbeat(brokerH: number, clientT: number): number {
  if (clientT === 0) return 0;
  return brokerH > 0 && clientT > 0 ? Math.min(brokerH, clientT) : Math.max(brokerH, clientT);
}

/** What is wrong with a pair, or undefined: the broker must never miss a working client's heartbeats. */
export function heartbeatPairProblem(brokerH: number, clientT: number, clientR: number): string | undefined {
  const n = negotiatedHeartbeat(brokerH, clientT);
  if (n === 0) return "heartbeats are off (nothing notices a dead connection)";
  if (n < MIN_NEGOTIATED_HEARTBEAT) return `the negotiated heartbeat is ${n} s, below ${MIN_NEGOTIATED_HEARTBEAT} s (false alarms)`;
  const gap = clientT / clientR;
  if (gap > n / 2) {
    return `the negotiated heartbeat is ${n} s (broker ${brokerH}, client threshold ${clientT}) and an idle client stays silent up to ${n} + ${clientT}/${clientR} = ${n + gap} s, against the broker's limit of ${2 * n} s: less than ${n / 2} s of margin`;
  }
  return undefined;
}
