/**
 * A region split into stacks (README, "Cells as stacks"): Pulumi.prod-region.yaml
 * plus one Pulumi.prod-cell-<x>.yaml per cell, all naming fleets/prod.yaml.
 * Together they ship exactly what the single prod stack ships; each cell stack
 * is gated on the region stack's revision; the preview accepts both kinds and
 * the N+1 capacity policy judges each cell stack.
 */
import * as fs from "fs";
import * as path from "path";
import { readStackFile, type Evaluation, type RegisteredResource } from "../review/evaluate";
import { plain } from "../formats/pulumiWire";
import { regionRevision } from "../stack/region";
import { COMMAND_TYPE } from "../shipped/naming";
import { byType, runStack } from "./helpers/program";
import { loadStackFleet } from "./helpers/fleet";
import { copyProject, removeProjects, runPreview, writeStack } from "./helpers/project";

const CELLS = ["a", "b", "c", "d"].map((x) => `prod-cell-${x}`);
const runs: Record<string, Evaluation> = {};

beforeAll(async () => {
  runs.prod = await runStack("prod");
  runs.region = await runStack("prod-region");
  for (const c of CELLS) runs[c] = await runStack(c, { stackReferences: { "prod-region": runs.region.outputs ?? {} } });
}, 240_000);

afterAll(() => removeProjects());

/** What a resource ships: its type, name and plain inputs. */
const shipped = (rs: RegisteredResource[]) =>
  rs
    .filter((r) => r.custom)
    .map((r) => JSON.stringify([r.type, r.name, plain(r.inputs)]))
    .sort();

test("every stack of the split evaluates without error", () => {
  for (const [name, ev] of Object.entries(runs)) expect([name, ev.error]).toEqual([name, undefined]);
});

test("the region stack and the four cell stacks together ship exactly what the single prod stack ships", () => {
  const split = [runs.region, ...CELLS.map((c) => runs[c])].flatMap((ev) => ev.resources);
  expect(shipped(split)).toEqual(shipped(runs.prod.resources));
});

test("the region stack has the brokers, network nodes, flavors and networks, and no compute host", () => {
  const ev = runs.region;
  expect(byType(ev, "vdi:compute:Host")).toHaveLength(0);
  expect(byType(ev, "vdi:fleet:Cell")).toHaveLength(0);
  expect(byType(ev, "vdi:messaging:RabbitMQ")).toHaveLength(1);
  expect(byType(ev, "vdi:network:Node")).toHaveLength(3);
  expect(byType(ev, "openstack:compute/flavor:Flavor")).toHaveLength(1);
  expect(ev.outputs?.region).toEqual({ region: "region-1", revision: regionRevision(loadStackFleet("prod-region")), cells: ["cell-a", "cell-b", "cell-c", "cell-d"] });
});

test.each(CELLS)("%s has its cell only: its hosts, their commands, its host discovery and its aggregate (3 resources per host)", (stack) => {
  const ev = runs[stack];
  const cell = stack.replace("prod-", "");
  const hosts = byType(ev, "vdi:compute:Host");
  const fleet = loadStackFleet("prod");
  expect(hosts.map((h) => h.name).sort()).toEqual(fleet.cells.find((c) => c.name === cell)!.hosts.map((h) => h.name).sort());
  expect(byType(ev, "vdi:fleet:Cell").map((c) => c.name)).toEqual([cell]);
  expect(byType(ev, COMMAND_TYPE)).toHaveLength(2 * hosts.length + 1); // + the cell's host discovery
  expect(byType(ev, COMMAND_TYPE).filter((c) => c.name.endsWith("-discover-hosts")).map((c) => c.name)).toEqual([`${cell}-discover-hosts`]);
  expect(ev.resources).toHaveLength(3 * hosts.length + 4); // + the fleet, the cell, the discovery, the aggregate
  expect(ev.outputs?.stackPart).toEqual({ kind: "cell", cell, regionStack: "prod-region" });
});

