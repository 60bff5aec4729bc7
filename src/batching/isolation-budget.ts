import type { Clock } from "../util/clock.js";
import { RollingBudget } from "../util/rolling-budget.js";

/**
 * How many items the calls that isolate rejected inputs (see Batcher) may
 * carry: at most `percent` of the items sent in batches over the last
 * `windowMs`, plus `minItems`, so that a flood of poison items cannot
 * multiply a backend's load while a quiet backend can still isolate one.
 * Counted in items, not calls: an isolation call carries part of a batch.
 */
export class IsolationBudget {
  readonly #budget: RollingBudget;

  constructor(opts: { percent: number; minItems: number; windowMs: number }, clock: Clock) {
    this.#budget = new RollingBudget(
      { percent: opts.percent, min: opts.minItems, windowMs: opts.windowMs },
      clock,
    );
  }

  /** Items sent in a batch (not in an isolation call). */
  recordSent(items: number): void {
    this.#budget.record(items);
  }

  /** Takes `items` from the budget when there is room for all of them; false (nothing taken) when not. */
  tryTake(items: number): boolean {
    return this.#budget.tryTake(items);
  }
}
