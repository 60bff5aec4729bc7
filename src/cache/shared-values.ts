/**
 * What the shared tier stores and logs: a row as a value (five little-endian
 * float32), and the small text helpers of its calls.
 */

/** Bytes of one stored row: five float32. */
export const SHARED_ROW_BYTES = 20;

/** Five float32, little endian. */
export function encodeRow(from: Float32Array, offset: number): Buffer {
  const buf = Buffer.allocUnsafe(SHARED_ROW_BYTES);
  for (let k = 0; k < 5; k++) buf.writeFloatLE(from[offset + k]!, k * 4);
  return buf;
}

/** The five probabilities of a stored value; undefined when it is not one (wrong size, not in [0, 1]). */
export function decodeRow(value: Buffer): Float32Array | undefined {
  if (value.length !== SHARED_ROW_BYTES) return undefined;
  const row = new Float32Array(5);
  for (let k = 0; k < 5; k++) {
    const p = value.readFloatLE(k * 4);
    if (!(p >= 0 && p <= 1)) return undefined;
    row[k] = p;
  }
  return row;
}

export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export function describe(value: unknown): string {
  return Array.isArray(value) ? `${value.length} values` : typeof value;
}

/** The URL without its password, for logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable url)";
  }
}
