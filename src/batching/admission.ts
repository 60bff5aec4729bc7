import type { UnavailableCause } from "../backends/balancer.js";
import type { ErrorReason } from "../util/error-catalogue.js";
import { GatewayError } from "../util/gateway-error.js";
import type { Arrivals } from "./flows.js";
import type { BatcherObserver, RejectReason } from "./observer.js";

/** What the batcher knows when a request arrives. */
export interface AdmissionInput {
  /** Backend config name, for messages. */
  readonly backend: string;
  /** Items (documents) of the request. */
  readonly items: number;
  readonly nowMs: number;
  /** +Infinity for none. */
  readonly deadlineMs: number;
  readonly draining: boolean;
  readonly cancelled: boolean;
  readonly queuedItems: number;
  readonly maxQueueItems: number;
  /** Queued items of lower priority than the request's: evicted to make room when the queue is full. Default 0. */
  readonly evictable?: number | undefined;
  /** The request's client, the items it has queued and the most it may (`null`: no cap of its own). */
  readonly client?:
    | { readonly name: string; readonly queued: number; readonly max: number | null }
    | undefined;
  /** The longest predicted wait a request may queue for, with or without a deadline (`null`: none). */
  readonly maxQueueWaitMs?: number | null | undefined;
  /**
   * Whether an endpoint can take the request's batches: "usable" (or a
   * half-open breaker is trying one of this batcher's batches), or why not
   * with the endpoints' description for the message.
   */
  readonly endpoints:
    | { readonly kind: "usable" }
    | { readonly kind: "unavailable"; readonly cause: UnavailableCause; readonly description: string };
  /** The predicted wait for a new request (see predictWaitMs); undefined when not predicted. */
  readonly predictedWaitMs: number | undefined;
}

/** What a refusal counts in metrics: a rejection by reason, or the items dropped at a deadline. */
export type AdmissionCount =
  | { readonly kind: "rejected"; readonly reason: RejectReason }
  | { readonly kind: "dropped"; readonly items: number };

export type Admission =
  /** `evict`: queued items of lower priority to take out first (0: none). */
  | { readonly admitted: true; readonly evict: number }
  | { readonly admitted: false; readonly error: GatewayError; readonly count: AdmissionCount | undefined };

const ADMITTED: Admission = { admitted: true, evict: 0 };

/**
 * Room kept between a request's predicted wait and its deadline, for the
 * prediction's error (answers come a little after it: up to 2% under 3×
 * overload) and for the time between the client's clock starting and the
 * request reaching the queue (the network, decoding, a busy event loop). A
 * request with a deadline is admitted when its predicted wait plus the
 * margin, the larger of these two, fits before the deadline.
 */
export const DEADLINE_MARGIN_SHARE = 0.05;
export const DEADLINE_MARGIN_MIN_MS = 10;

/** The margin kept before a deadline for a predicted wait of `predictedMs`. */
export function deadlineMarginMs(predictedMs: number): number {
  return Math.max(DEADLINE_MARGIN_MIN_MS, DEADLINE_MARGIN_SHARE * predictedMs);
}

/** Retry advice when no wait can be predicted: what arrives ahead takes the whole rate. */
export const UNBOUNDED_RETRY_AFTER_MS = 1000;

/**
 * May a request enter the queue, or is it refused, and why. The checks run
 * in order, so the answer names the first that fails: shutting down,
 * cancelled, deadline already past, queue full, no endpoint, deadline
 * unreachable by the predicted wait.
 */
