/**
 * The backend's batch time as a function of batch size, learned online:
 *
 *   t(n) ≈ a + b·n      a = fixed cost of a call (ms), b = cost per item (ms)
 *
 * fitted by exponentially weighted least squares over (n, t) of successful
 * batches: every sample is weighted `decay` times less than the one after it,
 * so the fit follows a backend whose speed drifts, with a memory of about
 * 1 / (1 − decay) batches (50 at the default, BentoML's window too). Five
 * running sums make each update O(1), with no buffer of samples.
 *
 * When recent batches all had about the same size (a backend at full load
 * sends every batch at the cap; a spread under 10% of the mean size counts as
 * the same) the slope cannot be told from the data; the
 * last slope that could is kept and the intercept follows the observed mean,
 * and before any slope is known the whole time counts as fixed cost (b = 0),
 * the assumption that favours larger batches, so keeping up with the load
 * errs on the safe side. a and b are never negative.
 */
export class BatchCostModel {
  readonly #decay: number;
  #s0 = 0;
  #sn = 0;
  #sd = 0;
  #snn = 0;
  #snd = 0;
  #samples = 0;
  #fixedMs = 0;
  #perItemMs = 0;
  #slopeKnown = false;

  /** `decay` in (0, 1): the weight an observation keeps per later observation. */
  constructor(decay = 0.98) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`cost model: decay must be in (0, 1), got ${decay}`);
    this.#decay = decay;
  }

  /** Fixed cost a of a batch, ms. */
  get fixedMs(): number {
    return this.#fixedMs;
  }

  /** Cost b per item of a batch, ms. */
  get perItemMs(): number {
    return this.#perItemMs;
  }

  /** Batches observed. */
  get samples(): number {
    return this.#samples;
  }

  /** Whether the batch sizes seen so far varied enough to measure b. */
  get slopeKnown(): boolean {
    return this.#slopeKnown;
  }

  /** Predicted time of a batch of `items`, ms. */
  predictMs(items: number): number {
    return this.#fixedMs + this.#perItemMs * items;
  }

  /**
   * Adds a batch of `items` that took `durationMs`; returns whether a or b
   * changed. Non-finite or non-positive input is ignored.
   */
  observe(items: number, durationMs: number): boolean {
    if (!(items > 0) || !(durationMs >= 0) || !Number.isFinite(items + durationMs)) return false;
    const k = this.#decay;
    this.#s0 = k * this.#s0 + 1;
    this.#sn = k * this.#sn + items;
    this.#sd = k * this.#sd + durationMs;
    this.#snn = k * this.#snn + items * items;
    this.#snd = k * this.#snd + items * durationMs;
    this.#samples++;
    return this.#refit();
  }

  #refit(): boolean {
    const meanN = this.#sn / this.#s0;
    const meanD = this.#sd / this.#s0;
    const varN = this.#snn / this.#s0 - meanN * meanN;
    let a: number;
    let b: number;
    // Sizes spread by less than one item or 10% of their mean say little about
    // the slope: timing noise, or a drift at one size, would pass for one.
    if (this.#samples >= 3 && varN >= Math.max(1, 0.01 * meanN * meanN)) {
      b = (this.#snd / this.#s0 - meanN * meanD) / varN;
      a = meanD - b * meanN;
      this.#slopeKnown = true;
      if (b < 0) {
        b = 0;
        a = meanD;
      } else if (a < 0) {
        a = 0;
        b = this.#snd / this.#snn;
      }
    } else {
      b = this.#slopeKnown ? this.#perItemMs : 0;
      a = meanD - b * meanN;
      if (a < 0) {
        a = 0;
        b = meanD / meanN;
      }
    }
    const changed = a !== this.#fixedMs || b !== this.#perItemMs;
    this.#fixedMs = a;
    this.#perItemMs = b;
    return changed;
  }
}

/**
 * The smallest batch size n whose throughput n / (a + b·n) reaches
 * `itemsPerMs`: n ≥ r·a / (1 − r·b). Infinity when no size reaches it
 * (r·b ≥ 1: the per-item cost alone is too slow); 0 when any size does.
 */
export function minBatchForRate(fixedMs: number, perItemMs: number, itemsPerMs: number): number {
  if (!(itemsPerMs > 0)) return 0;
  const rest = 1 - itemsPerMs * perItemMs;
  if (rest <= 0) return Number.POSITIVE_INFINITY;
  return Math.ceil((itemsPerMs * fixedMs) / rest - 1e-9);
}

/**
 * The largest batch size n whose time a + b·n fits in `ms`. Infinity when
 * b = 0 and a fits; 0 when not even the fixed cost fits.
 */
export function maxBatchWithin(fixedMs: number, perItemMs: number, ms: number): number {
  if (fixedMs > ms) return 0;
  if (perItemMs <= 0) return Number.POSITIVE_INFINITY;
  return Math.floor((ms - fixedMs) / perItemMs + 1e-9);
}
