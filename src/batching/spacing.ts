import type { FlushTrigger } from "./flush-policy.js";

/**
 * Under a backlog, a full batch leaves at least this share of (the recent
 * batch time ÷ the slots) after the batch before it: batches sent together
 * would finish together, and a request arriving between them would wait for
 * a slot for up to a whole batch time; spread out, a slot frees about every
 * batch time ÷ slots. Below 1, so that a batch time measured a little long
 * costs no throughput.
 */
export const BACKLOG_SPACING_SHARE = 0.9;

export interface SpacingInput {
  readonly size: number;
  readonly trigger: FlushTrigger;
  readonly draining: boolean;
  /** Moving average of recent batch call durations; undefined before the first. */
  readonly recentBatchMs: number | undefined;
  readonly inFlightBatches: number;
  readonly queuedItems: number;
  /** Batches the endpoints may run at once, all together. */
  readonly slots: number;
  readonly lastDispatchMs: number;
}

/**
 * When a full batch of `size` may leave, spread from the one before it:
 * only under a backlog (a full batch still queued behind this one) with
 * another batch in flight and a batch time measured; otherwise at once
 * (-Infinity).
 */
export function spacedUntil(i: SpacingInput): number {
  if (i.trigger !== "full" || i.draining || i.recentBatchMs === undefined || i.inFlightBatches === 0) {
    return Number.NEGATIVE_INFINITY;
  }
  if (i.queuedItems < 2 * i.size) return Number.NEGATIVE_INFINITY;
  return i.lastDispatchMs + (BACKLOG_SPACING_SHARE * i.recentBatchMs) / Math.max(1, i.slots);
}
