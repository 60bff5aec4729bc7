/**
 * `map<string, InferParameter>` of the KServe v2 messages. On the wire a map
 * is a repeated entry message { string key = 1; InferParameter value = 2; },
 * and InferParameter is a oneof, decoded into the InferParameterValue union.
 */

import type { Reader } from "../wire.js";
import {
  delimitedSize,
  int64Size,
  lengths,
  putHeader,
  writeDouble,
  writeInt64,
  writeString,
} from "../wire-writer.js";
import type { InferParameterValue } from "./messages.js";

export type InferParameters = Record<string, InferParameterValue>;

/** Later oneof members replace earlier ones; returns `prev` when the message sets none. */
function decodeParameter(r: Reader, end: number, prev: InferParameterValue | undefined) {
  let v = prev;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x08:
        v = { kind: "bool", value: r.bool() };
        break;
      case 0x10:
        v = { kind: "int64", value: r.int64() };
        break;
      case 0x1a:
        v = { kind: "string", value: r.string() };
        break;
      case 0x21:
        v = { kind: "double", value: r.double() };
        break;
      case 0x28:
        v = { kind: "uint64", value: r.uint64() };
        break;
      default:
        r.skipField(tag);
    }
  }
  r.endMessage(end);
  return v;
}

/**
 * Decodes one map entry into `out` (a later entry with the same key wins).
 * An entry whose value sets no oneof member has no InferParameterValue to
 * become, so it leaves the key absent.
 */
export function decodeParameterEntry(r: Reader, end: number, out: InferParameters): void {
  let key = "";
  let value: InferParameterValue | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) value = decodeParameter(r, r.delimitedEnd(), value);
    else r.skipField(tag);
  }
  r.endMessage(end);
  if (value === undefined) {
    if (Object.hasOwn(out, key)) delete out[key];
  } else if (key === "__proto__") {
    // Plain assignment would replace the record's prototype instead of adding a key.
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    out[key] = value;
  }
}

function parameterSize(v: InferParameterValue): number {
  switch (v.kind) {
    case "bool":
      return 2;
    case "int64":
    case "uint64":
      return 1 + int64Size(v.value);
    case "string":
      // A oneof member has explicit presence: written even when empty.
      return delimitedSize(lengths.str(v.value));
    case "double":
      return 9;
    default:
      throw new TypeError(`unknown InferParameter kind ${(v as { kind: unknown }).kind}`);
  }
}

/** Size of the map field `params` (all its entries, tags included); records lengths for `writeParameters`. */
export function parametersSize(params: InferParameters): number {
  let size = 0;
  for (const key in params) {
    if (!Object.hasOwn(params, key)) continue;
    const entrySlot = lengths.reserve();
    // Map entries always carry both key and value, as every protobuf runtime writes them.
    let entry = delimitedSize(lengths.str(key));
    const valueSlot = lengths.reserve();
    const value = parameterSize(params[key]!);
    lengths.set(valueSlot, value);
    entry += delimitedSize(value);
    lengths.set(entrySlot, entry);
    size += delimitedSize(entry);
  }
  return size;
}

function writeParameter(buf: Buffer, pos: number, v: InferParameterValue): number {
  switch (v.kind) {
    case "bool":
      buf[pos] = 0x08;
      buf[pos + 1] = v.value ? 1 : 0;
      return pos + 2;
    case "int64":
      buf[pos] = 0x10;
      return writeInt64(buf, pos + 1, v.value);
    case "uint64":
      buf[pos] = 0x28;
      return writeInt64(buf, pos + 1, v.value);
    case "string":
      return writeString(buf, pos, 0x1a, v.value, lengths.next());
    case "double":
      buf[pos] = 0x21;
      return writeDouble(buf, pos + 1, v.value);
    default:
      throw new Error("unreachable: parameter kinds are checked when sizing");
  }
}

export function writeParameters(buf: Buffer, pos: number, tag: number, params: InferParameters): number {
  for (const key in params) {
    if (!Object.hasOwn(params, key)) continue;
    pos = putHeader(buf, pos, tag);
    pos = writeString(buf, pos, 0x0a, key, lengths.next());
    pos = putHeader(buf, pos, 0x12);
    pos = writeParameter(buf, pos, params[key]!);
  }
  return pos;
}
