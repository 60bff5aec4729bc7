// A parser for the protobuf text format that Triton's config.pbtxt files are written in, and a schema
// for the part of Triton's ModelConfig (triton-inference-server/common, protobuf/model_config.proto)
// that this repository's model configs use. Field names, types and enum values follow that proto.
//
// Like Triton, which parses config.pbtxt with protobuf's TextFormat, it rejects unknown fields, enum
// values and malformed numbers, naming the file and line. A field that Triton knows but this schema
// lacks is also rejected: add it (with its proto type) when a config starts using it.
//
// Text format covered: `name: scalar`, `name { … }` and `name: { … }`, lists `name: [ a, b ]` and
// `name [ { … }, { … } ]`, repeated fields written several times, map entries
// `name { key: … value: … }`, "…" and '…' strings with C escapes (adjacent strings concatenate),
// decimal numbers, `#` comments, and `,` or `;` after a field. Not covered (rejected): `< … >`
// message delimiters, hex/octal numbers, extensions and Any.

export class PbtxtError extends Error {
  override name = "PbtxtError";
}

// ───────────────────────── syntax

type Token =
  | { readonly t: "punct"; readonly text: "{" | "}" | "[" | "]" | ":" | "," | ";"; readonly line: number }
  | { readonly t: "ident"; readonly text: string; readonly line: number }
  | { readonly t: "number"; readonly text: string; readonly line: number }
  | { readonly t: "string"; readonly text: string; readonly line: number };

/** A scalar as written: the parser does not know field types; the schema step interprets it. */
export type PbScalar =
  | { readonly t: "ident"; readonly text: string }
  | { readonly t: "number"; readonly text: string }
  | { readonly t: "string"; readonly text: string };

export type PbValue =
  | { readonly kind: "scalar"; readonly scalar: PbScalar; readonly line: number }
  | { readonly kind: "message"; readonly fields: readonly PbField[]; readonly line: number };

export interface PbField {
  readonly name: string;
  readonly value: PbValue;
  readonly line: number;
}

const ESCAPES: Readonly<Record<string, string>> = {
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
  "\\": "\\",
  "'": "'",
  '"': '"',
  "?": "?",
};

function tokenize(text: string, source: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const fail = (message: string): never => {
    throw new PbtxtError(`${source}:${line}: ${message}`);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") {
      i++;
    } else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if ("{}[]:,;".includes(c)) {
      tokens.push({ t: "punct", text: c as "{", line });
      i++;
    } else if (c === '"' || c === "'") {
      let value = "";
      i++;
      while (text[i] !== c) {
        const ch = text[i];
        if (ch === undefined || ch === "\n") fail("unterminated string");
        if (ch === "\\") {
          const next = text[i + 1] ?? "";
          if (/[0-7]/.test(next)) {
            const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1))![0];
            value += String.fromCharCode(Number.parseInt(oct, 8));
            i += 1 + oct.length;
          } else if (next === "x") {
            const hex = /^[0-9A-Fa-f]{1,2}/.exec(text.slice(i + 2))?.[0] ?? fail("bad \\x escape");
            value += String.fromCharCode(Number.parseInt(hex, 16));
            i += 2 + hex.length;
          } else {
            const escaped = ESCAPES[next] ?? fail(`unknown escape \\${next}`);
            value += escaped;
            i += 2;
          }
        } else {
          value += ch;
          i++;
        }
      }
      i++;
      const previous = tokens[tokens.length - 1];
      // "a" "b" is one string, as in C.
      if (previous?.t === "string") tokens[tokens.length - 1] = { ...previous, text: previous.text + value };
      else tokens.push({ t: "string", text: value, line });
    } else if (/[-+0-9.]/.test(c)) {
      const m = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?/.exec(text.slice(i));
      if (!m) fail(`unexpected '${c}'`);
      const after = text[i + m![0].length];
      if (after !== undefined && /[A-Za-z_]/.test(after)) fail(`malformed number '${m![0]}${after}…'`);
      tokens.push({ t: "number", text: m![0], line });
      i += m![0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ t: "ident", text: m[0], line });
      i += m[0].length;
    } else {
      fail(`unexpected '${c}'`);
    }
  }
  return tokens;
}

