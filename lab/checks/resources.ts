/**
 * The program's OpenStack resources through the real APIs (lab control-plane
 * check 3). Every `openstack:*` resource the program registers for
 * Pulumi.lab.yaml is created on the lab's control plane with its registered
 * inputs, in dependency order (a reference to another resource's id is
 * resolved to the id that resource got), then read back and compared with the
 * inputs: flavor (size, public, description, extra specs), aggregate (zone,
 * hosts, metadata), networks (external, shared, segments), subnets (CIDR,
 * gateway, DNS, pools, DHCP), router (external gateway) and its interface.
 *
 * The calls are the `openstack` CLI's (python-openstackclient 6.0) as the lab's
 * admin, with compute API microversion 2.86, at which nova validates flavor
 * extra specs.
 *
 * Negative controls: an extra spec nova does not know is refused; an
 * aggregate refuses a host whose nova-compute never registered. A compute
 * host's cell mapping deleted with nova-manage is restored by the stack's own
 * host-discovery command, run over SSH as `pulumi up` runs it.
 */
import { plain } from "../../formats/pulumiWire";
import type { RegisteredResource } from "../../review/evaluate";
import type { Check, Lab, Recorder } from "../types";

const COMPUTE = ["--os-compute-api-version", "2.86"];
type Inputs = Record<string, any>;

/** Creates one resource with the CLI; returns its id. */
function create(lab: Lab, r: RegisteredResource, i: Inputs, id: (ref: string) => string): string {
  const os = lab.controlPlane;
  switch (r.type) {
    case "openstack:compute/flavor:Flavor": {
      const args = [...COMPUTE, "flavor", "create", "--ram", String(i.ram), "--vcpus", String(i.vcpus), "--disk", String(i.disk ?? 0), i.isPublic === false ? "--private" : "--public"];
      if (i.description) args.push("--description", i.description);
      for (const [k, v] of Object.entries(i.extraSpecs ?? {})) args.push("--property", `${k}=${v}`);
      return os.openstack<{ id: string }>([...args, i.name]).id;
    }
    case "openstack:compute/aggregateV2:AggregateV2": {
      const args = [...COMPUTE, "aggregate", "create"];
      if (i.zone) args.push("--zone", i.zone);
      for (const [k, v] of Object.entries(i.metadata ?? {})) args.push("--property", `${k}=${v}`);
      const agg = os.openstack<{ id: number | string }>([...args, i.name]);
      for (const h of i.hosts ?? []) os.openstack([...COMPUTE, "aggregate", "add", "host", String(agg.id), h]);
      return String(agg.id);
    }
    case "openstack:networking/network:Network": {
      const args = ["network", "create", i.external ? "--external" : "--internal", i.shared ? "--share" : "--no-share"];
      const seg = (i.segments ?? [])[0];
      if (seg?.networkType) args.push("--provider-network-type", seg.networkType);
      if (seg?.physicalNetwork) args.push("--provider-physical-network", seg.physicalNetwork);
      if (seg?.segmentationId) args.push("--provider-segment", String(seg.segmentationId));
      return os.openstack<{ id: string }>([...args, i.name]).id;
    }
    case "openstack:networking/subnet:Subnet": {
      const args = ["subnet", "create", "--network", id(i.networkId), "--subnet-range", i.cidr, i.enableDhcp === false ? "--no-dhcp" : "--dhcp"];
      if (i.gatewayIp) args.push("--gateway", i.gatewayIp);
      for (const d of i.dnsNameservers ?? []) args.push("--dns-nameserver", d);
      for (const p of i.allocationPools ?? []) args.push("--allocation-pool", `start=${p.start},end=${p.end}`);
      return os.openstack<{ id: string }>([...args, i.name]).id;
    }
    case "openstack:networking/router:Router": {
      const router = os.openstack<{ id: string }>(["router", "create", i.name]);
      if (i.externalNetworkId) {
        const r2 = os.openstackRaw(["router", "set", "--external-gateway", id(i.externalNetworkId), router.id]);
        if (r2.status !== 0) throw new Error(`router set --external-gateway: ${r2.stderr.trim()}`);
      }
      return router.id;
    }
    case "openstack:networking/routerInterface:RouterInterface": {
      const r2 = os.openstackRaw(["router", "add", "subnet", id(i.routerId), id(i.subnetId)]);
      if (r2.status !== 0) throw new Error(`router add subnet: ${r2.stderr.trim()}`);
      return `${id(i.routerId)}:${id(i.subnetId)}`;
    }
  }
  throw new Error(`no mapping for ${r.type}`);
}

const sameSet = (a: unknown[], b: unknown[]) => JSON.stringify([...a].map(String).sort()) === JSON.stringify([...b].map(String).sort());

