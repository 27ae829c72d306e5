#!/usr/bin/python3
"""Lab AMQP client for the broker-loss check: a quorum queue and a classic
queue declared on one broker, a persistent message in each, read back through
another broker after the first one stopped.

Run with Debian's interpreter (/usr/bin/python3, python3-amqp), in the lab's
controller namespace:

  amqp_queues.py put    --host 10.199.0.12 --credentials FILE --user openstack --prefix vdi-lab-loss
  amqp_queues.py get    --host 10.199.0.11 --credentials FILE --user openstack --prefix vdi-lab-loss
  amqp_queues.py delete --host 10.199.0.11 --credentials FILE --user openstack --prefix vdi-lab-loss

`put` declares PREFIX-quorum (x-queue-type quorum, durable) and PREFIX-classic
(durable classic) through the broker it connects to — a classic queue lives
on the broker that declared it, a quorum queue's first leader is that broker —
and publishes one persistent message to each. `get` takes one message from
each queue (basic_get, acknowledged) and prints one line per queue:
"QUEUE got BODY" or "QUEUE error CODE TEXT". `delete` deletes both queues.
The password is read from FILE (the shipped /etc/vdi/rabbitmq-users format,
"user password vhost" per line) and never printed. Exits 2 on a usage or
credentials problem, 1 when the connection fails, 0 otherwise (per-queue
errors are printed, not fatal: they are what the check judges).
"""
import argparse
import sys

from lab_credentials import add_connection_args, credentials_of  # beside this script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["put", "get", "delete"])
    ap.add_argument("--prefix", required=True)
    add_connection_args(ap)
    a = ap.parse_args()

    creds = credentials_of(a)
    if creds is None:
        return 2
    password, vhost = creds

    import amqp  # python3-amqp

    queues = [(f"{a.prefix}-quorum", {"x-queue-type": "quorum"}), (f"{a.prefix}-classic", {})]
    try:
        conn = amqp.Connection(host=f"{a.host}:{a.port}", userid=a.user, password=password, virtual_host=vhost, connect_timeout=a.connect_timeout)
        conn.connect()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        print(f"connection to {a.host}:{a.port} failed: {type(e).__name__}: {e}", flush=True)
        return 1
    try:
        for name, args in queues:
            # A channel per queue: a channel error (404 when the queue's home broker is down) closes only that channel.
            ch = conn.channel()
            try:
                if a.action == "put":
                    ch.queue_declare(name, durable=True, auto_delete=False, arguments=args)
                    # Publisher confirms: basic_publish returns once the broker(s) took the message.
                    ch.confirm_select()
                    ch.basic_publish(amqp.Message(f"{name} message", delivery_mode=2), exchange="", routing_key=name)
                    print(f"{name} put", flush=True)
                elif a.action == "get":
                    m = ch.basic_get(name, no_ack=False)
                    if m is None:
                        print(f"{name} empty", flush=True)
                    else:
                        ch.basic_ack(m.delivery_tag)
                        body = m.body.decode() if isinstance(m.body, bytes) else m.body
                        print(f"{name} got {body}", flush=True)
                else:
                    ch.queue_delete(name)
                    print(f"{name} deleted", flush=True)
                ch.close()
            except amqp.exceptions.AMQPError as e:
                print(f"{name} error {getattr(e, 'code', '?')} {getattr(e, 'reply_text', str(e))}", flush=True)
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
