/**
 * The Triton simulator's "model": a deterministic, documented scoring function
 * so tests can predict every score the gateway returns, while demos still see
 * plausible behaviour (documents sharing words with the query score higher).
 *
 * `simLogits(query, document)` returns five float32 logits, one per label 1..5:
 *
 * 1. words(s) = the lowercased text's runs of Unicode letters and digits
 *    (`s.toLowerCase().match(/[\p{L}\p{N}]+/gu)`).
 * 2. overlap = |distinct query words that also occur in the document| /
 *    |distinct query words|, or 0 when the query has no words.
 * 3. h = FNV-1a 32-bit (offset basis 0x811c9dc5, prime 0x01000193) over the
 *    UTF-8 bytes of `query + "\u0000" + document`.
 * 4. noise_k = ((h >>> (5k)) & 31) / 31 - 0.5, for k = 0..4 (in [-0.5, 0.5]).
 * 5. logits_k = -((k - 4·overlap)²) / 2 + noise_k, rounded to float32
 *    (`Math.fround`).
 *
 * Index k is label k+1, so full overlap peaks at label 5 and no overlap at
 * label 1. `softmax5(logits)` turns a row into probabilities (numerically
 * stable: the max is subtracted before exponentiating); it computes in
 * float64 and does not round, so compare against float32 results with a
 * tolerance (1e-6 is ample).
 */

export type Logits5 = [number, number, number, number, number];

const WORD = /[\p{L}\p{N}]+/gu;
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Distinct lowercased words (runs of Unicode letters and digits). */
export function simWords(text: string): Set<string> {
  return new Set(text.toLowerCase().match(WORD) ?? []);
}

/** Fraction of distinct query words present in the document; 0 when the query has no words. */
export function simOverlap(query: string, document: string): number {
  const q = simWords(query);
  if (q.size === 0) return 0;
  const d = simWords(document);
  let shared = 0;
  for (const w of q) if (d.has(w)) shared++;
  return shared / q.size;
}

/** FNV-1a 32-bit over the UTF-8 bytes of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  const bytes = Buffer.from(text, "utf8");
  let h = FNV_OFFSET_BASIS;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** The five float32 logits for a (query, document) pair; see the module comment. */
export function simLogits(query: string, document: string): Logits5 {
  const overlap = simOverlap(query, document);
  const h = fnv1a32(`${query}\u0000${document}`);
  const out: Logits5 = [0, 0, 0, 0, 0];
  for (let k = 0; k < 5; k++) {
    const noise = ((h >>> (k * 5)) & 31) / 31 - 0.5;
    const d = k - 4 * overlap;
    out[k] = Math.fround(-(d * d) / 2 + noise);
  }
  return out;
}

/** Numerically stable softmax of five values (float64, not rounded). */
export function softmax5(logits: ArrayLike<number>): Logits5 {
  let max = -Infinity;
  for (let k = 0; k < 5; k++) max = Math.max(max, logits[k]!);
  const out: Logits5 = [0, 0, 0, 0, 0];
  let sum = 0;
  for (let k = 0; k < 5; k++) {
    const e = Math.exp(logits[k]! - max);
    out[k] = e;
    sum += e;
  }
  for (let k = 0; k < 5; k++) out[k] = out[k]! / sum;
  return out;
}
