/**
 * The reference codec for the cross-checks: protobufjs (what proto-loader uses)
 * loaded from the project's .proto files, plus converters between its objects
 * and the codec's message shapes.
 */

import path from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import type { InferParameterValue } from "../../src/codec/index.js";

const protoDir = fileURLToPath(new URL("../../proto", import.meta.url));

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
  root.loadSync(["relevance/v1/relevance.proto", "inference/grpc_service.proto"]);
  return root;
}

export const root = loadRoot();

export const TYPE_NAMES = {
  scoreRequest: "relevance.v1.ScoreRequest",
  scoreResponse: "relevance.v1.ScoreResponse",
  modelInferRequest: "inference.ModelInferRequest",
  modelInferResponse: "inference.ModelInferResponse",
} as const;

export type MessageKind = keyof typeof TYPE_NAMES;

type Json = { [key: string]: unknown };

/** Field numbers of the fields added by `variantRoot({ extras: true })`, one per wire type. */
export const EXTRA_FIELDS = {
  xVarint: { type: "int64", id: 1001 },
  xFixed64: { type: "double", id: 1002 },
  xString: { type: "string", id: 1003 },
  xFixed32: { type: "fixed32", id: 1004 },
  xPacked: { rule: "repeated", type: "uint32", id: 1005, options: { packed: true } },
  // A one-byte tag, like every known field's; no message here uses 15.
  xSmall: { type: "uint32", id: 15 },
} as const;

const PACKABLE = new Set([
  "float",
  "double",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "bool",
  "fixed32",
  "sint32",
]);

/**
 * A copy of the schema with every message changed: `extras` adds fields the
 * codec does not know (so they must be skipped), `packed: false` writes repeated
 * numbers one per tag (so they must be accepted unpacked).
 */
export function variantRoot(opts: { extras: boolean; packed: boolean }): protobuf.Root {
  const json = root.toJSON() as Json;
  const visit = (ns: Json): void => {
    const fields = ns.fields as Record<string, Json> | undefined;
    if (fields !== undefined) {
      for (const field of Object.values(fields)) {
        if (field.rule === "repeated" && PACKABLE.has(field.type as string)) {
          field.options = { packed: opts.packed };
        }
      }
      if (opts.extras) Object.assign(fields, structuredClone(EXTRA_FIELDS));
    }
    const nested = ns.nested as Record<string, Json> | undefined;
    if (nested !== undefined) for (const child of Object.values(nested)) visit(child);
  };
  visit(json);
  return protobuf.Root.fromJSON(json as protobuf.INamespace);
}

/** Adds values for the EXTRA_FIELDS to `obj` and to every nested message object, following `type`. */
export function withExtras(type: protobuf.Type, obj: Json, seed: number): Json {
  const out: Json = { ...obj };
  for (const field of type.fieldsArray) {
    const value = out[field.name];
    if (value === undefined || value === null) continue;
    const sub = field.resolve().resolvedType;
    if (!(sub instanceof protobuf.Type)) continue;
    if (field.map) {
      const entries = Object.entries(value as Json).map(([k, v]) => [
        k,
        withExtras(sub, v as Json, seed + 1),
      ]);
      out[field.name] = Object.fromEntries(entries);
    } else if (field.repeated) {
      out[field.name] = (value as Json[]).map((v, i) => withExtras(sub, v, seed + i));
    } else {
      out[field.name] = withExtras(sub, value as Json, seed + 7);
    }
  }
  if (type.fields.xVarint !== undefined) {
    out.xVarint = -seed - 1;
    out.xFixed64 = seed + 0.5;
    out.xString = `unknown ${seed} ✓`;
    out.xFixed32 = seed;
    out.xPacked = [seed, 300, 70000];
    out.xSmall = seed + 1;
  }
  return out;
}

// ---- conversions between the codec's shapes and protobufjs objects ----------

function paramToPbjs(v: InferParameterValue): Json {
  return { [`${v.kind}Param`]: v.value };
}

function paramFromPbjs(p: Json): InferParameterValue | undefined {
  if (p.boolParam != null) return { kind: "bool", value: p.boolParam as boolean };
  if (p.int64Param != null) return { kind: "int64", value: Number(p.int64Param) };
  if (p.stringParam != null) return { kind: "string", value: p.stringParam as string };
  if (p.doubleParam != null) return { kind: "double", value: p.doubleParam as number };
  if (p.uint64Param != null) return { kind: "uint64", value: Number(p.uint64Param) };
  return undefined;
}

const DEFAULT_SCALARS = new Set<unknown>(["", 0, false]);

/**
 * Our shape → a protobufjs plain object. Default scalars and empty repeated
 * fields are dropped (protobufjs writes any property that is present, while
 * proto3 canonical output omits defaults), `undefined` messages are dropped,
 * and InferParameter unions become oneof members.
 */
export function toPbjs(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => toPbjs(v));
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return Array.from(value as Float32Array);
  if (value !== null && typeof value === "object") {
    const obj = value as Json;
    if (key === "parameters") {
      const out: Json = {};
      for (const k of Object.keys(obj)) out[k] = paramToPbjs(obj[k] as InferParameterValue);
      return out;
    }
    const out: Json = {};
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (v === undefined) continue;
      if (DEFAULT_SCALARS.has(v) && !Object.is(v, -0)) continue;
      if ((Array.isArray(v) || ArrayBuffer.isView(v)) && (v as unknown[]).length === 0) continue;
      out[k] = toPbjs(v, k);
    }
    return out;
  }
  return value;
}

/**
 * A protobufjs object as produced by `toObject(m, PBJS_OBJECT)` → our shape:
 * nulls become undefined, parameters become unions, bytes become plain
 * Uint8Arrays (compare with `normalize`).
 */
export function fromPbjs(value: unknown, key = ""): unknown {
  if (value === null) return undefined;
  if (Array.isArray(value)) return value.map((v) => fromPbjs(v));
  if (value instanceof Uint8Array) return value;
  if (typeof value === "object") {
    const obj = value as Json;
    const out: Json = {};
    if (key === "parameters") {
      for (const k of Object.keys(obj)) {
        const p = paramFromPbjs(obj[k] as Json);
        if (p !== undefined) out[k] = p;
      }
      return out;
    }
    for (const k of Object.keys(obj)) out[k] = fromPbjs(obj[k], k);
    return out;
  }
  return value;
}

export const PBJS_OBJECT: protobuf.IConversionOptions = {
  longs: Number,
  defaults: true,
  arrays: true,
  objects: true,
};

/**
 * Makes two decoded messages comparable with `t.same`: byte views become hex,
 * typed arrays become arrays, `undefined` message fields stay undefined.
 */
export function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return `hex:${Buffer.from(value.buffer, value.byteOffset, value.length).toString("hex")}`;
  if (ArrayBuffer.isView(value)) return Array.from(value as Float32Array);
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    const out: Json = {};
    for (const k of Object.keys(value)) out[k] = normalize((value as Json)[k]);
    return out;
  }
  return value;
}

/** protobufjs encode of one of our messages. */
export function pbjsEncode(kind: MessageKind, m: unknown, r: protobuf.Root = root): Buffer {
  const type = r.lookupType(TYPE_NAMES[kind]);
  return Buffer.from(type.encode(type.fromObject(toPbjs(m) as Json)).finish());
}

/** protobufjs decode into our shape. */
export function pbjsDecode(kind: MessageKind, buf: Uint8Array): unknown {
  const type = root.lookupType(TYPE_NAMES[kind]);
  return fromPbjs(type.toObject(type.decode(buf), PBJS_OBJECT));
}
