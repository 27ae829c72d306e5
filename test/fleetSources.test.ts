/**
 * Where the fleet config comes from: shared sections taken from another file
 * (`extends`), the layering rule, and config problems that name the file and
 * line a value was written at — in the stack file, in a fleet file or in a
 * base the stack extends.
 */
import * as fs from "fs";
import * as path from "path";
import { originAt, readYaml, showOrigin, unclosedOpener } from "../formats/yaml";
import { layer, resolveExtends } from "../stack/config/origins";
import { readFleetSource } from "../stack/config/source";
import { cellProvenance, fleetProvenance } from "../stack/config/provenance";
import { showSource } from "../shipped/provenance";
import { locate, locateMessage, provenanceFor, remember } from "../policy/support/provenance";
import { PROJECT_DIR, fleetOf, readStackFile } from "../review/evaluate";
import { copyProject, removeProjects, runPreview } from "./helpers/project";

const read = (file: string, text: string) => {
  const r = readYaml(file, text);
  if (r.error) throw new Error(r.error.message);
  return { value: r.value, origins: r.origins };
};

describe("the layering rule", () => {
  const base = read("base.yaml", ["a:", "  x: 1", "  y: [1, 2]", "  z: { p: 1, q: 2 }", "b: base", "c: [base]", ""].join("\n"));
  const over = read("over.yaml", ["a:", "  y: [3]", "  z: { q: 9 }", "c: [over]", "d: new", ""].join("\n"));
  const out = layer(base, over);

  test("mappings merge key by key; lists and values are replaced whole", () => {
    expect(out.value).toEqual({ a: { x: 1, y: [3], z: { p: 1, q: 9 } }, b: "base", c: ["over"], d: "new" });
  });

  test("each value keeps the origin of the side it came from", () => {
    const at = (p: Array<string | number>) => showOrigin(originAt(out.origins, p)!);
    expect(at(["a", "x"])).toBe("base.yaml:2");
    expect(at(["a", "y"])).toBe("over.yaml:2");
    expect(at(["a", "y", 0])).toBe("over.yaml:2");
    expect(at(["a", "z", "p"])).toBe("base.yaml:4");
    expect(at(["a", "z", "q"])).toBe("over.yaml:3");
    expect(at(["b"])).toBe("base.yaml:5");
    expect(at(["c"])).toBe("over.yaml:4");
    expect(at(["d"])).toBe("over.yaml:5");
    // A key that is not there: the nearest ancestor that is (where to add it).
    expect(at(["a", "z", "missing"])).toBe("over.yaml:3");
  });
});

