/**
 * KServe v2 InferTensorContents: one repeated field per element type. Numeric
 * fields are written packed (proto3's default) and read in either form.
 */

import { CodecError, type Reader } from "../wire.js";
import {
  delimitedSize,
  int32Size,
  int64Size,
  lengths,
  varint32Size,
  writeBytes,
  writeDouble,
  writeFloat,
  writeInt32,
  writeInt64,
  writeVarint32,
} from "../wire-writer.js";
import type { InferTensorContentsMessage } from "./messages.js";

export function emptyContents(): InferTensorContentsMessage {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
  };
}

// How a packed run of varints is interpreted; a number rather than a callback
// so that the loop stays monomorphic and allocation-free.
const BOOL = 0;
const INT32 = 1;
const INT64 = 2;
const UINT32 = 3;
const UINT64 = 4;

function readVarintValue(r: Reader, kind: number): number | boolean {
  switch (kind) {
    case BOOL:
      return r.bool();
    case INT32:
      return r.int32();
    case INT64:
      return r.int64();
    case UINT32:
      return r.uint32();
    default:
      return r.uint64();
  }
}

function readPackedVarints(r: Reader, kind: number, out: (number | boolean)[]): void {
  const end = r.delimitedEnd();
  while (r.pos < end) out.push(readVarintValue(r, kind));
  if (r.pos !== end) throw new CodecError("packed varint overruns its length");
}

/** Decodes into `m`, so that a contents field repeated on the wire merges (repeated fields concatenate). */
export function decodeContents(
  r: Reader,
  end: number,
  m: InferTensorContentsMessage,
): InferTensorContentsMessage {
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x08:
        m.boolContents.push(r.bool());
        break;
      case 0x0a:
        readPackedVarints(r, BOOL, m.boolContents);
        break;
      case 0x10:
        m.intContents.push(r.int32());
        break;
      case 0x12:
        readPackedVarints(r, INT32, m.intContents);
        break;
      case 0x18:
        m.int64Contents.push(r.int64());
        break;
      case 0x1a:
        readPackedVarints(r, INT64, m.int64Contents);
        break;
      case 0x20:
        m.uintContents.push(r.uint32());
        break;
      case 0x22:
        readPackedVarints(r, UINT32, m.uintContents);
        break;
      case 0x28:
        m.uint64Contents.push(r.uint64());
        break;
      case 0x2a:
        readPackedVarints(r, UINT64, m.uint64Contents);
        break;
      case 0x35:
        m.fp32Contents.push(r.float());
        break;
      case 0x32:
        r.packedFloats(m.fp32Contents);
        break;
      case 0x39:
        m.fp64Contents.push(r.double());
        break;
      case 0x3a:
        r.packedDoubles(m.fp64Contents);
        break;
      case 0x42:
        m.bytesContents.push(r.bytes());
        break;
      default:
        r.skipField(tag);
    }
  }
  r.endMessage(end);
  return m;
}

/** Payload size of a packed varint field (0 when empty). */
function packedVarintPayload(a: readonly (number | boolean)[], kind: number): number {
  const n = a.length;
  if (kind === BOOL) return n;
  let size = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i] as number;
    size += kind === INT32 ? int32Size(v | 0) : kind === UINT32 ? varint32Size(v >>> 0) : int64Size(v);
  }
  return size;
}

/** Field size of a packed varint field; records its payload size for the writer. */
function packedVarintSize(a: readonly (number | boolean)[], kind: number): number {
  if (a.length === 0) return 0;
  return delimitedSize(lengths.push(packedVarintPayload(a, kind)));
}

export function contentsSize(m: InferTensorContentsMessage): number {
  let size =
    packedVarintSize(m.boolContents, BOOL) +
    packedVarintSize(m.intContents, INT32) +
    packedVarintSize(m.int64Contents, INT64) +
    packedVarintSize(m.uintContents, UINT32) +
    packedVarintSize(m.uint64Contents, UINT64);
  if (m.fp32Contents.length !== 0) size += delimitedSize(m.fp32Contents.length * 4);
  if (m.fp64Contents.length !== 0) size += delimitedSize(m.fp64Contents.length * 8);
  const bytes = m.bytesContents;
  for (let i = 0; i < bytes.length; i++) size += delimitedSize(bytes[i]!.length);
  return size;
}

function writePackedVarints(
  buf: Buffer,
  pos: number,
  tag: number,
  a: readonly (number | boolean)[],
  kind: number,
): number {
  const n = a.length;
  if (n === 0) return pos;
  buf[pos++] = tag;
  pos = writeVarint32(buf, pos, lengths.next());
  for (let i = 0; i < n; i++) {
    const v = a[i];
    if (kind === BOOL) buf[pos++] = v ? 1 : 0;
    else if (kind === INT32) pos = writeInt32(buf, pos, (v as number) | 0);
    else if (kind === UINT32) pos = writeVarint32(buf, pos, (v as number) >>> 0);
    else pos = writeInt64(buf, pos, v as number);
  }
  return pos;
}

export function writeContents(buf: Buffer, pos: number, m: InferTensorContentsMessage): number {
  pos = writePackedVarints(buf, pos, 0x0a, m.boolContents, BOOL);
  pos = writePackedVarints(buf, pos, 0x12, m.intContents, INT32);
  pos = writePackedVarints(buf, pos, 0x1a, m.int64Contents, INT64);
  pos = writePackedVarints(buf, pos, 0x22, m.uintContents, UINT32);
  pos = writePackedVarints(buf, pos, 0x2a, m.uint64Contents, UINT64);
  const f32 = m.fp32Contents;
  if (f32.length !== 0) {
    buf[pos++] = 0x32;
    pos = writeVarint32(buf, pos, f32.length * 4);
    for (let i = 0; i < f32.length; i++) pos = writeFloat(buf, pos, f32[i]!);
  }
  const f64 = m.fp64Contents;
  if (f64.length !== 0) {
    buf[pos++] = 0x3a;
    pos = writeVarint32(buf, pos, f64.length * 8);
    for (let i = 0; i < f64.length; i++) pos = writeDouble(buf, pos, f64[i]!);
  }
  const bytes = m.bytesContents;
  for (let i = 0; i < bytes.length; i++) pos = writeBytes(buf, pos, 0x42, bytes[i]!);
  return pos;
}
