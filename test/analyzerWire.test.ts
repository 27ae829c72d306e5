/**
 * review/analyzerWire.ts encodes the Analyzer requests byte for byte as
 * google-protobuf (the encoder the generated stubs use) encodes the same
 * messages: checked on random property values and on resources of the
 * real program.
 */
import * as path from "path";
import fc from "fast-check";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { toAnalyzerWire, wireResource, type AnalyzerResource } from "../review/analyzer";
import { encodeAnalyzeRequest, encodeAnalyzeStackRequest, encodeStruct, type WireValue } from "../review/analyzerWire";
import { evaluate, PROJECT_DIR, readStackFile } from "../review/evaluate";

const PULUMI_DIR = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const { Struct } = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [PULUMI_DIR] })) as typeof import("google-protobuf/google/protobuf/struct_pb");

/** The request as review/analyzer.ts built it with google-protobuf before review/analyzerWire.ts. */
const urnName = (urn: string) => (urn.lastIndexOf("::") >= 0 ? urn.slice(urn.lastIndexOf("::") + 2) : urn);
function options(r: AnalyzerResource): analyzerPb.AnalyzerResourceOptions {
  const o = new analyzerPb.AnalyzerResourceOptions();
  o.setProtect(r.protect ?? false);
  o.setIgnorechangesList(r.ignoreChanges ?? []);
  o.setDeletebeforereplace(r.deleteBeforeReplace ?? false);
  o.setDeletebeforereplacedefined(r.deleteBeforeReplace !== undefined);
  o.setAdditionalsecretoutputsList(r.additionalSecretOutputs ?? []);
  o.setAliasesList(r.aliases ?? []);
  const t = new analyzerPb.AnalyzerResourceOptions.CustomTimeouts();
  t.setCreate(r.customTimeouts?.create ?? 0);
  t.setUpdate(r.customTimeouts?.update ?? 0);
  t.setDelete(r.customTimeouts?.delete ?? 0);
  o.setCustomtimeouts(t);
  o.setParent(r.parent ?? "");
  return o;
}
const struct = (inputs: Record<string, unknown> | undefined) => Struct.fromJavaScript((toAnalyzerWire(inputs ?? {}) ?? {}) as Record<string, any>);
function provider(r: AnalyzerResource): analyzerPb.AnalyzerProviderResource | undefined {
  if (!r.provider) return undefined;
  const p = new analyzerPb.AnalyzerProviderResource();
  p.setUrn(r.provider.urn);
  p.setType(r.provider.type);
  p.setName(r.provider.name || urnName(r.provider.urn));
  p.setProperties(struct(r.provider.inputs));
  return p;
}
/** The fields AnalyzeRequest and AnalyzerResource share, set as the runner set them. */
function common<M extends analyzerPb.AnalyzeRequest | analyzerPb.AnalyzerResource>(m: M, r: AnalyzerResource): M {
  m.setUrn(r.urn);
  m.setType(r.type);
  m.setName(r.name || urnName(r.urn));
  m.setProperties(struct(r.inputs));
  m.setOptions(options(r));
  const p = provider(r);
  if (p) m.setProvider(p);
  return m;
}
function reference(r: AnalyzerResource): { analyze: Buffer; stack: analyzerPb.AnalyzerResource } {
  const req = common(new analyzerPb.AnalyzeRequest(), r);
  const ar = common(new analyzerPb.AnalyzerResource(), r);
  ar.setParent(r.parent ?? "");
  ar.setDependenciesList(r.dependencies ?? []);
  for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
    if (urns.length) ar.getPropertydependenciesMap().set(k, new analyzerPb.AnalyzerPropertyDependencies().setUrnsList(urns));
  }
  return { analyze: Buffer.from(req.serializeBinary()), stack: ar };
}
function referenceStack(rs: AnalyzerResource[]): Buffer {
  const req = new analyzerPb.AnalyzeStackRequest();
  req.setResourcesList(rs.map((r) => reference(r).stack));
  return Buffer.from(req.serializeBinary());
}

const json: fc.Arbitrary<WireValue> = fc.letrec<{ v: WireValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true }),
    fc.integer(),
    fc.string({ unit: "binary" }),
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), tie("v"), { maxKeys: 5 }),
  ),
})).v;
const props = fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), json, { maxKeys: 6 });

test("a Struct is encoded as google-protobuf encodes it", () => {
  fc.assert(
    fc.property(props, (p) => {
      expect(encodeStruct(p).equals(Buffer.from(Struct.fromJavaScript(p as Record<string, any>).serializeBinary()))).toBe(true);
    }),
    { numRuns: 500 },
  );
  // Multi-byte lengths and characters outside the BMP.
  const big = { s: "x".repeat(70_000), e: "é🙂", n: -0.5, z: 0, f: false, a: [null, [], {}] };
  expect(encodeStruct(big).equals(Buffer.from(Struct.fromJavaScript(big).serializeBinary()))).toBe(true);
});

const resource = fc.record({
  urn: fc.string({ unit: "binary", maxLength: 30 }),
  type: fc.string({ maxLength: 20 }),
  name: fc.string({ maxLength: 10 }),
  custom: fc.boolean(),
  inputs: props,
  parent: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  dependencies: fc.option(fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), { nil: undefined }),
  propertyDependencies: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }), { maxKeys: 3 }), { nil: undefined }),
  protect: fc.option(fc.boolean(), { nil: undefined }),
  ignoreChanges: fc.option(fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), { nil: undefined }),
  deleteBeforeReplace: fc.option(fc.boolean(), { nil: undefined }),
  additionalSecretOutputs: fc.option(fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), { nil: undefined }),
  aliases: fc.option(fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), { nil: undefined }),
  customTimeouts: fc.option(fc.record({ create: fc.double({ noNaN: true }), update: fc.nat(), delete: fc.constant(0) }), { nil: undefined }),
  provider: fc.option(fc.record({ urn: fc.string({ maxLength: 10 }), type: fc.string({ maxLength: 10 }), name: fc.string({ maxLength: 5 }), inputs: props }), { nil: undefined }),
}) as fc.Arbitrary<AnalyzerResource>;

test("Analyze and AnalyzeStack requests are encoded as google-protobuf encodes them", () => {
  fc.assert(
    fc.property(fc.array(resource, { minLength: 1, maxLength: 4 }), (rs) => {
      for (const r of rs) expect(encodeAnalyzeRequest(wireResource(r)).equals(reference(r).analyze)).toBe(true);
      expect(encodeAnalyzeStackRequest(rs.map(wireResource)).equals(referenceStack(rs))).toBe(true);
    }),
    { numRuns: 300 },
  );
});

test("the prod stack's resources are encoded as google-protobuf encodes them", async () => {
  const ev = await evaluate({ stack: "prod", stackFile: readStackFile("prod"), preview: true, load: () => require(path.join(PROJECT_DIR, "index")) });
  expect(ev.error).toBeUndefined();
  for (const r of ev.resources) expect(encodeAnalyzeRequest(wireResource(r)).equals(reference(r).analyze)).toBe(true);
  expect(encodeAnalyzeStackRequest(ev.resources.map(wireResource)).equals(referenceStack(ev.resources))).toBe(true);
}, 120_000);
