/**
 * What an adaptive batcher consults: a policy that chooses, within the static
 * caps, how many items a batch should hold and how long the oldest item may
 * wait for it to fill, and learns from what the batcher observes. The static
 * batcher has none (it uses the caps themselves). Implementations run on the
 * request path: cheap, allocation-free and never throwing.
 */
export interface BatchController {
  /** Items per batch to aim for now, in [1, cap]; read at every flush decision. */
  batchSize(cap: number): number;
  /** How long the oldest queued item may wait now, in [0, maxQueueDelayMs]. */
  queueDelayMs(maxQueueDelayMs: number): number;
  /** `items` were admitted to the queue at `nowMs`. */
  itemsAdmitted(items: number, nowMs: number): void;
  /** A batch of `items` was answered successfully by the backend in `durationMs`. */
  batchCompleted(items: number, durationMs: number, nowMs: number): void;
  /** A request was answered (successfully) `latencyMs` after it was admitted. */
  requestCompleted(latencyMs: number, nowMs: number): void;
}
