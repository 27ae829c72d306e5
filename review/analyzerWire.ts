/**
 * Protobuf encoding of the Analyzer requests the runner sends (AnalyzeRequest,
 * AnalyzeStackRequest), written straight into one buffer.
 *
 * google-protobuf builds a message object per Value and encodes strings one
 * character at a time in JavaScript; at fleet scale (host documents of ~10 KB
 * in every command's properties) that made the runner, not the policy pack,
 * the slow side of `npm run bench`. Here properties are encoded in two passes
 * (sizes first, then bytes, strings by Buffer.write); analyzeAll encodes each
 * resource's properties once for its Analyze and the AnalyzeStack. The output is byte for byte what
 * google-protobuf produces for the same message (test/analyzer.test.ts).
 *
 * Field numbers: pulumi/proto/pulumi/analyzer.proto and google/protobuf/struct.proto.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

/** A JSON-like value as Struct.fromJavaScript takes it (no undefined). */
export type WireValue = null | boolean | number | string | WireValue[] | { [k: string]: WireValue };

function varintSize(n: number): number {
  let s = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    s++;
  }
  return s;
}
const tagSize = (field: number) => varintSize(field << 3);
const lenFieldSize = (field: number, len: number) => tagSize(field) + varintSize(len) + len;

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number) {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }
  tag(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }
  /** A length-delimited string whose UTF-8 length is known. */
  string(field: number, s: string, bytes: number) {
    this.tag(field, WIRE_LEN);
    this.varint(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, "utf8");
  }
  raw(b: Buffer) {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  double(field: number, d: number) {
    this.tag(field, WIRE_FIXED64);
    this.buf.writeDoubleLE(d, this.pos);
    this.pos += 8;
  }
}

/**
 * Struct encoding in two passes: `size` walks the value once and records, in
 * walk order, every length the writer will need; `write` walks it again in the
 * same order and consumes them.
 */
class StructEncoder {
  private lens: number[] = [];
  private i = 0;

  /** Encoded size of a Value message's content. */
  private valueSize(v: WireValue): number {
    if (v === null) return 2; // null_value (1): varint 0
    switch (typeof v) {
      case "number":
        return 9; // number_value (2): fixed64
      case "boolean":
        return 2; // bool_value (4)
      case "string": {
        const n = Buffer.byteLength(v, "utf8");
        this.lens.push(n);
        return lenFieldSize(3, n);
      }
    }
    const at = this.lens.push(0) - 1;
    const inner = Array.isArray(v) ? this.listSize(v) : this.structSize(v);
    this.lens[at] = inner;
    return lenFieldSize(Array.isArray(v) ? 6 : 5, inner);
  }
  private listSize(a: WireValue[]): number {
    let s = 0;
    for (const x of a) {
      const at = this.lens.push(0) - 1;
      const n = this.valueSize(x);
      this.lens[at] = n;
      s += lenFieldSize(1, n);
    }
    return s;
  }
  /** google-protobuf writes map entries in sorted key order. */
  private structSize(o: { [k: string]: WireValue }): number {
    let s = 0;
    for (const k of Object.keys(o).sort()) {
      const kb = Buffer.byteLength(k, "utf8");
      const at = this.lens.push(kb, 0, 0) - 3; // key bytes, value size, entry size
      const vs = this.valueSize(o[k]);
      const entry = lenFieldSize(1, kb) + lenFieldSize(2, vs);
      this.lens[at + 1] = vs;
      this.lens[at + 2] = entry;
      s += lenFieldSize(1, entry);
    }
    return s;
  }

  private writeValue(w: Writer, v: WireValue) {
    if (v === null) {
      w.tag(1, WIRE_VARINT);
      w.varint(0);
      return;
    }
    switch (typeof v) {
      case "number":
        w.double(2, v);
        return;
      case "boolean":
        w.tag(4, WIRE_VARINT);
        w.varint(v ? 1 : 0);
        return;
      case "string":
        w.string(3, v, this.lens[this.i++]);
        return;
    }
    const inner = this.lens[this.i++];
    w.tag(Array.isArray(v) ? 6 : 5, WIRE_LEN);
    w.varint(inner);
    if (Array.isArray(v)) this.writeList(w, v);
    else this.writeStruct(w, v);
  }
  private writeList(w: Writer, a: WireValue[]) {
    for (const x of a) {
      w.tag(1, WIRE_LEN);
      w.varint(this.lens[this.i++]);
      this.writeValue(w, x);
    }
  }
  private writeStruct(w: Writer, o: { [k: string]: WireValue }) {
    for (const k of Object.keys(o).sort()) {
      const kb = this.lens[this.i];
      const vs = this.lens[this.i + 1];
      const entry = this.lens[this.i + 2];
      this.i += 3;
      w.tag(1, WIRE_LEN);
      w.varint(entry);
      w.string(1, k, kb);
      w.tag(2, WIRE_LEN);
      w.varint(vs);
      this.writeValue(w, o[k]);
    }
  }

  /** The encoded Struct message (its content, without a tag). */
  encode(o: { [k: string]: WireValue }): Buffer {
    this.lens = [];
    this.i = 0;
    const size = this.structSize(o);
    const w = new Writer(size);
    this.writeStruct(w, o);
    if (w.pos !== size) throw new Error(`struct encoding: wrote ${w.pos} bytes, sized ${size}`);
    return w.buf;
  }
}

/** A google.protobuf.Struct, encoded. */
export function encodeStruct(o: { [k: string]: WireValue }): Buffer {
  return new StructEncoder().encode(o);
}

