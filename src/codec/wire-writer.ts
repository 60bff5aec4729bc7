/**
 * Protobuf wire-format writing for the hand-written codecs.
 *
 * Encoders make two passes over a message. The sizing pass computes every
 * nested message's length and every string's UTF-8 length and records them,
 * in the order the writing pass will need them, in a `Lengths` queue; the
 * writing pass then fills one `Buffer.allocUnsafe` of the exact total size.
 * That way no string is measured twice and no per-field buffer is allocated.
 */

/**
 * Lengths computed by a sizing pass, consumed in the same order by the
 * writing pass. A nested message reserves its slot before its children
 * record theirs (pre-order), which is the order the writer reads them in.
 */
export class Lengths {
  private readonly a: number[] = [];
  private n = 0;
  private r = 0;

  reset(): void {
    this.n = 0;
    this.r = 0;
  }

  /** Records and returns the UTF-8 byte length of `s` (lone surrogates count as U+FFFD, as Buffer writes them). */
  str(s: string): number {
    const len = s.length === 0 ? 0 : Buffer.byteLength(s);
    this.a[this.n++] = len;
    return len;
  }

  /** Reserves the slot of a nested message whose length is known only after its children are sized. */
  reserve(): number {
    this.a[this.n] = 0;
    return this.n++;
  }

  set(slot: number, len: number): void {
    this.a[slot] = len;
  }

  /** Records a computed length (e.g. a packed field's payload). */
  push(len: number): number {
    this.a[this.n++] = len;
    return len;
  }

  next(): number {
    return this.a[this.r++]!;
  }

  /** Guards against a sizing pass and a writing pass that disagree (a codec bug, never bad input). */
  done(buf: Buffer, pos: number): Buffer {
    if (pos !== buf.length || this.r !== this.n) {
      throw new Error(`codec size mismatch: wrote ${pos} of ${buf.length} bytes`);
    }
    return buf;
  }
}

/** Size of an unsigned 32-bit varint. */
export function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Size of an int32 (or enum) value: negative values are sign-extended to 64 bits, hence 10 bytes. */
export function int32Size(v: number): number {
  return v < 0 ? 10 : varint32Size(v);
}

/** Size of a length-delimited field with a one-byte tag and a payload of `len` bytes. */
export function delimitedSize(len: number): number {
  return 1 + varint32Size(len) + len;
}

// The two halves of the last number split by split64(). Module state rather
// than a returned pair so that int64 encoding allocates nothing.
let splitLo = 0;
let splitHi = 0;

/** Splits an integer-valued number into two's-complement 64-bit halves (as protobufjs's LongBits.fromNumber). */
function split64(v: number): void {
  const neg = v < 0;
  if (neg) v = -v;
  let lo = v >>> 0;
  let hi = ((v - lo) / 4294967296) >>> 0;
  if (neg) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 0xffffffff) {
      lo = 0;
      if (++hi > 0xffffffff) hi = 0;
    }
  }
  splitLo = lo;
  splitHi = hi;
}

function varint64Size(lo: number, hi: number): number {
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0;
  const part2 = hi >>> 24;
  if (part2 !== 0) return part2 < 128 ? 9 : 10;
  if (part1 !== 0) return part1 < 0x80 ? 5 : part1 < 0x4000 ? 6 : part1 < 0x200000 ? 7 : 8;
  return varint32Size(lo);
}

/** Size of an int64 or uint64 value given as a number. */
export function int64Size(v: number): number {
  if (v >= 0 && v < 4294967296) return varint32Size(v >>> 0);
  split64(v);
  return varint64Size(splitLo, splitHi);
}

export function writeVarint32(buf: Buffer, pos: number, v: number): number {
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

function writeVarint64(buf: Buffer, pos: number, lo: number, hi: number): number {
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  return writeVarint32(buf, pos, lo);
}

export function writeInt32(buf: Buffer, pos: number, v: number): number {
  return v < 0 ? writeVarint64(buf, pos, v >>> 0, 0xffffffff) : writeVarint32(buf, pos, v);
}

export function writeInt64(buf: Buffer, pos: number, v: number): number {
  if (v >= 0 && v < 4294967296) return writeVarint32(buf, pos, v >>> 0);
  split64(v);
  return writeVarint64(buf, pos, splitLo, splitHi);
}

/** Writes the bytes of `s`, whose UTF-8 length `len` the sizing pass measured. */
export function writeStringBytes(buf: Buffer, pos: number, s: string, len: number): number {
  if (len === s.length && len <= 16) {
    // ASCII (one byte per UTF-16 unit): for short strings a loop beats the native call (measured).
    for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
  } else if (len !== 0) {
    // The two-argument form is the fast one (passing a length or encoding adds argument checks);
    // the sizing pass guarantees room for all `len` bytes.
    buf.write(s, pos);
  }
  return pos + len;
}

/** A length-prefixed string field; `len` comes from the sizing pass. */
export function writeString(buf: Buffer, pos: number, tag: number, s: string, len: number): number {
  buf[pos++] = tag;
  pos = writeVarint32(buf, pos, len);
  return writeStringBytes(buf, pos, s, len);
}

export function writeBytes(buf: Buffer, pos: number, tag: number, b: Uint8Array): number {
  const n = b.length;
  buf[pos++] = tag;
  pos = writeVarint32(buf, pos, n);
  if (n > 16) {
    buf.set(b, pos);
  } else {
    for (let i = 0; i < n; i++) buf[pos + i] = b[i]!;
  }
  return pos + n;
}

export function writeFloat(buf: Buffer, pos: number, v: number): number {
  return buf.writeFloatLE(v, pos);
}

export function writeDouble(buf: Buffer, pos: number, v: number): number {
  return buf.writeDoubleLE(v, pos);
}

/** proto3 implicit presence for float/double: 0 is the default, but -0 is not (its bits differ). */
export function isDefaultFloat(v: number): boolean {
  return v === 0 && 1 / v > 0;
}

/** The queue shared by all encoders: encoding is synchronous and never re-entrant, and each encode starts with reset(). */
export const lengths = new Lengths();

/** Size of an optional string field (0 when empty); records the string's length for the writer. */
export function strFieldSize(s: string): number {
  const n = lengths.str(s);
  return n === 0 ? 0 : delimitedSize(n);
}

export function strRepeatedSize(a: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < a.length; i++) size += delimitedSize(lengths.str(a[i]!));
  return size;
}

/** Writes an optional string field, consuming its recorded length. */
export function putStr(buf: Buffer, pos: number, tag: number, s: string): number {
  const n = lengths.next();
  return n === 0 ? pos : writeString(buf, pos, tag, s, n);
}

export function putStrRepeated(buf: Buffer, pos: number, tag: number, a: readonly string[]): number {
  for (let i = 0; i < a.length; i++) pos = writeString(buf, pos, tag, a[i]!, lengths.next());
  return pos;
}

/** Starts an embedded message field: tag plus the length recorded for it. */
export function putHeader(buf: Buffer, pos: number, tag: number): number {
  buf[pos++] = tag;
  return writeVarint32(buf, pos, lengths.next());
}
