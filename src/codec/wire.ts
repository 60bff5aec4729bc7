/**
 * Protobuf wire-format reading for the hand-written codecs (writing is in
 * wire-writer.ts).
 *
 * Only what proto3 messages without groups need: varints (32- and 64-bit),
 * length-delimited fields, fixed32 and fixed64. Every read is checked against
 * the end of the input, so malformed input ends in a CodecError rather than a
 * hang or an allocation larger than the input.
 */

import { endianness } from "node:os";

/** Thrown on malformed input: truncation, a bad wire type, a bad length or an invalid varint. */
export class CodecError extends Error {
  override readonly name = "CodecError";
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const TWO_32 = 4294967296;

/** Buffer's unchecked internal slice (what `toString("utf8", start, end)` calls after normalising its arguments). */
interface Utf8SliceBuffer {
  utf8Slice?: (start: number, end: number) => string;
}

// Measured ~20% faster than toString() per short string, and ScoreRequest is mostly short strings.
const hasUtf8Slice = typeof (Buffer.prototype as Utf8SliceBuffer).utf8Slice === "function";

// Long packed float runs are read through an aligned scratch copy viewed as a
// typed array, several times faster than readFloatLE per element; only valid
// where the host byte order is the wire's (little-endian).
const SCRATCH_BYTES = 4096;
const scratch = new ArrayBuffer(SCRATCH_BYTES);
const scratchBytes = new Uint8Array(scratch);
const scratchF32 = new Float32Array(scratch);
const scratchF64 = new Float64Array(scratch);
const bulkFloats = endianness() === "LE";
const BULK_MIN_BYTES = 64;

function truncated(): CodecError {
  return new CodecError("truncated message");
}

/**
 * Sequential reader over one input buffer. Nested messages share the reader:
 * their decoders loop while `pos < end` and then call `endMessage(end)`, which
 * catches a field that ran past the message's declared length.
 */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  /** Bits 32..63 of the value last read by `varint64()`. */
  hi = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
    this.pos = 0;
  }

  /** Reads a tag (or any varint used as uint32): the low 32 bits, unsigned. */
  uint32(): number {
    const buf = this.buf;
    const pos = this.pos;
    if (pos < buf.length) {
      const b = buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    return this.varint64();
  }

  /** int32 and enum fields: negative values arrive sign-extended to 10 bytes; keep the low 32 bits, signed. */
  int32(): number {
    return this.uint32() | 0;
  }

  /** int64 as a number (exact up to 2^53, like protobufjs with `longs: Number`). */
  int64(): number {
    const lo = this.varint64();
    return (this.hi | 0) * TWO_32 + lo;
  }

  uint64(): number {
    const lo = this.varint64();
    return (this.hi >>> 0) * TWO_32 + lo;
  }

  bool(): boolean {
    const lo = this.varint64();
    return lo !== 0 || this.hi !== 0;
  }

  /**
   * Reads a varint of up to 10 bytes: returns bits 0..31 unsigned and leaves
   * bits 32..63 in `hi`. A longer or truncated varint is a CodecError.
   */
  varint64(): number {
    const buf = this.buf;
    const len = buf.length;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    // Bytes 1..4 carry bits 0..27.
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= len) throw truncated();
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    // Byte 5 carries bits 28..34, straddling the two halves.
    if (pos >= len) throw truncated();
    b = buf[pos++]!;
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      // Bytes 6..10 carry bits 35..63 (the 10th byte's bits above 63 are ignored, as everywhere).
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) throw new CodecError("varint longer than 10 bytes");
        if (pos >= len) throw truncated();
        b = buf[pos++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** A length prefix, checked against what remains of the input. */
  length(): number {
    const buf = this.buf;
    const pos = this.pos;
    let n: number;
    if (pos < buf.length && buf[pos]! < 0x80) {
      n = buf[pos]!;
      this.pos = pos + 1;
    } else {
      n = this.varint64();
      if (this.hi !== 0) throw new CodecError("length does not fit in 32 bits");
    }
    if (n > buf.length - this.pos) throw new CodecError(`length ${n} exceeds the remaining input`);
    return n;
  }

  string(): string {
    const n = this.length();
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    if (n === 0) return "";
    const buf = this.buf;
    return hasUtf8Slice
      ? (buf as unknown as Required<Utf8SliceBuffer>).utf8Slice(start, end)
      : buf.toString("utf8", start, end);
  }

  /** A view of the input (no copy): it aliases the input buffer. */
  bytes(): Buffer {
    const n = this.length();
    const start = this.pos;
    this.pos = start + n;
    return this.buf.subarray(start, start + n);
  }

  float(): number {
    const pos = this.pos;
    if (pos + 4 > this.buf.length) throw truncated();
    this.pos = pos + 4;
    return this.buf.readFloatLE(pos);
  }

  double(): number {
    const pos = this.pos;
    if (pos + 8 > this.buf.length) throw truncated();
    this.pos = pos + 8;
    return this.buf.readDoubleLE(pos);
  }

  /** Appends a packed run of fp32 values (a length prefix, then 4 bytes each). */
  packedFloats(out: number[]): void {
    const n = this.length();
    if ((n & 3) !== 0) throw new CodecError("packed fixed32 length is not a multiple of 4");
    const buf = this.buf;
    let pos = this.pos;
    const end = pos + n;
    if (bulkFloats && n >= BULK_MIN_BYTES) {
      while (pos < end) {
        const chunk = Math.min(end - pos, SCRATCH_BYTES);
        buf.copy(scratchBytes, 0, pos, pos + chunk);
        for (let i = 0, count = chunk >> 2; i < count; i++) out.push(scratchF32[i]!);
        pos += chunk;
      }
    } else {
      for (; pos < end; pos += 4) out.push(buf.readFloatLE(pos));
    }
    this.pos = end;
  }

  /** Appends a packed run of fp64 values (a length prefix, then 8 bytes each). */
  packedDoubles(out: number[]): void {
    const n = this.length();
    if ((n & 7) !== 0) throw new CodecError("packed fixed64 length is not a multiple of 8");
    const buf = this.buf;
    let pos = this.pos;
    const end = pos + n;
    if (bulkFloats && n >= BULK_MIN_BYTES) {
      while (pos < end) {
        const chunk = Math.min(end - pos, SCRATCH_BYTES);
        buf.copy(scratchBytes, 0, pos, pos + chunk);
        for (let i = 0, count = chunk >> 3; i < count; i++) out.push(scratchF64[i]!);
        pos += chunk;
      }
    } else {
      for (; pos < end; pos += 8) out.push(buf.readDoubleLE(pos));
    }
    this.pos = end;
  }

  /** Reads a length prefix and returns the end offset of the delimited region. */
  delimitedEnd(): number {
    const n = this.length();
    return this.pos + n;
  }

  /** Called after a nested message's field loop: a field that ran past `end` makes the input malformed. */
  endMessage(end: number): void {
    if (this.pos !== end) throw new CodecError("field overruns its enclosing message");
  }

  /** Skips the value of an unknown field. Groups (wire types 3 and 4) never occur in proto3 and are rejected. */
  skipField(tag: number): void {
    if (tag >>> 3 === 0) throw new CodecError("field number 0");
    switch (tag & 7) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN: {
        // Not `this.pos += this.length()`: that would add to the position from before the prefix.
        const n = this.length();
        this.pos += n;
        return;
      }
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new CodecError(`unsupported wire type ${tag & 7}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw truncated();
    this.pos += n;
  }
}
