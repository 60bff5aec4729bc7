import type { Clock } from "./clock.js";

const BUCKETS = 10;

/**
 * A budget that follows the traffic: what may be taken is at most `percent`
 * of what was recorded over the last `windowMs`, plus `min` (so a quiet
 * backend still has some). Counts live in ten buckets that age out. The
 * retry budget (calls → retries) and the poison-isolation budget (items sent
 * → items in isolation calls) are both this.
 */
export class RollingBudget {
  readonly #percent: number;
  readonly #min: number;
  readonly #bucketMs: number;
  readonly #clock: Clock;
  readonly #recorded = new Array<number>(BUCKETS).fill(0);
  readonly #taken = new Array<number>(BUCKETS).fill(0);
  #bucketStartMs: number;
  #index = 0;

  constructor(opts: { percent: number; min: number; windowMs: number }, clock: Clock) {
    this.#percent = opts.percent;
    this.#min = opts.min;
    this.#bucketMs = opts.windowMs / BUCKETS;
    this.#clock = clock;
    this.#bucketStartMs = clock.now();
  }

  /** Adds `amount` to the traffic the budget is a share of. */
  record(amount: number): void {
    this.#roll();
    this.#recorded[this.#index]! += amount;
  }

  /** Takes `amount` when there is room for all of it; false (nothing taken) when not. */
  tryTake(amount: number): boolean {
    this.#roll();
    const allowed = this.#min + (sum(this.#recorded) * this.#percent) / 100;
    if (sum(this.#taken) + amount > allowed) return false;
    this.#taken[this.#index]! += amount;
    return true;
  }

  #roll(): void {
    const now = this.#clock.now();
    let steps = Math.floor((now - this.#bucketStartMs) / this.#bucketMs);
    if (steps <= 0) return;
    this.#bucketStartMs += steps * this.#bucketMs;
    steps = Math.min(steps, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.#index = (this.#index + 1) % BUCKETS;
      this.#recorded[this.#index] = 0;
      this.#taken[this.#index] = 0;
    }
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