/** Reads the resource back; returns the differences from its inputs. */
function readBack(lab: Lab, r: RegisteredResource, i: Inputs, realId: string, id: (ref: string) => string): { diffs: string[]; seen: string } {
  const os = lab.controlPlane;
  const diffs: string[] = [];
  const eq = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${what}: ${JSON.stringify(got)} ≠ ${JSON.stringify(want)}`);
  };
  switch (r.type) {
    case "openstack:compute/flavor:Flavor": {
      const f = os.openstack<Record<string, any>>([...COMPUTE, "flavor", "show", realId]);
      eq("ram", f.ram, i.ram);
      eq("vcpus", f.vcpus, i.vcpus);
      eq("disk", f.disk, i.disk ?? 0);
      eq("public", f["os-flavor-access:is_public"], i.isPublic !== false);
      eq("description", f.description, i.description);
      eq("extra specs", f.properties, i.extraSpecs ?? {});
      return { diffs, seen: `${f.name}: ${f.vcpus} vCPU, ${f.ram} MB, ${f.disk} GB, ${JSON.stringify(f.properties)}` };
    }
    case "openstack:compute/aggregateV2:AggregateV2": {
      const a = os.openstack<Record<string, any>>([...COMPUTE, "aggregate", "show", realId]);
      eq("zone", a.availability_zone, i.zone);
      if (!sameSet(a.hosts ?? [], i.hosts ?? [])) diffs.push(`hosts: ${JSON.stringify(a.hosts)} ≠ ${JSON.stringify(i.hosts)}`);
      const md = { ...(a.properties ?? {}) } as Record<string, string>;
      delete md.availability_zone;
      eq("metadata", md, i.metadata ?? {});
      return { diffs, seen: `${a.name}: zone ${a.availability_zone}, hosts ${(a.hosts ?? []).join(",")}, ${Object.keys(md).length} metadata keys` };
    }
    case "openstack:networking/network:Network": {
      const n = os.openstack<Record<string, any>>(["network", "show", realId]);
      eq("external", n["router:external"], !!i.external);
      eq("shared", n.shared, !!i.shared);
      const seg = (i.segments ?? [])[0];
      if (seg) {
        eq("network type", n["provider:network_type"], seg.networkType);
        eq("physnet", n["provider:physical_network"], seg.physicalNetwork);
      }
      return { diffs, seen: `${n.name}: ${n["provider:network_type"]}${n["provider:physical_network"] ? `/${n["provider:physical_network"]}` : ""}, external ${n["router:external"]}` };
    }
    case "openstack:networking/subnet:Subnet": {
      const s = os.openstack<Record<string, any>>(["subnet", "show", realId]);
      eq("cidr", s.cidr, i.cidr);
      eq("gateway", s.gateway_ip, i.gatewayIp);
      eq("network", s.network_id, id(i.networkId));
      eq("dhcp", s.enable_dhcp, i.enableDhcp !== false);
      if (i.dnsNameservers && !sameSet(s.dns_nameservers ?? [], i.dnsNameservers)) diffs.push(`dns: ${JSON.stringify(s.dns_nameservers)} ≠ ${JSON.stringify(i.dnsNameservers)}`);
      if (i.allocationPools) eq("pools", (s.allocation_pools ?? []).map((p: any) => ({ end: p.end, start: p.start })), i.allocationPools.map((p: any) => ({ end: p.end, start: p.start })));
      return { diffs, seen: `${s.name}: ${s.cidr} gw ${s.gateway_ip}, dhcp ${s.enable_dhcp}` };
    }
    case "openstack:networking/router:Router": {
      const rt = os.openstack<Record<string, any>>(["router", "show", realId]);
      const gw = rt.external_gateway_info;
      eq("external network", gw?.network_id, i.externalNetworkId ? id(i.externalNetworkId) : undefined);
      return { diffs, seen: `${rt.name}: gateway on ${gw?.network_id ?? "none"}, SNAT ${gw?.enable_snat}` };
    }
    case "openstack:networking/routerInterface:RouterInterface": {
      const ports = os.openstack<Array<Record<string, any>>>(["port", "list", "--router", id(i.routerId), "--long"]);
      const has = ports.some((p) => JSON.stringify(p["Fixed IP Addresses"] ?? p.fixed_ips ?? "").includes(id(i.subnetId)));
      if (!has) diffs.push(`the router has no port on subnet ${id(i.subnetId)}`);
      return { diffs, seen: `router ports: ${ports.length}` };
    }
  }
  return { diffs: [`no read-back for ${r.type}`], seen: "" };
}

/** Resources in dependency order (their registered dependencies among themselves). */
function ordered(resources: RegisteredResource[]): RegisteredResource[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const out: RegisteredResource[] = [];
  const seen = new Set<string>();
  const visit = (r: RegisteredResource) => {
    if (seen.has(r.urn)) return;
    seen.add(r.urn);
    for (const d of r.dependencies) if (byUrn.has(d)) visit(byUrn.get(d)!);
    out.push(r);
  };
  resources.forEach(visit);
  return out;
}

async function negativeControls(lab: Lab, rec: Recorder, flavorId: string | undefined, aggId: string | undefined): Promise<void> {
  const os = lab.controlPlane;
  if (flavorId) {
    const bad = os.openstackRaw([...COMPUTE, "flavor", "set", "--property", "hw:cpu_policy=sometimes", flavorId]);
    rec.expect(bad.status !== 0 && /400|invalid|Validation/i.test(bad.stderr), "nova refuses an invalid extra spec (hw:cpu_policy=sometimes) at microversion 2.86", bad.stderr.trim().split("\n").pop()?.slice(0, 200) ?? `exit ${bad.status}`, true);
  }
  const host = lab.hostsWithRole("compute").slice(-1)[0];
  const discover = lab.commandsOf(lab.evaluation).find((c) => c.name.endsWith("-discover-hosts"));
  if (!aggId || !host || !discover) return;
  // nova adds a host to an aggregate only once its nova-compute has registered (why the stack's aggregate
  // waits for the cell's converge commands). A host nova has not seen is refused.
  const unknown = `${host.name}-never-registered`;
  const refused = os.openstackRaw([...COMPUTE, "aggregate", "add", "host", aggId, unknown]);
  rec.expect(refused.status !== 0 && /not be found|404/i.test(refused.stderr), `an aggregate refuses ${unknown}, a host whose nova-compute never registered`, refused.stderr.trim().split("\n").pop()?.slice(0, 200) ?? `exit ${refused.status}`, true);
  // The cell mapping: deleted with nova-manage's own command, then the stack's discovery command maps it again.
  // (An unmapped host is still accepted by an aggregate — nova-api falls back to searching every cell for its
  // service, seen here with nova 26 — but nova's scheduler needs the mapping to place desktops; the lab boots none.)
  const listHosts = () => lab.controlPlane.host.sh("su -s /bin/sh -c 'nova-manage cell_v2 list_hosts' nova").stdout;
  const mappedTo = (text: string) => new RegExp(`\\|\\s*\\S+\\s*\\|\\s*([0-9a-f-]{36})\\s*\\|\\s*${host.name}\\s*\\|`).exec(text)?.[1];
  const cellUuid = mappedTo(listHosts());
  const del = lab.controlPlane.host.sh(`su -s /bin/sh -c 'nova-manage cell_v2 delete_host --cell_uuid ${cellUuid} --host ${host.name}' nova`);
  const unmapped = !mappedTo(listHosts());
  if (!rec.expect(!!cellUuid && del.status === 0 && unmapped, `${host.name}'s cell mapping deleted (nova-manage cell_v2 delete_host): list_hosts no longer shows it`, `exit ${del.status}; was in cell ${cellUuid ?? "?"}`)) return;
  const run = await lab.converge([discover]);
  const again = mappedTo(listHosts());
  rec.expect(!run.failed && again === cellUuid, `the stack's ${discover.name} (nova-manage cell_v2 discover_hosts --by-service, over SSH) maps ${host.name} to its cell again`, `${run.runs.map((r) => `${r.name} exit ${r.status}`).join(", ")}; list_hosts: ${host.name} in cell ${again ?? "none"}`);
}

