/**
 * mulberry32: a small, fast seeded PRNG in [0, 1). Not for secrets; good
 * enough to spread faults, vary texts, sample reservoirs and time arrivals
 * reproducibly: the same seed gives the same sequence.
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
