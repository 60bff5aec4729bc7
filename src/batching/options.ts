import type { BackendEndpoint } from "../backends/backend-client.js";
import type { RetryBudget } from "../backends/resilience/retry-budget.js";
import type { RequestTrace } from "../tracing/request-trace.js";
import type { CancelSignal } from "../util/cancel-signal.js";
import type { Clock } from "../util/clock.js";
import type { BatchController } from "./controller.js";
import type { IsolationBudget } from "./isolation-budget.js";
import type { BandShares, ItemPriority } from "./item-queue.js";
import type { BatcherObserver } from "./observer.js";

/**
 * The knobs of one backend's batcher (the config's `backends.<name>.batching`);
 * `Batcher.reconfigure` changes them while it runs.
 */
export interface BatchLimits {
  /** Items per batch at most (further capped by each endpoint's own `maxBatchSize`). */
  readonly maxBatchSize: number;
  /** How long the oldest queued item may wait for a batch to fill. */
  readonly maxQueueDelayMs: number;
  /** Batch sizes sent as soon as they can be filled; ascending. Empty: only `maxBatchSize`. */
  readonly preferredBatchSizes: readonly number[];
  /** Items waiting at most; a request that does not fit is rejected at once. */
  readonly maxQueueItems: number;
  /** Batches in flight per endpoint at most. */
  readonly maxConcurrentBatches: number;
  /** The bulk and background bands' minimum shares of each batch while they have items queued; none by default. */
  readonly bandMinShare?: BandShares | undefined;
  /** The longest predicted wait a request may queue for, deadline or not; null or absent: its deadline only. */
  readonly maxQueueWaitMs?: number | null | undefined;
  /** Items one client may have queued at most; null or absent: no cap of its own. */
  readonly maxQueueItemsPerClient?: number | null | undefined;
  /** Adaptive mode: chooses the batch size and wait within the caps above. None: the caps themselves. */
  readonly controller?: BatchController | undefined;
}

export interface BatcherOptions extends BatchLimits {
  /** Backend config name, used in error messages. */
  readonly backend: string;
  /** The backend's endpoints, read at each dispatch (they may change). */
  readonly endpoints: () => readonly BackendEndpoint[];
  /** A batch call never runs longer than this, whatever its requests' deadlines (`backends.<name>.timeoutMs`). */
  readonly callTimeoutMs?: number | undefined;
  /** When set, a batch that failed UNAVAILABLE is retried once on another endpoint, within this budget. */
  readonly retryBudget?: RetryBudget | undefined;
  /**
   * Reject at once (RESOURCE_EXHAUSTED) a request that, by the queue ahead of
   * it and the recent batch time, cannot be answered before its deadline.
   */
  readonly shedUnreachableDeadlines?: boolean | undefined;
  /**
   * Items that calls isolating rejected inputs may carry (see #isolate);
   * default: as many as the batches sent in the last 10 s carried, plus 256.
   */
  readonly isolationBudget?: IsolationBudget | undefined;
  readonly clock: Clock;
  readonly observer?: BatcherObserver | undefined;
}

export interface SubmitOptions {
  readonly requestId: string;
  readonly priority: ItemPriority;
  /** Who sent it: the queue shares a band fairly between clients. Default "" (one anonymous client). */
  readonly client?: string | undefined;
  /** The client's weight in its band's fair share (default 1, held to 0.01–1000); applies to its queued items too. */
  readonly weight?: number | undefined;
  /** Clock time after which the request is answered DEADLINE_EXCEEDED and its unsent items dropped. */
  readonly deadlineMs?: number | undefined;
  /** Client cancellation: unsent items are dropped and the request rejected CANCELLED. */
  readonly signal?: CancelSignal | undefined;
  /** The request's trace: its queue wait, the batches that carry its items and their calls' trace context. */
  readonly trace?: RequestTrace | undefined;
}
