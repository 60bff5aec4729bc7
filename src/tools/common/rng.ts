/**
 * Seeded randomness for load generation: the same seed gives the same
 * arrivals, so two configurations measured in one run see the same load.
 */

export { mulberry32 } from "../../util/mulberry32.js";

/**
 * One gap between Poisson arrivals at `ratePerS`, in milliseconds: an
 * exponential variate by inversion, −ln(1 − u) / λ. `1 − u` is in (0, 1], so
 * the logarithm is finite. A rate of 0 (or less) never arrives: Infinity.
 */
export function exponentialGapMs(random: () => number, ratePerS: number): number {
  if (!(ratePerS > 0)) return Number.POSITIVE_INFINITY;
  return (-Math.log(1 - random()) * 1000) / ratePerS;
}
