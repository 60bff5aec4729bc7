import type { GatewayError } from "../../util/gateway-error.js";
import type { RetryBudget } from "./retry-budget.js";

/**
 * Whether a failed batch may be sent again, and why not:
 * - "retried_already": only a first attempt is retried, once;
 * - "no_budget": retries are off for this backend (no retry budget configured);
 * - "not_retriable": the request, not the endpoint, failed (the error catalogue's `retriable`);
 * - "draining": the gateway is shutting down.
 */
export type RetryVerdict =
  | { readonly retry: true }
  | { readonly retry: false; readonly why: "retried_already" | "no_budget" | "not_retriable" | "draining" };

const RETRY: RetryVerdict = { retry: true };

/**
 * The batcher's retry policy: a batch whose endpoint failed it (UNAVAILABLE
 * and the like) is sent once more, to another endpoint, when the retry
 * budget has room; the budget counts every first call, so retries stay a
 * share of the traffic and a sick backend cannot double its own load.
 */
export class RetryPolicy {
  readonly #budget: RetryBudget | undefined;

  constructor(budget: RetryBudget | undefined) {
    this.#budget = budget;
  }

  /** Decides from the failure alone; the endpoint and the budget token are taken after (`tryAcquire`). */
  verdict(attempt: number, error: GatewayError, draining: boolean): RetryVerdict {
    if (attempt > 0) return { retry: false, why: "retried_already" };
    if (!this.#budget) return { retry: false, why: "no_budget" };
    if (!error.retriable) return { retry: false, why: "not_retriable" };
    if (draining) return { retry: false, why: "draining" };
    return RETRY;
  }

  /** A first call was sent: the budget's base. */
  recordCall(): void {
    this.#budget?.recordCall();
  }

  /** Takes a retry from the budget when there is room. */
  tryAcquire(): boolean {
    return this.#budget?.tryAcquire() ?? false;
  }
}