export function admit(input: AdmissionInput): Admission {
  const { backend, items, nowMs, deadlineMs } = input;
  if (input.draining) {
    return refuse("SHUTTING_DOWN", `backend ${backend}: gateway is shutting down`);
  }
  if (input.cancelled) return refuse("CLIENT_CANCELLED", "request cancelled by the client");
  if (deadlineMs <= nowMs) {
    return refuse("DEADLINE_EXCEEDED", "deadline exceeded before queueing", { kind: "dropped", items });
  }
  const client = input.client;
  if (client && client.max !== null && client.queued + items > client.max) {
    return refuse(
      "BATCH_QUEUE_FULL",
      `backend ${backend}: client ${client.name} has ${client.queued} items queued, at most ` +
        `${client.max} (maxQueueItemsPerClient); request has ${items} documents`,
      { kind: "rejected", reason: "client_queue_full" },
    );
  }
  const overflow = input.queuedItems + items - input.maxQueueItems;
  if (overflow > 0 && overflow > (input.evictable ?? 0)) {
    return refuse(
      "BATCH_QUEUE_FULL",
      `backend ${backend}: queue full (${input.queuedItems} of ${input.maxQueueItems} items waiting; ` +
        `request has ${items} documents)`,
      { kind: "rejected", reason: "queue_full" },
    );
  }
  if (input.endpoints.kind === "unavailable") {
    const { cause, description } = input.endpoints;
    return {
      admitted: false,
      error: noEndpointError(backend, cause, description),
      count: { kind: "rejected", reason: cause },
    };
  }
  const predicted = input.predictedWaitMs;
  const deadlineLeft = deadlineMs - nowMs;
  const queueBound = input.maxQueueWaitMs ?? Number.POSITIVE_INFINITY;
  if (predicted !== undefined) {
    const margin = deadlineMarginMs(predicted);
    // How far past the nearer bound the prediction reaches (≤ 0: it fits).
    const pastDeadline = Number.isFinite(deadlineLeft) ? predicted + margin - deadlineLeft : -Infinity;
    const pastQueueBound = Number.isFinite(queueBound) ? predicted - queueBound : -Infinity;
    if (pastDeadline > 0 || pastQueueBound > 0) {
      const byDeadline = pastDeadline >= pastQueueBound;
      const what = byDeadline
        ? `the request's deadline in ${Math.round(deadlineLeft)} ms` +
          (Number.isFinite(predicted)
            ? ` (less ${Math.round(margin)} ms kept for the prediction's error)`
            : "")
        : `the queue's bound of ${queueBound} ms (maxQueueWaitMs)`;
      const message = Number.isFinite(predicted)
        ? `backend ${backend}: overloaded; the ${input.queuedItems} items queued ahead would take about ` +
          `${Math.round(predicted)} ms, past ${what}`
        : `backend ${backend}: overloaded; work arriving ahead of this request (higher priorities, other ` +
          `clients' fair shares) takes all the backend serves, so it would wait past ${what}`;
      return {
        admitted: false,
        error: new GatewayError("PREDICTED_DEADLINE_MISS", message, {
          retryAfterMs: Number.isFinite(predicted)
            ? Math.max(1, Math.ceil(Math.max(pastDeadline, pastQueueBound)))
            : UNBOUNDED_RETRY_AFTER_MS,
        }),
        count: { kind: "rejected", reason: "deadline_unreachable" },
      };
    }
  }
  return overflow > 0 ? { admitted: true, evict: overflow } : ADMITTED;
}

function refuse(reason: ErrorReason, message: string, count?: AdmissionCount): Admission {
  return { admitted: false, error: new GatewayError(reason, message), count };
}

/** Counts a refusal as its admission says. */
export function countRefusal(observer: BatcherObserver, count: AdmissionCount | undefined): void {
  if (count?.kind === "dropped") observer.itemsDropped("deadline", count.items);
  else if (count) observer.rejected(count.reason);
}

/** The answer when no endpoint of `backend` may take a batch. */
export function noEndpointError(backend: string, cause: UnavailableCause, description: string): GatewayError {
  return cause === "circuit_open"
    ? new GatewayError(
        "BACKEND_CIRCUIT_OPEN",
        `backend ${backend}: no endpoint available, circuit breakers open (${description})`,
      )
    : new GatewayError("NO_READY_ENDPOINT", `backend ${backend}: no ready endpoint (${description})`);
}

