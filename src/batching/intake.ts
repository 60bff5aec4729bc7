import type { Balancer } from "../backends/balancer.js";
import type { CancelSignal } from "../util/cancel-signal.js";
import { GatewayError } from "../util/gateway-error.js";
import { type Admission, admit, countRefusal } from "./admission.js";
import type { ItemPriority, ItemQueue } from "./item-queue.js";
import type { Job } from "./job.js";
import type { LimitsInForce } from "./limits.js";
import type { BatcherObserver } from "./observer.js";

/** A request at the batcher's door. */
export interface Arrival {
  readonly items: number;
  readonly nowMs: number;
  readonly deadlineMs: number;
  readonly signal: CancelSignal | undefined;
  readonly priority: ItemPriority;
  readonly client: string;
  /** The client's weight in its band (default 1). */
  readonly weight?: number | undefined;
}

const NO_ARRIVALS: readonly [] = [];

/** How often, at most, the queued requests' deadlines are checked against their predicted waits (clock time). */
export const RECHECK_INTERVAL_MS = 100;

/**
 * The most of the time rechecks may take: after one that took t ms (a
 * queue of tens of thousands of requests), the next waits t ÷ this share
 * if that is longer than RECHECK_INTERVAL_MS.
 */
export const RECHECK_TIME_SHARE = 0.05;

/**
 * The batcher's door: it reads what admission (admission.ts, pure) needs
 * from the queue, the balancer and the limits in force, and carries out the
 * verdict: a refusal is counted and returned; an admission that needs room
 * evicts queued lower-priority requests, which `fail` answers with retry
 * advice. With shedUnreachableDeadlines it also checks, while work waits
 * for the backend, that the requests it admitted can still be answered in
 * time (`recheck`).
 */
export class Intake {
  readonly #backend: string;
  readonly #queue: ItemQueue;
  readonly #balancer: Balancer;
  readonly #limits: LimitsInForce;
  readonly #observer: BatcherObserver;
  readonly #shedUnreachableDeadlines: boolean;
  readonly #inFlightItems: () => number;
  readonly #now: () => number;
  #nextRecheckMs = Number.NEGATIVE_INFINITY;

  constructor(parts: {
    backend: string;
    queue: ItemQueue;
    balancer: Balancer;
    limits: LimitsInForce;
    observer: BatcherObserver;
    shedUnreachableDeadlines: boolean;
    /** Items of the batches at the backend now. */
    inFlightItems: () => number;
    /** The clock's time now, read after a recheck to measure what it took. */
    now: () => number;
  }) {
    this.#backend = parts.backend;
    this.#queue = parts.queue;
    this.#balancer = parts.balancer;
    this.#limits = parts.limits;
    this.#observer = parts.observer;
    this.#shedUnreachableDeadlines = parts.shedUnreachableDeadlines;
    this.#inFlightItems = parts.inFlightItems;
    this.#now = parts.now;
  }

  /** Undefined when `a` may be queued now (room made for it); else the refusal, counted. */
  enter(
    a: Arrival,
    draining: boolean,
    fail: (job: Job, error: GatewayError) => void,
  ): GatewayError | undefined {
    const admission = this.#admission(a, draining);
    if (!admission.admitted) return this.#refused(a, admission);
    if (admission.evict > 0) this.#evict(a.priority, admission.evict, fail);
    return undefined;
  }

  /**
   * The refusal `a` would meet for the load queued now (the queue or its
   * client's cap full, the predicted wait past its deadline), counted as
   * `enter` counts it; undefined for any other verdict, which `enter` gives
   * when the request is submitted. Nothing is evicted.
   */
  loadRefusal(a: Arrival, draining: boolean): GatewayError | undefined {
    const admission = this.#admission(a, draining);
    if (admission.admitted || shedReason(admission) === undefined) return undefined;
    return this.#refused(a, admission);
  }

  #refused(a: Arrival, admission: Extract<Admission, { admitted: false }>): GatewayError {
    countRefusal(this.#observer, admission.count);
    if (shedReason(admission) !== undefined) this.#observer.shed(a.client, a.priority, "refused");
    return admission.error;
  }

