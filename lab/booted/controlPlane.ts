/**
 * The lab's OpenStack control plane (lab-only: production provides its own):
 * one booted Debian 12 host (the fleet's controlPlane.cellDiscovery host) with
 * MariaDB, Keystone, Placement, nova-api (and its metadata API),
 * nova-conductor, nova-scheduler and neutron-server (ML2/OVS), from Debian's
 * packages at the version set's nova and neutron versions, installed from the
 * lab's signed repository.
 *
 * Install runs while the stack converges the brokers (nothing starts: a
 * policy-rc.d denies it, and every "configure for me" debconf question is
 * answered no); configuration runs once the brokers are up, because the
 * services connect to them with the stack's RabbitMQ user.
 *
 * Measured recipe and its traps (keystone's uwsgi loads an AppArmor plugin this
 * kernel has not; the APIs' uwsgi process counts): ../../README "Lab".
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Fleet } from "../../stack/config/load";
import { transportUrl } from "../../render/common";
import { PROJECT_DIR } from "../../review/evaluate";
import { sleep } from "../sys";
import type { ControlPlaneAccess, LabHost } from "../types";
import { LAB_SUITE } from "./image";
import {
  CONTROL_PRESEED,
  renderAdminOpenrc,
  renderControlNeutronConf,
  renderControlNovaConf,
  renderDatabasesSql,
  renderKeystoneConf,
  renderMariadbConf,
  renderMl2Conf,
  renderPlacementConf,
  type ControlPlaneSettings,
} from "./controlPlaneConfig";

const LAB_KEY = path.join(PROJECT_DIR, "inventory", "apt", "lab-archive.asc");

/** The control plane's packages: nova's and neutron's at the version set's versions, the rest as the archive has them. */
export function controlPlanePackages(fleet: Fleet): string[] {
  const vs = fleet.spec.versionSets[fleet.spec.defaults.versionSet];
  return [
    "mariadb-server",
    "python3-pymysql",
    "keystone",
    "placement-api",
    `nova-api=${vs.nova}`,
    `nova-conductor=${vs.nova}`,
    `nova-scheduler=${vs.nova}`,
    `neutron-server=${vs.neutron}`,
    `neutron-api=${vs.neutron}`,
    `neutron-rpc-server=${vs.neutron}`,
    "python3-openstackclient",
    "python3-osc-placement",
  ];
}

export interface ControlPlane {
  access: ControlPlaneAccess;
  settings: Omit<ControlPlaneSettings, "passwords">;
}

/** Writes a file inside the host (content from stdin: never on a command line). */
function put(host: LabHost, file: string, content: string, owner: string, mode: string): void {
  const r = host.exec(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chown "$2" "$1" && chmod "$3" "$1"', "put", file, owner, mode], { input: content });
  if (r.status !== 0) throw new Error(`${host.name}: writing ${file} failed: ${r.stderr.trim()}`);
}

/** Runs a bash script inside the host; throws with its output's tail unless it exits 0. Output may hold no secret: scripts take them from files. */
function step(host: LabHost, what: string, script: string, log: (l: string) => void, timeoutMs = 300_000): string {
  const t0 = Date.now();
  const r = host.sh(`set -euo pipefail\n${script}`, { timeoutMs });
  if (r.status !== 0) throw new Error(`control plane: ${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split("\n").slice(-12).join(" | ")}`);
  log(`  control plane: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return r.stdout;
}

/** Installs the control plane's packages from the lab's repository; nothing is started or configured. */
export async function installControlPlane(host: LabHost, opts: { repoUrl: string; fleet: Fleet; log: (l: string) => void; signal?: AbortSignal }): Promise<{ seconds: number }> {
  const t0 = Date.now();
  put(host, "/etc/apt/keyrings/vdi-lab.asc", fs.readFileSync(LAB_KEY, "utf8"), "root:root", "0644");
  put(host, "/etc/apt/sources.list.d/vdi-lab.sources", `Types: deb\nURIs: ${opts.repoUrl}\nSuites: ${LAB_SUITE}\nComponents: main\nSigned-By: /etc/apt/keyrings/vdi-lab.asc\n`, "root:root", "0644");
  put(host, "/usr/sbin/policy-rc.d", "#!/bin/sh\n# lab: no daemon starts during the install\nexit 101\n", "root:root", "0755");
  put(host, "/root/control-preseed.txt", CONTROL_PRESEED, "root:root", "0600");
  const pkgs = controlPlanePackages(opts.fleet);
  opts.log(`  control plane: installing ${pkgs.length} packages on ${host.name}`);
  // Asynchronously: the brokers converge meanwhile.
  const t1 = Date.now();
  const r = await host.shAsync(
    [
      "set -euo pipefail",
      "export DEBIAN_FRONTEND=noninteractive",
      "debconf-set-selections /root/control-preseed.txt",
      "apt-get update -q >/dev/null",
      `apt-get install -y -q --no-install-recommends ${pkgs.join(" ")} >/var/log/vdi-lab-control-install.log 2>&1 || { tail -n 30 /var/log/vdi-lab-control-install.log; exit 1; }`,
      "rm -f /usr/sbin/policy-rc.d",
    ].join("\n"),
    { timeoutMs: 30 * 60_000 },
  );
  if (r.status !== 0) throw new Error(`control plane: install failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split("\n").slice(-12).join(" | ")}`);
  opts.log(`  control plane: installed in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  return { seconds: (Date.now() - t0) / 1000 };
}

/** Waits (bounded) until an HTTP endpoint on the host answers at all. */
async function httpUp(host: LabHost, url: string, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds; i++) {
    const r = host.exec(["python3", "-c", "import sys,urllib.request\ntry:\n urllib.request.urlopen(sys.argv[1], timeout=2)\nexcept urllib.error.HTTPError:\n pass\n", url], { timeoutMs: 10_000 });
    if (r.status === 0) return true;
    await sleep(1000);
  }
  return false;
}

