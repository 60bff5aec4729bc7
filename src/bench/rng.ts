/**
 * Seeded randomness for load generation: the same seed gives the same
 * arrivals, so two configurations measured in one run see the same load.
 */

/** mulberry32: a small, fast PRNG in [0, 1), good enough for arrival times and text variety. */
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

/**
 * One gap between Poisson arrivals at `ratePerS`, in milliseconds: an
 * exponential variate by inversion, −ln(1 − u) / λ. `1 − u` is in (0, 1], so
 * the logarithm is finite. A rate of 0 (or less) never arrives: Infinity.
 */
export function exponentialGapMs(random: () => number, ratePerS: number): number {
  if (!(ratePerS > 0)) return Number.POSITIVE_INFINITY;
  return (-Math.log(1 - random()) * 1000) / ratePerS;
}