export interface WireOptions {
  protect: boolean;
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  deleteBeforeReplaceDefined: boolean;
  additionalSecretOutputs: string[];
  aliases: string[];
  customTimeouts: { create: number; update: number; delete: number };
  parent: string;
}

export interface WireProvider {
  type: string;
  /** The provider's properties, encoded (encodeStruct). */
  properties: Buffer;
  urn: string;
  name: string;
}

export interface WireResource {
  type: string;
  /** The properties, encoded (encodeStruct); analyzeAll shares them between Analyze and AnalyzeStack. */
  properties: Buffer;
  urn: string;
  name: string;
  options: WireOptions;
  provider?: WireProvider;
  /** AnalyzeStack only. */
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
}

/** Message fields: [field, kind, value]; strings and bools at their proto3 default are not written. */
type Field = [number, "string", string] | [number, "bytes", Buffer] | [number, "bool", boolean] | [number, "double", number] | [number, "message", Field[]];

function fieldsSize(fields: Field[], sizes: Map<Field[], number>, strLens: Map<string, number>): number {
  let s = 0;
  for (const f of fields) {
    const [n, kind, v] = f;
    switch (kind) {
      case "string": {
        if (v === "" && !REPEATED.has(f)) break;
        let b = strLens.get(v);
        if (b === undefined) strLens.set(v, (b = Buffer.byteLength(v, "utf8")));
        s += lenFieldSize(n, b);
        break;
      }
      case "bytes":
        s += lenFieldSize(n, v.length);
        break;
      case "bool":
        if (v) s += tagSize(n) + 1;
        break;
      case "double":
        if (v !== 0) s += tagSize(n) + 8;
        break;
      case "message": {
        const inner = fieldsSize(v, sizes, strLens);
        sizes.set(v, inner);
        s += lenFieldSize(n, inner);
        break;
      }
    }
  }
  return s;
}

function writeFields(w: Writer, fields: Field[], sizes: Map<Field[], number>, strLens: Map<string, number>) {
  for (const f of fields) {
    const [n, kind, v] = f;
    switch (kind) {
      case "string":
        if (v === "" && !REPEATED.has(f)) break;
        w.string(n, v, strLens.get(v)!);
        break;
      case "bytes":
        w.tag(n, WIRE_LEN);
        w.varint(v.length);
        w.raw(v);
        break;
      case "bool":
        if (v) {
          w.tag(n, WIRE_VARINT);
          w.varint(1);
        }
        break;
      case "double":
        if (v !== 0) w.double(n, v);
        break;
      case "message":
        w.tag(n, WIRE_LEN);
        w.varint(sizes.get(v)!);
        writeFields(w, v, sizes, strLens);
        break;
    }
  }
}

/** Elements of repeated string fields: written even when empty. */
const REPEATED = new WeakSet<Field>();
function repeated(n: number, xs: string[]): Field[] {
  return xs.map((x) => {
    const f: Field = [n, "string", x];
    REPEATED.add(f);
    return f;
  });
}

function encodeMessage(fields: Field[]): Buffer {
  const sizes = new Map<Field[], number>();
  const strLens = new Map<string, number>();
  const size = fieldsSize(fields, sizes, strLens);
  const w = new Writer(size);
  writeFields(w, fields, sizes, strLens);
  if (w.pos !== size) throw new Error(`message encoding: wrote ${w.pos} bytes, sized ${size}`);
  return w.buf;
}

function optionFields(o: WireOptions): Field[] {
  return [
    [1, "bool", o.protect],
    ...repeated(2, o.ignoreChanges),
    [3, "bool", o.deleteBeforeReplace],
    [4, "bool", o.deleteBeforeReplaceDefined],
    ...repeated(5, o.additionalSecretOutputs),
    ...repeated(6, o.aliases),
    [7, "message", [[1, "double", o.customTimeouts.create], [2, "double", o.customTimeouts.update], [3, "double", o.customTimeouts.delete]]],
    [8, "string", o.parent],
  ];
}

function resourceFields(r: WireResource, stack: boolean): Field[] {
  const fields: Field[] = [
    [1, "string", r.type],
    [2, "bytes", r.properties],
    [3, "string", r.urn],
    [4, "string", r.name],
    [5, "message", optionFields(r.options)],
  ];
  if (r.provider) {
    fields.push([6, "message", [[1, "string", r.provider.type], [2, "bytes", r.provider.properties], [3, "string", r.provider.urn], [4, "string", r.provider.name]]]);
  }
  if (stack) {
    fields.push([7, "string", r.parent ?? ""], ...repeated(8, r.dependencies ?? []));
    // map<string, AnalyzerPropertyDependencies>: entries in sorted key order, as google-protobuf.
    for (const k of Object.keys(r.propertyDependencies ?? {}).sort()) {
      const urns = r.propertyDependencies![k];
      if (!urns.length) continue;
      const key: Field = [1, "string", k];
      REPEATED.add(key);
      fields.push([9, "message", [key, [2, "message", repeated(1, urns)]]]);
    }
  }
  return fields;
}

/** pulumirpc.AnalyzeRequest, encoded. */
export function encodeAnalyzeRequest(r: WireResource): Buffer {
  return encodeMessage(resourceFields(r, false));
}

/** pulumirpc.AnalyzeStackRequest, encoded. */
export function encodeAnalyzeStackRequest(rs: WireResource[]): Buffer {
  return encodeMessage(rs.map((r): Field => [1, "message", resourceFields(r, true)]));
}
