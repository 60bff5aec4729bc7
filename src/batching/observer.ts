import type { GatewayError } from "../util/gateway-error.js";
import type { FlushTrigger } from "./flush-policy.js";
import type { ItemPriority } from "./item-queue.js";

/** Why queued items left without being sent to a backend. */
export type DropReason = "deadline" | "cancelled" | "shutdown" | "evicted" | "unreachable";

/** How a request was shed for load (see BatcherObserver.shed). */
export type ShedHow = "refused" | "evicted" | "unreachable";

/** Why a request was refused at the batcher's door. */
export type RejectReason =
  | "queue_full"
  | "client_queue_full"
  | "no_ready_endpoint"
  | "circuit_open"
  | "deadline_unreachable";

/**
 * How a batch call that failed with an input rejection (`GatewayError.inputRejection`) ended:
 * - "isolated": splitting it found the rejected inputs; only their requests failed;
 * - "endpoint_fault": counted against the endpoint (every part of the split failed the same
 *   way, the endpoint had just done so, or the batch was a single document that cannot be split);
 * - "budget_exhausted": the split ran out of its call allowance; the rest failed with the backend's error;
 * - "not_reproduced": every part of the split was answered;
 * - "inconclusive": no part was answered, but some failed otherwise (deadline, cancellation, unreachable).
 */
export type InputRejectionOutcome =
  | "isolated"
  | "endpoint_fault"
  | "budget_exhausted"
  | "not_reproduced"
  | "inconclusive";

/**
 * What a batcher reports; the gateway wires it to metrics. Implementations
 * must be cheap and never throw: they run on the request path.
 */
export interface BatcherObserver {
  batchDispatched(items: number, trigger: FlushTrigger): void;
  batchCompleted(endpoint: string, durationMs: number, error: GatewayError | undefined): void;
  /** Time a segment of a request spent queued before its batch left. */
  queueWait(ms: number): void;
  queueDepth(items: number): void;
  /** Batches at the backend now. */
  inFlight(batches: number): void;
  itemsDropped(reason: DropReason, items: number): void;
  rejected(reason: RejectReason): void;
  /** An admitted request was answered: with its scores (`error` undefined) or with `error`. Once per request. */
  requestAnswered(requestId: string, error: GatewayError | undefined): void;
  /** A failed batch was sent again to another endpoint. */
  retried(failedEndpoint: string, error: GatewayError): void;
  /** A batch rejected with an input rejection has been dealt with (see InputRejectionOutcome). */
  inputRejection(endpoint: string, outcome: InputRejectionOutcome): void;
  /** One extra backend call made to isolate a rejected input. */
  isolationCall(endpoint: string): void;
  /** One input found to be the cause of a rejection; its request failed DOCUMENT_REJECTED. */
  poisonItem(endpoint: string): void;
  /** `items` of `client`'s in `band` left the queue in a batch after waiting `waitedMs`. */
  served(client: string, band: ItemPriority, items: number, waitedMs: number): void;
  /**
   * A request of `client` in `band` was shed: refused at the door for load, evicted from the queue
   * by higher-priority work, or taken out of it when the work queued ahead of it made it late.
   */
  shed(client: string, band: ItemPriority, how: ShedHow): void;
  /** The static limits in force (at start and on every reconfiguration). */
  limits(maxBatchSize: number, maxQueueItems: number): void;
  /** The batch size aimed for and the queue delay in force, whenever either changes. */
  targets(batchSize: number, queueDelayMs: number): void;
}

export const noopObserver: BatcherObserver = {
  batchDispatched() {},
  batchCompleted() {},
  queueWait() {},
  queueDepth() {},
  inFlight() {},
  itemsDropped() {},
  rejected() {},
  requestAnswered() {},
  retried() {},
  inputRejection() {},
  isolationCall() {},
  poisonItem() {},
  served() {},
  shed() {},
  limits() {},
  targets() {},
};
