import type { Clock } from "../util/clock.js";

/** A bucket's rate: `burst` tokens at most, refilled at `perSecond`. */
export interface BucketRate {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * A token bucket on an injected clock, refilled lazily when it is asked (no
 * timer). A request takes all its tokens or none, so a refused request costs
 * its client nothing and an answered one is charged in full.
 *
 *   tokens ──(+perSecond per second, up to burst)──▶ take(n): n ≤ tokens ? tokens −= n : wait
 */
export class TokenBucket {
  readonly rate: BucketRate;
  #tokens: number;
  #updatedMs: number;
  readonly #clock: Clock;

  constructor(rate: BucketRate, clock: Clock) {
    this.rate = rate;
    this.#clock = clock;
    this.#tokens = rate.burst;
    this.#updatedMs = clock.now();
  }

  /** Tokens available now (fractional while refilling). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /**
   * Takes `n` tokens and returns 0, or takes none and returns the
   * milliseconds (≥ 1) until `n` tokens will be there. `n` must not exceed
   * the burst: such a request can never pass, which the caller decides about.
   */
  take(n: number): number {
    this.#refill();
    if (n <= this.#tokens) {
      this.#tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil(((n - this.#tokens) * 1000) / this.rate.perSecond));
  }

  /** Whether `rate` is this bucket's rate (a reload keeps a bucket, and its debt, when its rate is unchanged). */
  hasRate(rate: BucketRate): boolean {
    return rate.perSecond === this.rate.perSecond && rate.burst === this.rate.burst;
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsedMs = now - this.#updatedMs;
    if (elapsedMs <= 0) return;
    this.#updatedMs = now;
    this.#tokens = Math.min(this.rate.burst, this.#tokens + (elapsedMs * this.rate.perSecond) / 1000);
  }
}
