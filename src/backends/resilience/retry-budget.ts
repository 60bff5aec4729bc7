import type { Clock } from "../../util/clock.js";
import { RollingBudget } from "../../util/rolling-budget.js";

/**
 * Envoy-style retry budget: retries may be at most `percent` of the calls of
 * the last `windowMs` (plus `minRetries`, so a quiet backend can still retry).
 * Counts live in ten buckets that age out, so the budget follows the traffic.
 */
export class RetryBudget {
  readonly #budget: RollingBudget;

  constructor(opts: { percent: number; minRetries: number; windowMs: number }, clock: Clock) {
    this.#budget = new RollingBudget(
      { percent: opts.percent, min: opts.minRetries, windowMs: opts.windowMs },
      clock,
    );
  }

  recordCall(): void {
    this.#budget.record(1);
  }

  /** Takes a retry from the budget when there is room; false when the budget is spent. */
  tryAcquire(): boolean {
    return this.#budget.tryTake(1);
  }
}