export interface WaitInput {
  /** Queued items answered before the request's last one (not its own; see flows.ts, competition). */
  readonly aheadItems: number;
  /** Work that may still arrive ahead of it while it waits (bands above, other clients' fair shares). */
  readonly arrivals: readonly Arrivals[];
  /** The request's own items. */
  readonly ownItems: number;
  /** Items of batches already sent: every slot is theirs until they are answered. */
  readonly inFlightItems: number;
  /** The measured service rate per usable endpoint (service-rate.ts); undefined until measured. */
  readonly measuredItemsPerEndpointMs: number | undefined;
  /** Moving average of recent batch call durations; undefined before the first. */
  readonly recentBatchMs: number | undefined;
  readonly usableEndpoints: number;
  readonly maxConcurrentBatches: number;
  /** The batch size aimed for. */
  readonly batchTarget: number;
}

/**
 * Items the backend answers per millisecond: the measured rate while work
 * waited, for the endpoints usable now; before any measure, every slot
 * answering a full batch per recent batch time (an upper bound: it assumes
 * full batches and no gap between them). Undefined before any batch.
 */
export function serviceItemsPerMs(input: WaitInput): number | undefined {
  const endpoints = Math.max(1, input.usableEndpoints);
  if (input.measuredItemsPerEndpointMs !== undefined) return input.measuredItemsPerEndpointMs * endpoints;
  if (input.recentBatchMs === undefined) return undefined;
  return (endpoints * input.maxConcurrentBatches * input.batchTarget) / input.recentBatchMs;
}

/**
 * Time until a newly queued request would be answered: the items in flight,
 * the items served before its last one and its own, at the service rate,
 * with what others add ahead of it meanwhile (see serveTimeMs); and its last
 * batch takes a batch time at least (however few items it has of its own,
 * the batch that carries the last of them is answered whole). +Infinity
 * when the work arriving ahead of it takes the whole rate. Only predicted
 * when there is a queue: an idle backend slower than a deadline is the
 * deadline's business, not load.
 */
export function predictWaitMs(input: WaitInput): number | undefined {
  if (input.aheadItems === 0) return undefined;
  const rate = serviceItemsPerMs(input);
  if (rate === undefined) return undefined;
  const items = input.inFlightItems + input.aheadItems + input.ownItems;
  const lastBatchMs = Math.max(0, (input.recentBatchMs ?? 0) - input.ownItems / rate);
  return serveTimeMs(items, rate, input.arrivals) + lastBatchMs;
}

/**
 * The time x to serve `items` at `rate` while each of `arrivals` adds its
 * items ahead: the smallest x with rate·x = items + Σ min(room, perMs·x).
 * The right side grows at the arrivals' rates until each one's room is
 * full, so x is found segment by segment, arrivals in the order their room
 * fills. +Infinity when what keeps arriving (rooms without end) comes at
 * the rate the backend serves or faster.
 *
 *   items ▲          rate·x
 *         │        ╱   ___── items + Σ min(room, perMs·x)
 *         │      ╱_──‾‾
 *         │   _─╳
 *         │─‾ ╱ x
 *         └──────────────▶ ms
 */
export function serveTimeMs(items: number, rate: number, arrivals: readonly Arrivals[]): number {
  let fixed = items;
  let growth = 0;
  const filling: { atMs: number; a: Arrivals }[] = [];
  for (const a of arrivals) {
    if (!(a.perMs > 0) || !(a.room > 0)) continue;
    growth += a.perMs;
    if (Number.isFinite(a.room)) filling.push({ atMs: a.room / a.perMs, a });
  }
  filling.sort((x, y) => x.atMs - y.atMs);
  for (const { atMs, a } of filling) {
    if (rate > growth) {
      const x = fixed / (rate - growth);
      if (x <= atMs) return x;
    }
    fixed += a.room;
    growth -= a.perMs;
  }
  return rate > growth ? fixed / (rate - growth) : Number.POSITIVE_INFINITY;
}