/** Parses the text into fields, without a schema. Throws PbtxtError naming `source` and the line. */
export function parsePbtxt(text: string, source: string): PbField[] {
  const tokens = tokenize(text, source);
  let pos = 0;
  const lastLine = tokens[tokens.length - 1]?.line ?? 1;
  const fail = (message: string, line = tokens[pos]?.line ?? lastLine): never => {
    throw new PbtxtError(`${source}:${line}: ${message}`);
  };
  const peek = (): Token | undefined => tokens[pos];
  const isPunct = (tok: Token | undefined, text: string) => tok?.t === "punct" && tok.text === text;
  const expectPunct = (text: string): void => {
    if (!isPunct(peek(), text)) fail(`expected '${text}'${describe(peek())}`);
    pos++;
  };

  const parseMessageBody = (closing: "}" | undefined): PbField[] => {
    const fields: PbField[] = [];
    for (;;) {
      const tok = peek();
      if (tok === undefined) {
        if (closing !== undefined) fail(`expected '${closing}' before the end of the file`, lastLine);
        return fields;
      }
      if (closing !== undefined && isPunct(tok, closing)) {
        pos++;
        return fields;
      }
      if (tok.t !== "ident") fail(`expected a field name${describe(tok)}`);
      pos++;
      const name = tok.text;
      const colon = isPunct(peek(), ":");
      if (colon) pos++;
      const next = peek();
      if (isPunct(next, "[")) {
        pos++;
        if (isPunct(peek(), "]")) pos++;
        else {
          for (;;) {
            fields.push({ name, value: parseValue(colon), line: tok.line });
            if (isPunct(peek(), ",")) {
              pos++;
              continue;
            }
            expectPunct("]");
            break;
          }
        }
      } else {
        fields.push({ name, value: parseValue(colon), line: tok.line });
      }
      if (isPunct(peek(), ",") || isPunct(peek(), ";")) pos++;
    }
  };

  const parseValue = (colon: boolean): PbValue => {
    const tok = peek();
    if (tok === undefined) return fail("expected a value before the end of the file", lastLine);
    if (isPunct(tok, "{")) {
      pos++;
      return { kind: "message", fields: parseMessageBody("}"), line: tok.line };
    }
    if (!colon) fail(`expected ':' or '{'${describe(tok)}`);
    if (tok.t === "punct") return fail(`expected a value${describe(tok)}`);
    pos++;
    return { kind: "scalar", scalar: { t: tok.t, text: tok.text }, line: tok.line };
  };

  return parseMessageBody(undefined);
}

function describe(tok: Token | undefined): string {
  if (tok === undefined) return " before the end of the file";
  return tok.t === "string" ? `, found "${tok.text}"` : `, found '${tok.text}'`;
}

// ───────────────────────── schema (a subset of model_config.proto)

type ScalarType = "string" | "bool" | "int32" | "int64" | "uint32" | "uint64";
type FieldType =
  | ScalarType
  | { readonly enum: readonly string[] }
  | { readonly message: string }
  | { readonly mapKey: "string" | "uint64"; readonly mapValue: ScalarType | { readonly message: string } };

interface FieldSchema {
  readonly type: FieldType;
  readonly repeated?: true;
}

interface MessageSchema {
  readonly fields: Readonly<Record<string, FieldSchema>>;
  /** Groups of fields of which at most one may be set (proto `oneof`). */
  readonly oneofs?: readonly (readonly string[])[];
}

const DATA_TYPE = {
  enum: [
    "TYPE_INVALID",
    "TYPE_BOOL",
    "TYPE_UINT8",
    "TYPE_UINT16",
    "TYPE_UINT32",
    "TYPE_UINT64",
    "TYPE_INT8",
    "TYPE_INT16",
    "TYPE_INT32",
    "TYPE_INT64",
    "TYPE_FP16",
    "TYPE_FP32",
    "TYPE_FP64",
    "TYPE_STRING",
    "TYPE_BF16",
  ],
} as const;