  #admission(a: Arrival, draining: boolean): Admission {
    const queue = this.#queue;
    const limits = this.#limits.current;
    const perClient = limits.maxQueueItemsPerClient ?? null;
    return admit({
      backend: this.#backend,
      items: a.items,
      nowMs: a.nowMs,
      deadlineMs: a.deadlineMs,
      draining,
      cancelled: a.signal?.aborted === true,
      queuedItems: queue.items,
      maxQueueItems: limits.maxQueueItems,
      evictable: queue.itemsBelow(a.priority),
      client:
        perClient === null
          ? undefined
          : { name: a.client, queued: queue.clientItems(a.client), max: perClient },
      maxQueueWaitMs: limits.maxQueueWaitMs,
      endpoints: this.#balancer.availability(),
      // Only the work served before it: the bands above, and in its band what fair sharing
      // serves of each client meanwhile; the bands below wait for this request, not it for them.
      predictedWaitMs: this.#shedUnreachableDeadlines
        ? this.#limits.predictWaitMs({
            ...queue.competition(a.priority, a.client, a.weight ?? 1, a.items, a.nowMs),
            ownItems: a.items,
            inFlightItems: this.#inFlightItems(),
            usableEndpoints: this.#balancer.usableCount(),
          })
        : undefined,
    });
  }

  /**
   * Sheds the queued requests that the work queued ahead of them now makes
   * late (work that arrived in a band above since they were admitted, a
   * slower backend; see flows.ts, overtaken): each is answered at once,
   * RESOURCE_EXHAUSTED with retry advice, instead of at its deadline, and
   * counted as shed ("unreachable").
   * Call while work waits for a busy backend; runs at most every
   * RECHECK_INTERVAL_MS, and less often when a recheck takes longer than
   * RECHECK_TIME_SHARE of that. A no-op without shedUnreachableDeadlines.
   */
  recheck(nowMs: number, fail: (job: Job, error: GatewayError) => void): void {
    if (!this.#shedUnreachableDeadlines || nowMs < this.#nextRecheckMs) return;
    const inFlightItems = this.#inFlightItems();
    const usableEndpoints = this.#balancer.usableCount();
    const found = this.#queue.unreachable(nowMs, (aheadItems, ownItems) =>
      this.#limits.predictWaitMs({
        aheadItems,
        arrivals: NO_ARRIVALS,
        ownItems,
        inFlightItems,
        usableEndpoints,
      }),
    );
    for (const { job, client, band, predictedMs } of found) {
      const leftMs = job.deadlineMs - nowMs;
      const message =
        `backend ${this.#backend}: overloaded; queued, this request would now wait about ` +
        `${Math.round(predictedMs)} ms more for the work ahead of it, past its deadline in ${Math.round(leftMs)} ms`;
      const retryAfterMs = Math.max(1, Math.ceil(predictedMs - leftMs));
      this.#observer.shed(client, band, "unreachable");
      fail(job, new GatewayError("PREDICTED_DEADLINE_MISS", message, { retryAfterMs }));
    }
    const tookMs = this.#now() - nowMs;
    this.#nextRecheckMs = nowMs + Math.max(RECHECK_INTERVAL_MS, tookMs / RECHECK_TIME_SHARE);
  }

  /** Takes queued lower-priority requests out to make room for `items` items. */
  #evict(priority: ItemPriority, items: number, fail: (job: Job, error: GatewayError) => void): void {
    // Advice for the evicted: the wait of the whole queue as it stands.
    const wait = this.#limits.predictWaitMs({
      aheadItems: this.#queue.items,
      arrivals: [],
      ownItems: 0,
      inFlightItems: this.#inFlightItems(),
      usableEndpoints: this.#balancer.usableCount(),
    });
    const retryAfterMs = Math.max(1, Math.ceil(wait ?? 1000));
    for (const job of this.#queue.evictBelow(priority, items)) {
      const error = new GatewayError(
        "EVICTED_BY_PRIORITY",
        `backend ${this.#backend}: queue full; this request's queued items made room for higher-priority work`,
        { retryAfterMs },
      );
      fail(job, error);
    }
  }
}

/** The refusals that are load shed (counted per client and band): a full queue, an unreachable deadline. */
function shedReason(admission: Admission): string | undefined {
  if (admission.admitted || admission.count?.kind !== "rejected") return undefined;
  const reason = admission.count.reason;
  return reason === "queue_full" || reason === "client_queue_full" || reason === "deadline_unreachable"
    ? reason
    : undefined;
}