export const resourcesCheck: Check = {
  id: "resources",
  title: "Every OpenStack resource of the program created through the real APIs with its inputs, in dependency order, and read back equal; invalid extra specs and unregistered hosts refused; host discovery maps a host again",
  needs: [],
  async run(lab, rec) {
    const resources = ordered(lab.evaluation.resources.filter((r) => r.type.startsWith("openstack:")));
    if (!rec.expect(resources.length > 0, "the program registers OpenStack resources", `${resources.length}`)) return;
    const ids = new Map<string, string>();
    // Under the lab's mocks a resource's id is "<name>-id": a reference in inputs names the resource.
    const id = (ref: string): string => {
      const r = resources.find((x) => `${x.name}-id` === ref);
      const got = r && ids.get(r.urn);
      if (!got) throw new Error(`reference ${ref} to a resource not created (yet)`);
      return got;
    };
    let flavorId: string | undefined;
    let aggId: string | undefined;
    for (const r of resources) {
      const i = plain(r.inputs) as Inputs;
      let realId: string;
      try {
        realId = create(lab, r, i, id);
      } catch (e) {
        rec.fail(`${r.type.split(":").pop()} ${r.name} created with its inputs`, e instanceof Error ? e.message : String(e));
        continue;
      }
      ids.set(r.urn, realId);
      if (r.type.endsWith("Flavor")) flavorId = realId;
      if (r.type.endsWith("AggregateV2")) aggId = realId;
      const back = readBack(lab, r, i, realId, id);
      rec.expect(back.diffs.length === 0, `${r.type.split(":").pop()} ${r.name}: created, and read back equal to its inputs`, back.diffs.length ? back.diffs.join("; ") : back.seen);
    }
    await negativeControls(lab, rec, flavorId, aggId);
  },
};