const SCHEMA: Readonly<Record<string, MessageSchema>> = {
  ModelConfig: {
    fields: {
      name: { type: "string" },
      platform: { type: "string" },
      backend: { type: "string" },
      runtime: { type: "string" },
      max_batch_size: { type: "int32" },
      input: { type: { message: "ModelInput" }, repeated: true },
      output: { type: { message: "ModelOutput" }, repeated: true },
      dynamic_batching: { type: { message: "ModelDynamicBatching" } },
      ensemble_scheduling: { type: { message: "ModelEnsembling" } },
      instance_group: { type: { message: "ModelInstanceGroup" }, repeated: true },
      default_model_filename: { type: "string" },
      parameters: { type: { mapKey: "string", mapValue: { message: "ModelParameter" } } },
    },
    // sequence_batching (13) is the third member upstream; it is not in this subset.
    oneofs: [["dynamic_batching", "ensemble_scheduling"]],
  },
  ModelInput: {
    fields: {
      name: { type: "string" },
      data_type: { type: DATA_TYPE },
      format: { type: { enum: ["FORMAT_NONE", "FORMAT_NHWC", "FORMAT_NCHW"] } },
      dims: { type: "int64", repeated: true },
      reshape: { type: { message: "ModelTensorReshape" } },
      is_shape_tensor: { type: "bool" },
      allow_ragged_batch: { type: "bool" },
      optional: { type: "bool" },
    },
  },
  ModelOutput: {
    fields: {
      name: { type: "string" },
      data_type: { type: DATA_TYPE },
      dims: { type: "int64", repeated: true },
      reshape: { type: { message: "ModelTensorReshape" } },
      label_filename: { type: "string" },
      is_shape_tensor: { type: "bool" },
    },
  },
  ModelTensorReshape: { fields: { shape: { type: "int64", repeated: true } } },
  ModelDynamicBatching: {
    fields: {
      preferred_batch_size: { type: "int32", repeated: true },
      max_queue_delay_microseconds: { type: "uint64" },
      preserve_ordering: { type: "bool" },
      priority_levels: { type: "uint64" },
      default_priority_level: { type: "uint64" },
      default_queue_policy: { type: { message: "ModelQueuePolicy" } },
      priority_queue_policy: { type: { mapKey: "uint64", mapValue: { message: "ModelQueuePolicy" } } },
    },
  },
  ModelQueuePolicy: {
    fields: {
      timeout_action: { type: { enum: ["REJECT", "DELAY"] } },
      default_timeout_microseconds: { type: "uint64" },
      allow_timeout_override: { type: "bool" },
      max_queue_size: { type: "uint32" },
    },
  },
  ModelEnsembling: {
    fields: { step: { type: { message: "ModelEnsemblingStep" }, repeated: true } },
  },
  ModelEnsemblingStep: {
    fields: {
      model_name: { type: "string" },
      model_version: { type: "int64" },
      input_map: { type: { mapKey: "string", mapValue: "string" } },
      output_map: { type: { mapKey: "string", mapValue: "string" } },
    },
  },
  ModelInstanceGroup: {
    fields: {
      name: { type: "string" },
      kind: { type: { enum: ["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"] } },
      count: { type: "int32" },
      gpus: { type: "int32", repeated: true },
      profile: { type: "string", repeated: true },
      passive: { type: "bool" },
      host_policy: { type: "string" },
    },
  },
  ModelParameter: { fields: { string_value: { type: "string" } } },
};

/** A decoded value: what protobuf's JSON mapping would give, with 64-bit integers as numbers. */
export type PbJson = string | number | boolean | PbObject | PbJson[];
export interface PbObject {
  [field: string]: PbJson;
}

