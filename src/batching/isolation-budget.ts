import type { Clock } from "../util/clock.js";

const BUCKETS = 10;

/**
 * How many items the calls that isolate rejected inputs (see Batcher) may
 * carry: at most `percent` of the items sent in batches over the last
 * `windowMs`, plus `minItems`, so that a flood of poison items cannot
 * multiply a backend's load while a quiet backend can still isolate one.
 * Counted in items, not calls: an isolation call carries part of a batch.
 * Counts live in ten buckets that age out, so the budget follows the traffic.
 */
export class IsolationBudget {
  readonly #percent: number;
  readonly #minItems: number;
  readonly #bucketMs: number;
  readonly #clock: Clock;
  readonly #sent = new Array<number>(BUCKETS).fill(0);
  readonly #taken = new Array<number>(BUCKETS).fill(0);
  #bucketStartMs: number;
  #index = 0;

  constructor(opts: { percent: number; minItems: number; windowMs: number }, clock: Clock) {
    this.#percent = opts.percent;
    this.#minItems = opts.minItems;
    this.#bucketMs = opts.windowMs / BUCKETS;
    this.#clock = clock;
    this.#bucketStartMs = clock.now();
  }

  /** Items sent in a batch (not in an isolation call). */
  recordSent(items: number): void {
    this.#roll();
    this.#sent[this.#index]! += items;
  }

  /** Takes `items` from the budget when there is room for all of them; false (nothing taken) when not. */
  tryTake(items: number): boolean {
    this.#roll();
    const allowed = this.#minItems + (sum(this.#sent) * this.#percent) / 100;
    if (sum(this.#taken) + items > allowed) return false;
    this.#taken[this.#index]! += items;
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
      this.#sent[this.#index] = 0;
      this.#taken[this.#index] = 0;
    }
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