describe("extends", () => {
  const files: Record<string, string> = {
    "fleets/base.yaml": "extends: fleets/root.yaml\nrollout: { batchSize: 5 }\nrabbitmq: { port: 5672 }\n",
    "fleets/root.yaml": "rollout: { canaryHosts: 2, batchSize: 1 }\nregion: root\n",
    "fleets/loop-a.yaml": "extends: fleets/loop-b.yaml\n",
    "fleets/loop-b.yaml": "extends: fleets/loop-a.yaml\n",
    "fleets/broken.yaml": "rollout:\n  batchSize: [1,\n",
    "fleets/list.yaml": "- 1\n",
  };
  const resolve = (text: string) => resolveExtends({ ...read("Pulumi.x.yaml", text), file: "Pulumi.x.yaml" }, (f) => files[f]);

  test("a chain of bases is laid one over the other, the extending file last", () => {
    const r = resolve("extends: fleets/base.yaml\nregion: own\n");
    expect(r.problems).toEqual([]);
    expect(r.value).toEqual({ rollout: { canaryHosts: 2, batchSize: 5 }, region: "own", rabbitmq: { port: 5672 } });
    expect(r.files).toEqual(["Pulumi.x.yaml", "fleets/base.yaml", "fleets/root.yaml"]);
    expect(showOrigin(originAt(r.origins, ["rollout", "canaryHosts"])!)).toBe("fleets/root.yaml:1");
    expect(showOrigin(originAt(r.origins, ["rollout", "batchSize"])!)).toBe("fleets/base.yaml:2");
    expect(showOrigin(originAt(r.origins, ["region"])!)).toBe("Pulumi.x.yaml:2");
  });

  test.each([
    ["a missing file", "extends: fleets/nope.yaml\n", "Pulumi.x.yaml:1", /no such file in the project/],
    ["a path outside the project", "extends: ../etc/fleet.yaml\n", "Pulumi.x.yaml:1", /must be a path inside the project/],
    ["not a file name", "extends: [a]\n", "Pulumi.x.yaml:1", /must name a YAML file/],
    ["a cycle", "extends: fleets/loop-a.yaml\n", "fleets/loop-b.yaml:1", /files extend each other: Pulumi\.x\.yaml → fleets\/loop-a\.yaml → fleets\/loop-b\.yaml → fleets\/loop-a\.yaml/],
    ["a base that is not YAML", "extends: fleets/broken.yaml\n", "fleets/broken.yaml:2", /not valid YAML: a \[ that is never closed at line 2, column 14/],
    ["a base that is not a mapping", "extends: fleets/list.yaml\n", "Pulumi.x.yaml:1", /does not hold a mapping/],
  ])("%s is a problem at the line of the extends (or of the base's error)", (_what, text, at, message) => {
    const r = resolve(text);
    expect(r.problems).toHaveLength(1);
    expect(showOrigin(r.problems[0].origin!)).toBe(at);
    expect(r.problems[0].message).toMatch(message);
  });
});

describe("the stacks of this project", () => {
  const common = read("fleets/common.yaml", fs.readFileSync(path.join(PROJECT_DIR, "fleets", "common.yaml"), "utf8")).value as Record<string, unknown>;

  test.each(["prod", "pr", "prod-region", "prod-cell-a"])("%s takes its version sets, workloads and RabbitMQ settings from fleets/common.yaml", (stack) => {
    const fleet = fleetOf(readStackFile(stack));
    for (const section of ["versionSets", "workloads", "rabbitmq"]) expect([stack, section, fleet[section]]).toEqual([stack, section, common[section]]);
  });

  test("lab takes the same, but installs from its own signed repository (each version set's aptSource, and nothing else, differs)", () => {
    const fleet = fleetOf(readStackFile("lab"));
    for (const section of ["workloads", "rabbitmq"]) expect([section, fleet[section]]).toEqual([section, common[section]]);
    const withoutSource = (sets: unknown) =>
      Object.fromEntries(Object.entries(sets as Record<string, Record<string, unknown>>).map(([k, { aptSource: _source, ...rest }]) => [k, rest]));
    expect(withoutSource(fleet.versionSets)).toEqual(withoutSource(common.versionSets));
    for (const set of Object.values(fleet.versionSets as Record<string, { aptSource: { uri: string; suite: string } }>)) {
      expect(set.aptSource).toMatchObject({ uri: "http://10.199.0.1:8080/", suite: "bookworm-lab" });
    }
  });

  test("an inline fleet's values are located in the stack file, and shared ones in the base", () => {
    const sf = readStackFile("pr");
    const src = readFleetSource((k) => sf.config[k], PROJECT_DIR, "Pulumi.pr.yaml");
    const text = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.pr.yaml"), "utf8").split("\n");
    expect(src.problems).toEqual([]);
    expect(showOrigin(originAt(src.origins, ["cells", 0, "desktops"])!)).toBe(`Pulumi.pr.yaml:${text.findIndex((l) => l.includes("name: pr,")) + 1}`);
    const commonText = fs.readFileSync(path.join(PROJECT_DIR, "fleets", "common.yaml"), "utf8").split("\n");
    expect(showOrigin(originAt(src.origins, ["defaults", "overcommit", "ramAllocationRatio"])!)).toBe(`fleets/common.yaml:${commonText.findIndex((l) => l.includes("ramAllocationRatio:")) + 1}`);
  });

  test("a config given to the program that differs from the stack file on disk is not located (no wrong lines)", () => {
    const sf = readStackFile("pr");
    const changed = JSON.stringify({ ...JSON.parse(sf.config["vdi-fleet:fleet"]), region: "elsewhere" });
    const src = readFleetSource((k) => (k === "vdi-fleet:fleet" ? changed : sf.config[k]), PROJECT_DIR, "Pulumi.pr.yaml");
    expect(originAt(src.origins, ["region"])?.file).not.toBe("Pulumi.pr.yaml");
  });
});

describe("YAML syntax errors name the line to fix, with a caret", () => {
  const errorOf = (text: string) => readYaml("f.yaml", text).error;
  test.each([
    ["an unclosed [", "a: [1, 2\nb: 1\n", "a [ that is never closed at line 1, column 4:\n\na: [1, 2\n   ^\n"],
    ["an unclosed [ inside a closed {", "a: {x: [1, 2}\n", "a [ that is never closed at line 1, column 8:\n\na: {x: [1, 2}\n       ^\n"],
    ["an unclosed {, brackets in quotes and comments ignored", '# a [ in a comment\nq: "[x"\nm:\n  - {k: 1\nz: 2\n', "a { that is never closed at line 4, column 5:\n\n  - {k: 1\n    ^\n"],
    ["an unclosed double-quoted string", 'a: "x\nb: 1\n', "a double-quoted string that is never closed at line 1, column 4:\n\na: \"x\n   ^\n"],
  ])("%s: where it was opened", (_what, text, message) => {
    const e = errorOf(text)!;
    expect(e.message).toBe(message);
    expect(showOrigin(e.origin)).toBe(`f.yaml:${/at line (\d+)/.exec(message)![1]}`);
  });
  test("other errors keep the yaml package's own place", () => {
    expect(errorOf("a: 1\n   b: 2\n")!.message).toMatch(/^Nested mappings are not allowed in compact mappings at line 1, column 4:/);
    expect(unclosedOpener("a: 1\n", "Some other error", 4)).toBeUndefined();
  });
});

describe("provenance: where each effective cell setting was written (for policy fixes)", () => {
  const base = read("fleets/common.yaml", ["defaults:", "  overcommit:", "    ramAllocationRatio: 1.2", "    ksm: { enabled: true }", "  bootStorm:", "    libvirtGuests:", "      shutdownTimeoutSeconds: 600", "  versionSet: vs1", ""].join("\n"));
  const over = read(
    "fleets/prod.yaml",
    ["cells:", "  - { name: cell-a, desktops: 10 }", "  - name: cell-b", "    desktops: 20", "    overcommit: { ramAllocationRatio: 1.1, ksm: { enabled: false } }", "    bootStorm: { libvirtGuests: { parallelShutdown: 8 } }", ""].join("\n"),
  );
  const fleet = layer(base, over);
  const a = cellProvenance(fleet.value, 0, fleet.origins, { libvirtGuests: "Debian's default" });
  const b = cellProvenance(fleet.value, 1, fleet.origins, { libvirtGuests: "Debian's default" });

  test("a cell's own entry, else the defaults (in the base file), else not set", () => {
    expect(a["overcommit.ramAllocationRatio"]).toEqual({ path: "defaults.overcommit.ramAllocationRatio", at: "fleets/common.yaml:3" });
    expect(b["overcommit.ramAllocationRatio"]).toEqual({ path: "cells[1](cell-b).overcommit.ramAllocationRatio", at: "fleets/prod.yaml:5" });
    expect(a["overcommit.cpuAllocationRatio"]).toEqual({ path: "defaults.overcommit.cpuAllocationRatio", unset: "the built-in default" });
    expect(showSource(a["overcommit.cpuAllocationRatio"])).toBe("defaults.overcommit.cpuAllocationRatio (not set: the built-in default)");
    expect(a.versionSet).toEqual({ path: "defaults.versionSet", at: "fleets/common.yaml:8" });
    expect(b.desktops).toEqual({ path: "cells[1](cell-b).desktops", at: "fleets/prod.yaml:4" });
    // A config that is not the file on disk (no origins): the path where it is set, no line, never "not set".
    const noLines = cellProvenance(fleet.value, 1, undefined, { libvirtGuests: "Debian's default" });
    expect(noLines["overcommit.ramAllocationRatio"]).toEqual({ path: "cells[1](cell-b).overcommit.ramAllocationRatio" });
    expect(showSource(noLines["overcommit.ramAllocationRatio"])).toBe("cells[1](cell-b).overcommit.ramAllocationRatio");
  });

  test("ksm as a whole; libvirt-guests key by key over Debian's defaults", () => {
    expect(a["overcommit.ksm"]).toEqual({ path: "defaults.overcommit.ksm", at: "fleets/common.yaml:4" });
    expect(b["overcommit.ksm"]).toEqual({ path: "cells[1](cell-b).overcommit.ksm", at: "fleets/prod.yaml:5" });
    expect(b["bootStorm.libvirtGuests.shutdownTimeoutSeconds"]).toEqual({ path: "defaults.bootStorm.libvirtGuests.shutdownTimeoutSeconds", at: "fleets/common.yaml:7" });
    expect(b["bootStorm.libvirtGuests.parallelShutdown"]).toEqual({ path: "cells[1](cell-b).bootStorm.libvirtGuests.parallelShutdown", at: "fleets/prod.yaml:6" });
    expect(a["bootStorm.libvirtGuests.parallelShutdown"]).toEqual({ path: "defaults.bootStorm.libvirtGuests.parallelShutdown", unset: "Debian's default" });
  });

  test("fleet-wide settings (RabbitMQ, networking, version sets): where written, or the nearest place that is (where to add it)", () => {
    const f = read("fleets/common.yaml", ["rabbitmq:", "  heartbeatSeconds: 30", "  keepalive: { enabled: true }", "versionSets:", "  bookworm-2026-10:", "    nova: 2:26.2.2-1~deb12u5", ""].join("\n"));
    const p = fleetProvenance(f.value, f.origins);
    expect(p["rabbitmq.heartbeatSeconds"]).toEqual({ path: "rabbitmq.heartbeatSeconds", at: "fleets/common.yaml:2" });
    expect(locate("set rabbitmq.keepalive.enabled: true", p)).toBe("set rabbitmq.keepalive.enabled (fleets/common.yaml:3): true");
    expect(locate("set rabbitmq.keepalive.timeSeconds ≤ 600", p)).toBe("set rabbitmq.keepalive.timeSeconds (fleets/common.yaml:3) ≤ 600");
    expect(locate("set versionSets.bookworm-2026-10.aptSource (uri, suite)", p)).toBe('set versionSets["bookworm-2026-10"].aptSource (fleets/common.yaml:5) (uri, suite)');
    expect(locate("set networking.dhcp.bind", p)).toBe("set networking.dhcp.bind");
  });

  test("the pack keeps the latest analysis of a component: a later evaluation's provenance replaces an earlier one's", () => {
    const cell = "urn:pulumi:s::p::vdi:fleet:Fleet$vdi:fleet:Cell::c";
    const host = "urn:pulumi:s::p::vdi:fleet:Fleet$vdi:fleet:Cell$vdi:compute:Host::h";
    const analyze = (provenance: unknown) => {
      remember({ type: "vdi:fleet:Cell", urn: cell, props: { cell: "c", provenance } });
      remember({ type: "vdi:compute:Host", urn: host, props: {}, opts: { parent: cell } });
      return provenanceFor({ opts: { parent: host } });
    };
    expect(analyze({ versionSet: { path: "defaults.versionSet", at: "a.yaml:1" } })).toEqual({ versionSet: { path: "defaults.versionSet", at: "a.yaml:1" } });
    expect(analyze({ versionSet: { path: "defaults.versionSet" } })).toEqual({ versionSet: { path: "defaults.versionSet" } });
    expect(analyze(undefined)).toBeUndefined();
  });

  test("a fix names those places, and only in its fix; without provenance it is unchanged", () => {
    const msg = "cmp-b-001 (cell cell-b): RAM is overcommitted (ram_allocation_ratio 1.1) but overcommit.ksm is off. Fix: set overcommit.ksm.enabled: true, or overcommit.ramAllocationRatio: 1.0.";
    expect(locateMessage(msg, b)).toBe(
      "cmp-b-001 (cell cell-b): RAM is overcommitted (ram_allocation_ratio 1.1) but overcommit.ksm is off. Fix: set cells[1](cell-b).overcommit.ksm.enabled (fleets/prod.yaml:5): true, or cells[1](cell-b).overcommit.ramAllocationRatio (fleets/prod.yaml:5): 1.0.",
    );
    expect(locate("set bootStorm.libvirtGuests.shutdownTimeoutSeconds ≥ 900", a)).toBe("set defaults.bootStorm.libvirtGuests.shutdownTimeoutSeconds (fleets/common.yaml:7) ≥ 900");
    expect(locate("set overcommit.nosuchKey ≤ 1", a)).toBe("set overcommit.nosuchKey ≤ 1");
    expect(locateMessage(msg, undefined)).toBe(msg);
    expect(locateMessage("no fix here", b)).toBe("no fix here");
  });
});

describe("config problems name the file and line to edit (npm run preview in a copy of the project)", () => {
  let dir: string;
  beforeAll(() => {
    dir = copyProject();
    const common = path.join(dir, "fleets", "common.yaml");
    fs.writeFileSync(common, fs.readFileSync(common, "utf8").replace("ramAllocationRatio: 1.2 ", 'ramAllocationRatio: "1.2"'));
  });
  afterAll(removeProjects);

  test.each(["pr", "prod"])("a bad value in the shared base is reported at fleets/common.yaml's line, for stack %s (exit 2)", (stack) => {
    const lines = fs.readFileSync(path.join(dir, "fleets", "common.yaml"), "utf8").split("\n");
    const line = lines.findIndex((l) => l.includes('ramAllocationRatio: "1.2"')) + 1;
    const r = runPreview(dir, ["--stack", stack]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`fleets/common.yaml:${line}: defaults.overcommit.ramAllocationRatio = "1.2": expected a number, got a string. Fix: write it without quotes: 1.2`);
  });
});
