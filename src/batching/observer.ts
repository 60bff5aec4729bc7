import type { GatewayError } from "../util/gateway-error.js";
import type { FlushTrigger } from "./flush-policy.js";

/** Why queued items left without being sent to a backend. */
export type DropReason = "deadline" | "cancelled" | "shutdown";

/** Why a request was refused at the batcher's door. */
export type RejectReason = "queue_full" | "no_ready_endpoint" | "circuit_open" | "deadline_unreachable";

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
  /** A failed batch was sent again to another endpoint. */
  retried(failedEndpoint: string, error: GatewayError): void;
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
  retried() {},
  limits() {},
  targets() {},
};