describe("the region gate of a cell stack", () => {
  const good = () => runs.region.outputs?.region as { region: string; revision: string; cells: string[] };

  test("a region stack at another revision stops the cell stack before it registers anything, naming both revisions and the fix", async () => {
    const ev = await runStack("prod-cell-b", { stackReferences: { "prod-region": { region: { ...good(), revision: "0".repeat(64) } } } });
    expect(ev.error).toMatch(/region stack organization\/vdi-fleet\/prod-region was last deployed at region revision 000000000000, this checkout computes [0-9a-f]{12}: .*run `pulumi up -s prod-region` from this commit first/);
    // The program stops before it registers anything of the cell.
    expect(ev.resources).toHaveLength(0);
  });

  test("a broker setting changed in the region stack's checkout changes the revision, so the cells refuse it", async () => {
    const changed = await runStack("prod-region", { changes: [["rabbitmq.heartbeatSeconds", 15]] });
    const ev = await runStack("prod-cell-a", { stackReferences: { "prod-region": changed.outputs ?? {} } });
    expect(ev.error).toMatch(/was last deployed at region revision/);
  });

  test("a referenced stack without a region output, or without this cell, is refused", async () => {
    const none = await runStack("prod-cell-a", { stackReferences: { "prod-region": {} } });
    expect(none.error).toMatch(/has no `region` output: it is not a region stack of this project, or it was never deployed/);
    const other = await runStack("prod-cell-a", { stackReferences: { "prod-region": { region: { ...good(), cells: ["cell-b"] } } } });
    expect(other.error).toMatch(/has no cell cell-a \(it has cell-b\)/);
  });

  test("a desktop-count change that keeps the network nodes' tables is a cell matter: the revision (and so the gate) does not change", async () => {
    const changed = await runStack("prod-region", { changes: [["cells.1.desktops", 4000]] });
    expect((changed.outputs?.region as { revision: string }).revision).toBe(good().revision);
  });

  test("a desktop-count change that outgrows the network nodes' neighbour tables is a region matter: the revision changes", async () => {
    // 18,400 → 33,400 desktops: 2 neighbour entries each no longer fit in 65,536.
    const changed = await runStack("prod-region", { changes: [["cells.1.desktops", 20000]] });
    expect((changed.outputs?.region as { revision: string }).revision).not.toBe(good().revision);
  });
});

describe("config of split stacks", () => {
  test("an unknown cell, a missing fleet file and both fleet forms are config errors naming the key", async () => {
    const base = readStackFile("prod-cell-a");
    const unknownCell = await runStack("prod-cell-a", { stackFile: { ...base, config: { ...base.config, "vdi-fleet:part": JSON.stringify({ kind: "cell", cell: "cell-z", regionStack: "prod-region" }) } } });
    expect(unknownCell.error).toContain('vdi-fleet:part.cell = "cell-z": no such cell in the fleet. Fix: use one of cell-a, cell-b, cell-c, cell-d');
    const noFile = await runStack("prod-region", { stackFile: { ...base, config: { ...base.config, "vdi-fleet:fleetFile": "fleets/nope.yaml", "vdi-fleet:part": '{"kind":"region"}' } } });
    expect(noFile.error).toContain('vdi-fleet:fleetFile = "fleets/nope.yaml": no such file in the project');
    const both = await runStack("prod-region", { stackFile: { ...base, config: { ...base.config, "vdi-fleet:fleet": "{}", "vdi-fleet:part": '{"kind":"region"}' } } });
    expect(both.error).toContain("both vdi-fleet:fleet and vdi-fleet:fleetFile are set");
    const badKind = await runStack("prod-region", { stackFile: { ...base, config: { ...base.config, "vdi-fleet:part": '{"kind":"zone"}' } } });
    expect(badKind.error).toContain("vdi-fleet:part.kind");
  });
});

describe("offline preview of split stacks", () => {
  let dir: string;
  beforeAll(() => {
    dir = copyProject();
  });

  test("the region stack and a cell stack preview clean (exit 0)", () => {
    for (const stack of ["prod-region", "prod-cell-b"]) {
      const r = runPreview(dir, ["--stack", stack]);
      expect([stack, r.status, r.stderr]).toEqual([stack, 0, ""]);
      expect(r.stdout).toMatch(new RegExp(`✔ ${stack}: \\d+ resources`));
    }
  });

  test("a problem in a fleet file is reported with the file, the line, the value and the fix (exit 2)", () => {
    const text = fs.readFileSync(path.join(dir, "fleets", "prod.yaml"), "utf8").replace("desktops: 5000 }", 'desktops: "5000" }');
    fs.writeFileSync(path.join(dir, "fleets", "bad.yaml"), text);
    fs.writeFileSync(path.join(dir, "Pulumi.bad-region.yaml"), fs.readFileSync(path.join(dir, "Pulumi.prod-region.yaml"), "utf8").replace("fleetFile: fleets/prod.yaml", "fleetFile: fleets/bad.yaml"));
    const r = runPreview(dir, ["--stack", "bad-region"]);
    expect(r.status).toBe(2);
    const line = text.split("\n").findIndex((l) => l.includes('desktops: "5000"')) + 1;
    expect(r.stderr).toContain(`fleets/bad.yaml:${line}: cells[0](cell-a).desktops = "5000": expected a number, got a string`);
  });

  test("the N+1 capacity policy judges a cell stack on its own (the flavor recorded with the cell)", () => {
    writeStack(dir, "prod-cell-big", "prod-cell-b", [["cells.1.desktops", 9000]]);
    const r = runPreview(dir, ["--stack", "prod-cell-big"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/- \[mandatory\] {2}cell-capacity-n-plus-one {2}\(openstack:compute\/aggregateV2:AggregateV2: cell-b-aggregate\)/);
    expect(r.stdout).toMatch(/cell cell-b: 9000 planned desktops do not fit with the largest host down/);
  });
});
