#!/usr/bin/python3
"""Lab AMQP client: connects, holds the connection open, then closes it.

Run with Debian's interpreter (/usr/bin/python3, python3-amqp):

  amqp_hold.py --host 10.199.0.11 --port 5672 --credentials FILE --user openstack \
               --heartbeat 60 --seconds 30

The password is read from FILE (the shipped /etc/vdi/rabbitmq-users format,
"user password vhost" per line) and is never printed. Proposes `--heartbeat`
to the broker as oslo.messaging does (heartbeat_timeout_threshold); the
negotiated value is min(client, broker). While holding, it answers the
broker's heartbeats so the broker keeps the connection.

Prints one line "connected local=IP:PORT peer=IP:PORT heartbeat=N
server_heartbeat=N vhost=V" once the connection is open, "closed" at the
end; exits 2 on a usage/credentials problem, 1 when the connection fails.
"""
import argparse
import socket
import sys
import time

from lab_credentials import add_connection_args, credentials_of  # beside this script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heartbeat", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=30)
    add_connection_args(ap)
    a = ap.parse_args()

    creds = credentials_of(a)
    if creds is None:
        return 2
    password, vhost = creds

    import amqp  # python3-amqp

    conn = amqp.Connection(
        host=f"{a.host}:{a.port}",
        userid=a.user,
        password=password,
        virtual_host=vhost,
        heartbeat=a.heartbeat,
        connect_timeout=a.connect_timeout,
    )
    try:
        conn.connect()
    except Exception as e:  # the message never holds the password
        print(f"connect failed: {type(e).__name__}: {e}", flush=True)
        return 1
    local = conn.sock.getsockname()
    peer = conn.sock.getpeername()
    print(
        f"connected local={local[0]}:{local[1]} peer={peer[0]}:{peer[1]} "
        f"heartbeat={conn.heartbeat} server_heartbeat={conn.server_heartbeat} vhost={vhost}",
        flush=True,
    )
    deadline = time.monotonic() + a.seconds
    rc = 0
    try:
        while time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
            except socket.timeout:
                pass
            conn.heartbeat_tick()
    except Exception as e:
        print(f"connection lost: {type(e).__name__}: {e}", flush=True)
        rc = 1
    finally:
        try:
            conn.close()
        except Exception:
            pass
    print("closed", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