const INT_RANGES: Readonly<Record<Exclude<ScalarType, "string" | "bool">, readonly [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  // 64-bit values beyond 2^53 would lose precision as numbers; no config needs them.
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

function decodeScalar(
  type: ScalarType | { readonly enum: readonly string[] },
  value: PbValue,
  fail: (line: number, m: string) => never,
): PbJson {
  if (value.kind !== "scalar")
    return fail(value.line, `expected a ${typeof type === "string" ? type : "enum value"}, found a message`);
  const { scalar } = value;
  if (typeof type === "object") {
    if (scalar.t !== "ident" || !type.enum.includes(scalar.text)) {
      return fail(value.line, `'${scalar.text}' is not one of ${type.enum.join(", ")}`);
    }
    return scalar.text;
  }
  switch (type) {
    case "string":
      if (scalar.t !== "string") return fail(value.line, `expected a quoted string, found ${scalar.text}`);
      return scalar.text;
    case "bool":
      if (scalar.t === "ident" && (scalar.text === "true" || scalar.text === "false"))
        return scalar.text === "true";
      return fail(value.line, `expected true or false, found ${scalar.text}`);
    default: {
      if (scalar.t !== "number" || !/^[-+]?\d+$/.test(scalar.text)) {
        return fail(value.line, `expected an integer (${type}), found ${scalar.text}`);
      }
      const n = Number(scalar.text);
      const [min, max] = INT_RANGES[type];
      if (n < min || n > max) return fail(value.line, `${scalar.text} is out of range for ${type}`);
      return n;
    }
  }
}

/**
 * Decodes parsed fields as the message `typeName` (default ModelConfig): unknown fields, wrong
 * types, a non-repeated field given twice and a second member of a oneof are errors naming the line.
 */
export function decodeMessage(
  fields: readonly PbField[],
  source: string,
  typeName = "ModelConfig",
): PbObject {
  const fail = (line: number, message: string): never => {
    throw new PbtxtError(`${source}:${line}: ${message}`);
  };
  const decode = (msgFields: readonly PbField[], name: string): PbObject => {
    const schema = SCHEMA[name];
    if (schema === undefined) throw new Error(`pbtxt schema has no message ${name}`);
    const out: PbObject = {};
    for (const field of msgFields) {
      const spec = schema.fields[field.name];
      if (spec === undefined) fail(field.line, `unknown field '${field.name}' in ${name}`);
      const { type } = spec!;
      let value: PbJson;
      if (typeof type === "object" && "message" in type) {
        if (field.value.kind !== "message")
          fail(field.line, `field '${field.name}' is a ${type.message}, expected { … }`);
        value = decode(field.value.kind === "message" ? field.value.fields : [], type.message);
      } else if (typeof type === "object" && "mapKey" in type) {
        if (field.value.kind !== "message")
          fail(field.line, `field '${field.name}' is a map, expected { key: … value: … }`);
        const entry = field.value.kind === "message" ? field.value.fields : [];
        const key = entry.find((f) => f.name === "key");
        const val = entry.find((f) => f.name === "value");
        const stray = entry.find((f) => f.name !== "key" && f.name !== "value");
        if (stray) fail(stray.line, `unknown field '${stray.name}' in a map entry of '${field.name}'`);
        if (!key || !val) fail(field.line, `map entry of '${field.name}' needs both key and value`);
        const keyJson = decodeScalar(type.mapKey, key!.value, fail);
        const valueJson =
          typeof type.mapValue === "object"
            ? val!.value.kind === "message"
              ? decode(val!.value.fields, type.mapValue.message)
              : fail(val!.line, `map value of '${field.name}' is a ${type.mapValue.message}, expected { … }`)
            : decodeScalar(type.mapValue, val!.value, fail);
        const map = (out[field.name] ?? {}) as PbObject;
        const k = String(keyJson);
        if (k in map) fail(key!.line, `duplicate key ${JSON.stringify(k)} in '${field.name}'`);
        map[k] = valueJson;
        out[field.name] = map;
        continue;
      } else {
        value = decodeScalar(type, field.value, fail);
      }
      if (spec!.repeated) {
        const list = (out[field.name] ?? []) as PbJson[];
        list.push(value);
        out[field.name] = list;
      } else {
        if (field.name in out) fail(field.line, `field '${field.name}' of ${name} is set twice`);
        out[field.name] = value;
      }
    }
    for (const group of schema.oneofs ?? []) {
      const set = group.filter((f) => f in out);
      if (set.length > 1) {
        const line = msgFields.find((f) => f.name === set[1])?.line ?? 0;
        fail(line, `${set.join(" and ")} are alternatives (oneof): set only one`);
      }
    }
    return out;
  };
  return decode(fields, typeName);
}

// ───────────────────────── typed view

export interface TritonTensor {
  readonly name: string;
  readonly dataType: string;
  readonly dims: readonly number[];
}

export interface TritonQueuePolicy {
  readonly timeoutAction: string;
  readonly defaultTimeoutMicroseconds: number;
  readonly allowTimeoutOverride: boolean;
  readonly maxQueueSize: number;
}

export interface TritonModelConfig {
  readonly name: string;
  readonly platform: string;
  readonly backend: string;
  readonly maxBatchSize: number;
  readonly input: readonly TritonTensor[];
  readonly output: readonly TritonTensor[];
  readonly dynamicBatching?: {
    readonly preferredBatchSize: readonly number[];
    readonly maxQueueDelayMicroseconds: number;
    readonly preserveOrdering: boolean;
    /** 0: one FIFO queue. */
    readonly priorityLevels: number;
    readonly defaultPriorityLevel: number;
    readonly defaultQueuePolicy?: TritonQueuePolicy;
  };
  readonly ensembleSteps: readonly {
    readonly modelName: string;
    readonly modelVersion: number;
    readonly inputMap: Readonly<Record<string, string>>;
    readonly outputMap: Readonly<Record<string, string>>;
  }[];
  readonly instanceGroups: readonly { readonly kind: string; readonly count: number }[];
  readonly parameters: Readonly<Record<string, string>>;
}

function obj(v: PbJson | undefined): PbObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v : {};
}
function list(v: PbJson | undefined): PbJson[] {
  return Array.isArray(v) ? v : [];
}
function str(v: PbJson | undefined, dflt = ""): string {
  return typeof v === "string" ? v : dflt;
}
function num(v: PbJson | undefined, dflt = 0): number {
  return typeof v === "number" ? v : dflt;
}
function strMap(v: PbJson | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(v)).map(([k, x]) => [k, str(x)]));
}

