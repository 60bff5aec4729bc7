import type { Clock } from "../../util/clock.js";

/**
 * Envoy-style retry budget: retries may be at most `percent` of the calls of
 * the last `windowMs` (plus `minRetries`, so a quiet backend can still retry).
 * Counts live in ten buckets that age out, so the budget follows the traffic.
 */
export class RetryBudget {
  readonly #percent: number;
  readonly #minRetries: number;
  readonly #bucketMs: number;
  readonly #clock: Clock;
  readonly #calls = new Array<number>(10).fill(0);
  readonly #retries = new Array<number>(10).fill(0);
  #bucketStartMs: number;
  #index = 0;

  constructor(opts: { percent: number; minRetries: number; windowMs: number }, clock: Clock) {
    this.#percent = opts.percent;
    this.#minRetries = opts.minRetries;
    this.#bucketMs = opts.windowMs / 10;
    this.#clock = clock;
    this.#bucketStartMs = clock.now();
  }

  recordCall(): void {
    this.#roll();
    this.#calls[this.#index]!++;
  }

  /** Takes a retry from the budget when there is room; false when the budget is spent. */
  tryAcquire(): boolean {
    this.#roll();
    const calls = sum(this.#calls);
    const retries = sum(this.#retries);
    if (retries + 1 > this.#minRetries + (calls * this.#percent) / 100) return false;
    this.#retries[this.#index]!++;
    return true;
  }

  #roll(): void {
    const now = this.#clock.now();
    let steps = Math.floor((now - this.#bucketStartMs) / this.#bucketMs);
    if (steps <= 0) return;
    this.#bucketStartMs += steps * this.#bucketMs;
    steps = Math.min(steps, 10);
    for (let i = 0; i < steps; i++) {
      this.#index = (this.#index + 1) % 10;
      this.#calls[this.#index] = 0;
      this.#retries[this.#index] = 0;
    }
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
