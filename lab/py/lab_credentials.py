"""What the lab's AMQP clients share: their connection options, and the stack's
user read from the shipped credentials file (/etc/vdi/rabbitmq-users on a
broker: "user password vhost" per line). The password is returned, never
printed."""


def read_credentials(path, user):
    """(password, vhost) of `user` in the file, or (None, None) when it has no line."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == user:
                return parts[1], (parts[2] if len(parts) >= 3 else "/")
    return None, None


def add_connection_args(ap):
    """--host, --port, --credentials, --user, --connect-timeout on an argparse parser."""
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--credentials", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--connect-timeout", type=float, default=5)


def credentials_of(a):
    """(password, vhost) for the parsed arguments; prints why and returns None when the file has no line for the user."""
    password, vhost = read_credentials(a.credentials, a.user)
    if password is None:
        print(f"no line for user {a.user} in the credentials file", flush=True)
        return None
    return password, vhost
