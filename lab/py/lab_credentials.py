"""The lab's AMQP clients read the stack's user from the shipped credentials
file (/etc/vdi/rabbitmq-users on a broker: "user password vhost" per line).
The password is returned, never printed."""


def read_credentials(path, user):
    """(password, vhost) of `user` in the file, or (None, None) when it has no line."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == user:
                return parts[1], (parts[2] if len(parts) >= 3 else "/")
    return None, None
