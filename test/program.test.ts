/**
 * The program evaluated under mocks for every shipped stack, in preview mode
 * (new outputs unknown, as `pulumi preview`) and update mode.
 */
import { type Evaluation } from "../review/evaluate";
import { isSecretValue, plain, UNKNOWN } from "../formats/pulumiWire";
import { parseDocument } from "../formats/document";
import { hostCommand } from "../shipped/naming";
import { byType, runStack } from "./helpers/program";
import { registrationDifferences } from "../review/registrations";

const COMMAND = "command:remote:Command";
const results: Record<string, Evaluation> = {};

const cases: Array<[string, boolean]> = [
  ["prod", false],
  ["prod", true],
  ["pr", false],
  ["pr", true],
  ["lab", false],
  ["lab", true],
];

beforeAll(async () => {
  for (const [stack, preview] of cases) results[`${stack}:${preview}`] = await runStack(stack, { preview });
});

describe.each(cases)("stack %s (preview %s)", (stack, preview) => {
  const ev = () => results[`${stack}:${preview}`];

  test("evaluates without error", () => {
    expect(ev().error).toBeUndefined();
    expect(ev().resources.length).toBeGreaterThan(0);
  });

  test("at most 4 resources per compute host", () => {
    const hosts = byType(ev(), "vdi:compute:Host");
    expect(hosts.length).toBeGreaterThan(0);
    for (const h of hosts) {
      const children = ev().resources.filter((r) => r.parent === h.urn);
      expect(1 + children.length).toBeLessThanOrEqual(4);
      // Nothing else in the stack is per-host: grand-children would count too.
      for (const c of children) expect(ev().resources.filter((r) => r.parent === c.urn)).toHaveLength(0);
    }
  });

  test("every command pins the host key and keeps the private key secret", () => {
    for (const c of byType(ev(), COMMAND)) {
      expect(isSecretValue(c.inputs.connection)).toBe(true);
      const conn = plain(c.inputs.connection) as Record<string, unknown>;
      expect(conn.hostKey).toMatch(/^(ssh-ed25519|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+$/);
      expect(conn.privateKey).toMatch(/PRIVATE KEY/);
    }
  });

  test("credentials are a secret, with logging off and outputs secret; main documents are plain and parse", () => {
    for (const c of byType(ev(), COMMAND).filter((r) => hostCommand(r))) {
      if (c.name.endsWith("-credentials")) {
        expect(isSecretValue(c.inputs.stdin)).toBe(true);
        expect(c.inputs.logging).toBe("none");
        expect(c.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr"]));
      } else {
        expect(c.name).toMatch(/-converge$/);
        expect(typeof c.inputs.stdin).toBe("string");
        const doc = parseDocument(c.inputs.stdin as string);
        expect(`${doc.host}-converge`).toBe(c.name);
        // No secret material in the plain document.
        expect(c.inputs.stdin).not.toMatch(/placeholder|PRIVATE KEY|transport_url/);
      }
    }
  });

  test("preview mode leaves outputs of new resources unknown (positive control)", () => {
    const router = byType(ev(), "openstack:networking/router:Router")[0];
    expect(router.inputs.externalNetworkId === UNKNOWN).toBe(preview);
  });

  test("what policies judge is known even in preview", () => {
    for (const r of ev().resources.filter((x) => x.type === COMMAND || x.type.startsWith("openstack:compute/"))) {
      const known = JSON.stringify(r.inputs);
      if (r.type === COMMAND) expect(known).not.toContain(UNKNOWN);
      if (r.type.startsWith("openstack:compute/")) expect(known).not.toContain(UNKNOWN);
    }
  });
});

describe("prod", () => {
  const ev = () => results["prod:false"];

  test("is a realistic fleet: ≥ 200 compute hosts, ≥ 8,000 desktops, several cells", () => {
    expect(byType(ev(), "vdi:compute:Host").length).toBeGreaterThanOrEqual(200);
    const aggs = byType(ev(), "openstack:compute/aggregateV2:AggregateV2");
    expect(aggs.length).toBeGreaterThanOrEqual(3);
    const desktops = aggs.reduce((n, a) => n + Number((a.inputs.metadata as Record<string, string>)["vdi:planned_desktops"]), 0);
    expect(desktops).toBeGreaterThanOrEqual(8000);
  });

  test("resource count matches the README", () => {
    // README, "Resource budget": keep in sync.
    expect(ev().resources.length).toBe(707);
    expect(byType(ev(), COMMAND)).toHaveLength(456);
  });

  test("rollout: canary first, then batches, each wave after the previous one", () => {
    const cmds = byType(ev(), COMMAND);
    const urnOf = (n: string) => cmds.find((c) => c.name === n)!.urn;
    const canary = cmds.find((c) => c.name === "cmp-a-001-converge")!;
    const second = cmds.find((c) => c.name === "cmp-a-002-converge")!;
    const lastOfBatch1 = cmds.find((c) => c.name === "cmp-a-026-converge")!;
    const firstOfBatch2 = cmds.find((c) => c.name === "cmp-a-027-converge")!;
    // Network nodes come first, one after another, after the brokers.
    expect(canary.dependencies).toEqual([urnOf("net-03-credentials")]);
    expect(second.dependencies).toEqual([urnOf("cmp-a-001-credentials")]);
    expect(lastOfBatch1.dependencies).toEqual([urnOf("cmp-a-001-credentials")]);
    expect(firstOfBatch2.dependencies).toHaveLength(25);
    expect(firstOfBatch2.dependencies).toContain(urnOf("cmp-a-026-credentials"));
    expect(cmds.find((c) => c.name === "net-01-converge")!.dependencies).toEqual([urnOf("mq-03-credentials")]);
    // Host discovery runs on the control plane after the cell's last wave; the aggregate waits for it.
    const discovery = cmds.find((c) => c.name === "cell-a-discover-hosts")!;
    expect(discovery.dependencies).toContain(urnOf("cmp-a-060-credentials"));
    expect(discovery.dependencies).toHaveLength(9); // the last wave: cmp-a-052 … cmp-a-060
    expect(discovery.inputs).toMatchObject({ create: "nova-manage cell_v2 discover_hosts --by-service", logging: "stdoutAndStderr" });
    expect((discovery.inputs.connection as { value?: { host?: string } }).value?.host ?? (discovery.inputs.connection as { host?: string }).host).toBe("10.20.0.5");
    expect(discovery.inputs.triggers).toHaveLength(60);
    const agg = byType(ev(), "openstack:compute/aggregateV2:AggregateV2").find((a) => a.name === "cell-a-aggregate")!;
    expect(agg.dependencies).toEqual([discovery.urn]);
    expect(agg.inputs.hosts).toHaveLength(60);
  });

  test("flavor carries the workload's extra specs", () => {
    const [flavor] = byType(ev(), "openstack:compute/flavor:Flavor");
    expect(flavor.inputs).toMatchObject({ vcpus: 2, ram: 6144, disk: 60, extraSpecs: { "hw:cpu_policy": "shared", "quota:disk_total_iops_sec": "500" } });
  });

  test("networking: provider network on its physnet, desktop subnets with DHCP, router", () => {
    const nets = byType(ev(), "openstack:networking/network:Network");
    const provider = nets.find((n) => n.inputs.name === "provider")!;
    expect(provider.inputs).toMatchObject({ external: true, segments: [{ networkType: "flat", physicalNetwork: "physnet1" }] });
    const subnets = byType(ev(), "openstack:networking/subnet:Subnet");
    expect(subnets.filter((s) => s.inputs.enableDhcp === true)).toHaveLength(4);
    expect(byType(ev(), "openstack:networking/routerInterface:RouterInterface")).toHaveLength(4);
  });
});

test("documents are byte-identical across evaluations (no spurious diffs)", async () => {
  const again = await runStack("pr");
  const docs = (e: Evaluation) => byType(e, COMMAND).map((c) => [c.name, JSON.stringify(plain(c.inputs))]);
  expect(docs(again)).toEqual(docs(results["pr:false"]));
});

test("registrationDifferences (npm run plan -- --same-as): identical evaluations have none; a ratio change names exactly the commands whose inputs change", async () => {
  const a = await runStack("pr", { preview: true });
  const b = await runStack("pr", { preview: true });
  expect(registrationDifferences(a, b)).toEqual([]);
  // Both sides given as a changed config (no file lines in either's provenance), one ratio apart.
  const same = await runStack("pr", { preview: true, changes: [["defaults.overcommit.cpuAllocationRatio", 1.5]] });
  const c = await runStack("pr", { preview: true, changes: [["defaults.overcommit.cpuAllocationRatio", 1.4]] });
  expect(registrationDifferences(same, c)).toEqual([
    expect.stringMatching(/^changed: urn:.*::pr-cmp-01-converge \(inputs\.stdin\)$/),
    expect.stringMatching(/^changed: urn:.*::pr-cmp-02-converge \(inputs\.stdin\)$/),
  ]);
  // Against the stack file, the fleet's and the cell's provenance differ too (they have the files' lines).
  expect(registrationDifferences(a, same)).toEqual([
    expect.stringMatching(/^changed: urn:.*::vdi:fleet:Fleet::vdi \(inputs\.provenance\)$/),
    expect.stringMatching(/^changed: urn:.*vdi:fleet:Fleet\$vdi:fleet:Cell::pr \(inputs\.provenance\)$/),
  ]);
  const fewer = { ...a, resources: a.resources.filter((r) => !r.name.startsWith("pr-cmp-02")) };
  expect(registrationDifferences(a, fewer)).toEqual([expect.stringMatching(/^only before: .*::pr-cmp-02$/), expect.stringMatching(/^only before: .*::pr-cmp-02-converge$/), expect.stringMatching(/^only before: .*::pr-cmp-02-credentials$/)]);
});