function tensor(v: PbJson): TritonTensor {
  const t = obj(v);
  return {
    name: str(t.name),
    dataType: str(t.data_type, "TYPE_INVALID"),
    dims: list(t.dims).map((d) => num(d)),
  };
}

function queuePolicy(v: PbJson): TritonQueuePolicy {
  const p = obj(v);
  return {
    timeoutAction: str(p.timeout_action, "REJECT"),
    defaultTimeoutMicroseconds: num(p.default_timeout_microseconds),
    allowTimeoutOverride: p.allow_timeout_override === true,
    maxQueueSize: num(p.max_queue_size),
  };
}

/** Parses and decodes a config.pbtxt into the fields the checks use, proto3 defaults filled in. */
export function parseModelConfig(text: string, source: string): TritonModelConfig {
  const c = decodeMessage(parsePbtxt(text, source), source);
  const db = c.dynamic_batching === undefined ? undefined : obj(c.dynamic_batching);
  return {
    name: str(c.name),
    platform: str(c.platform),
    backend: str(c.backend),
    maxBatchSize: num(c.max_batch_size),
    input: list(c.input).map(tensor),
    output: list(c.output).map(tensor),
    ...(db === undefined
      ? {}
      : {
          dynamicBatching: {
            preferredBatchSize: list(db.preferred_batch_size).map((n) => num(n)),
            maxQueueDelayMicroseconds: num(db.max_queue_delay_microseconds),
            preserveOrdering: db.preserve_ordering === true,
            priorityLevels: num(db.priority_levels),
            defaultPriorityLevel: num(db.default_priority_level),
            ...(db.default_queue_policy === undefined
              ? {}
              : { defaultQueuePolicy: queuePolicy(db.default_queue_policy) }),
          },
        }),
    ensembleSteps: list(obj(c.ensemble_scheduling).step).map((s) => {
      const step = obj(s);
      return {
        modelName: str(step.model_name),
        modelVersion: num(step.model_version),
        inputMap: strMap(step.input_map),
        outputMap: strMap(step.output_map),
      };
    }),
    instanceGroups: list(c.instance_group).map((g) => {
      const group = obj(g);
      return { kind: str(group.kind, "KIND_AUTO"), count: num(group.count, 1) };
    }),
    parameters: Object.fromEntries(
      Object.entries(obj(c.parameters)).map(([k, v]) => [k, str(obj(v).string_value)]),
    ),
  };
}