const token = () => crypto.randomBytes(12).toString("hex");

/** Configures and starts the control plane (after the brokers converged: its services connect to them). */
export async function configureControlPlane(
  host: LabHost,
  opts: { fleet: Fleet; secrets: Record<string, string>; installed: { seconds: number }; log: (l: string) => void },
): Promise<ControlPlane> {
  const { fleet, log } = opts;
  const region = fleet.spec.region;
  const s: ControlPlaneSettings = {
    address: host.address,
    region,
    transportUrl: transportUrl(fleet, opts.secrets.rabbitmqPassword),
    quorumQueues: fleet.spec.rabbitmq.quorumQueues,
    physnets: [...new Set(fleet.spec.networking.bridges.map((b) => b.physnet))],
    tunnelType: fleet.spec.networking.tunnelType,
    networkNodes: fleet.networkHosts.length,
    passwords: {
      db: { keystone: token(), placement: token(), nova: token(), neutron: token() },
      admin: token(),
      placement: token(),
      nova: opts.secrets.novaServicePassword,
      neutron: opts.secrets.neutronServicePassword,
      metadataSecret: opts.secrets.metadataProxySharedSecret,
    },
  };
  const a = s.address;
  const ks = `http://${a}:5000`;

  put(host, "/etc/mysql/mariadb.conf.d/99-vdi-lab.cnf", renderMariadbConf(s), "root:root", "0644");
  put(host, "/root/vdi-lab-databases.sql", renderDatabasesSql(s), "root:root", "0600");
  step(host, "MariaDB with the databases", "systemctl restart mariadb\nmariadb < /root/vdi-lab-databases.sql\nrm -f /root/vdi-lab-databases.sql", log);

  put(host, "/etc/keystone/keystone.conf", renderKeystoneConf(s), "keystone:keystone", "0640");
  put(host, "/root/admin-openrc", renderAdminOpenrc(s), "root:root", "0600");
  put(host, "/root/.admin-password", s.passwords.admin, "root:root", "0600");
  step(
    host,
    "Keystone",
    [
      // uwsgi's apparmor plugin needs AppArmor in the kernel (this machine has none); 2 processes, not 8.
      "sed -i -e 's/^plugins = python3,apparmor$/plugins = python3/' -e 's/^apparmor-profile = .*$//' -e 's/^processes = .*/processes = 2/' /etc/keystone/keystone-uwsgi.ini",
      'su -s /bin/sh -c "keystone-manage db_sync" keystone',
      "keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone",
      "keystone-manage credential_setup --keystone-user keystone --keystone-group keystone",
      `keystone-manage bootstrap --bootstrap-password "$(cat /root/.admin-password)" --bootstrap-admin-url ${ks}/v3/ --bootstrap-internal-url ${ks}/v3/ --bootstrap-public-url ${ks}/v3/ --bootstrap-region-id ${region} >/dev/null`,
      "rm -f /root/.admin-password",
      "systemctl restart keystone",
    ].join("\n"),
    log,
  );
  if (!(await httpUp(host, `${ks}/v3`, 120))) throw new Error(`control plane: Keystone does not answer on ${ks}/v3 after 120 s: ${host.exec(["journalctl", "-u", "keystone", "-n", "10", "--no-pager", "-o", "cat"]).stdout.trim().split("\n").join(" | ")}`);

  // Service users: nova and neutron with the stack's passwords (what the hosts log in with), placement the lab's.
  put(host, "/root/.svc-passwords", `nova ${s.passwords.nova}\nplacement ${s.passwords.placement}\nneutron ${s.passwords.neutron}\n`, "root:root", "0600");
  put(host, "/root/vdi-lab-keystone.py", fs.readFileSync(path.join(PROJECT_DIR, "lab", "py", "keystone_bootstrap.py"), "utf8"), "root:root", "0600");
  step(host, "Keystone project, service users and endpoints", `. /root/admin-openrc\npython3 /root/vdi-lab-keystone.py ${region} ${a} /root/.svc-passwords\nrm -f /root/.svc-passwords /root/vdi-lab-keystone.py`, log);

  put(host, "/etc/placement/placement.conf", renderPlacementConf(s), "root:placement", "0640");
  step(host, "Placement", ["sed -i 's/^processes = .*/processes = 2/' /etc/placement/placement-api-uwsgi.ini", 'su -s /bin/sh -c "placement-manage db sync" placement', "systemctl restart placement-api"].join("\n"), log);
  if (!(await httpUp(host, `http://${a}:8778/`, 120))) throw new Error("control plane: Placement does not answer on :8778 after 120 s");

  put(host, "/etc/nova/nova.conf", renderControlNovaConf(s), "root:nova", "0640");
  step(
    host,
    "nova-api, -conductor, -scheduler (cell1 on the fleet's brokers)",
    [
      "for f in /etc/nova/nova-api-uwsgi.ini /etc/nova/nova-api-metadata-uwsgi.ini; do [ -f $f ] && sed -i 's/^processes = .*/processes = 2/' $f; done",
      'su -s /bin/sh -c "nova-manage api_db sync" nova',
      'su -s /bin/sh -c "nova-manage cell_v2 map_cell0" nova',
      'su -s /bin/sh -c "nova-manage cell_v2 list_cells" nova | grep -q " cell1 " || su -s /bin/sh -c "nova-manage cell_v2 create_cell --name cell1" nova',
      'su -s /bin/sh -c "nova-manage db sync" nova',
      "systemctl restart nova-api nova-conductor nova-scheduler",
      "systemctl list-unit-files nova-api-metadata.service >/dev/null 2>&1 && systemctl restart nova-api-metadata || true",
    ].join("\n"),
    log,
  );
  if (!(await httpUp(host, `http://${a}:8774/`, 180))) throw new Error("control plane: nova-api does not answer on :8774 after 180 s");

  put(host, "/etc/neutron/neutron.conf", renderControlNeutronConf(s), "root:neutron", "0640");
  put(host, "/etc/neutron/plugins/ml2/ml2_conf.ini", renderMl2Conf(s), "root:neutron", "0640");
  step(
    host,
    "neutron-server (ML2: openvswitch, l2population)",
    [
      "[ -f /etc/neutron/neutron-api-uwsgi.ini ] && sed -i 's/^processes = .*/processes = 2/' /etc/neutron/neutron-api-uwsgi.ini",
      'su -s /bin/sh -c "neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade heads" neutron >/dev/null',
      "systemctl restart neutron-api neutron-rpc-server",
    ].join("\n"),
    log,
    600_000,
  );
  if (!(await httpUp(host, `http://${a}:9696/`, 180))) throw new Error("control plane: neutron-server does not answer on :9696 after 180 s");

  const openstackRaw = (args: string[]) => host.exec(["bash", "-c", '. /root/admin-openrc && exec openstack "$@"', "openstack", ...args], { timeoutMs: 120_000 });
  const access: ControlPlaneAccess = {
    host,
    openstackRaw,
    openstack: <T>(args: string[]): T => {
      const r = openstackRaw([...args, "-f", "json"]);
      if (r.status !== 0) throw new Error(`openstack ${args.join(" ")}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
      return JSON.parse(r.stdout || "null") as T;
    },
  };
  const { passwords: _p, ...settings } = s;
  return { access, settings };
}
