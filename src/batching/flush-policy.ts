/**
 * When to send a batch and how big, given what is queued. Pure, so the rules
 * read in one place and are tested without a queue:
 *
 * - A *full* batch is the largest preferred size that the queue can fill
 *   (without preferred sizes: the cap). It goes at once.
 * - Otherwise the batch is due when its oldest item has waited
 *   `maxQueueDelayMs`; it then goes with everything queued, up to the cap.
 * - Otherwise wait until the oldest item becomes due.
 *
 * This is Triton's dynamic-batcher rule (preferred sizes first, delay only when
 * no full or preferred batch can be formed), applied to items rather than
 * requests, so any size can be formed exactly by splitting a request.
 */
export type FlushDecision =
  | { readonly kind: "dispatch"; readonly size: number; readonly trigger: FlushTrigger }
  | { readonly kind: "wait"; readonly dueInMs: number }
  | { readonly kind: "idle" };

/** Why a batch left: its size was reached, a preferred size was reached, its delay expired, or the batcher is draining. */
export type FlushTrigger = "full" | "preferred" | "delay" | "drain";

export interface FlushInput {
  readonly queuedItems: number;
  /** Largest batch allowed for the chosen endpoint. */
  readonly cap: number;
  /** Ascending; sizes above `cap` are ignored. */
  readonly preferredBatchSizes: readonly number[];
  readonly oldestWaitMs: number;
  readonly maxQueueDelayMs: number;
  readonly draining: boolean;
}

/** Timers on a fractional clock can land an ulp short of due; without this slack the batcher would re-arm forever. */
const DUE_TOLERANCE_MS = 1e-6;

export function decideFlush(input: FlushInput): FlushDecision {
  const { queuedItems, cap } = input;
  if (queuedItems <= 0) return { kind: "idle" };
  if (queuedItems >= cap && input.preferredBatchSizes.length === 0) {
    return { kind: "dispatch", size: cap, trigger: "full" };
  }
  const fillable = Math.min(queuedItems, cap);
  const preferred = largestAtMost(input.preferredBatchSizes, fillable);
  if (preferred !== undefined) return { kind: "dispatch", size: preferred, trigger: "preferred" };
  if (input.draining) return { kind: "dispatch", size: fillable, trigger: "drain" };
  if (input.oldestWaitMs >= input.maxQueueDelayMs - DUE_TOLERANCE_MS) {
    return { kind: "dispatch", size: fillable, trigger: fillable === cap ? "full" : "delay" };
  }
  return { kind: "wait", dueInMs: input.maxQueueDelayMs - input.oldestWaitMs };
}

function largestAtMost(sorted: readonly number[], limit: number): number | undefined {
  let best: number | undefined;
  for (const size of sorted) {
    if (size > limit) break;
    best = size;
  }
  return best;
}
