"""The lab control plane's Keystone objects, in one process (openstacksdk, as the admin of
/root/admin-openrc's environment): project `service`; users nova, placement and neutron with the
passwords of the file given (one "<user> <password>" per line; the file is read, never printed),
each with the admin role on `service`; the services placement, compute and network with public,
internal and admin endpoints on the control plane's address. Idempotent.

usage: keystone_bootstrap.py REGION ADDRESS PASSWORD_FILE
"""
import sys

import openstack


def main() -> None:
    region, address, password_file = sys.argv[1:4]
    conn = openstack.connect()
    idn = conn.identity
    project = idn.find_project("service", domain_id="default") or idn.create_project(name="service", domain_id="default", description="Service Project")
    admin = idn.find_role("admin")
    with open(password_file, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            name, password = line.strip().split(None, 1)
            user = idn.find_user(name, domain_id="default")
            if user:
                idn.update_user(user, password=password)
            else:
                user = idn.create_user(name=name, password=password, domain_id="default")
            idn.assign_project_role_to_user(project, user, admin)
            print(f"user {name}: admin on service")
    for name, kind, path in (("placement", "placement", "8778"), ("nova", "compute", "8774/v2.1"), ("neutron", "network", "9696")):
        service = idn.find_service(name) or idn.create_service(name=name, type=kind)
        have = {e.interface for e in idn.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                idn.create_endpoint(service_id=service.id, interface=interface, url=f"http://{address}:{path}", region_id=region)
        print(f"service {name} ({kind}): endpoints http://{address}:{path}")


if __name__ == "__main__":
    main()
