import { predictWaitMs } from "./admission.js";
import type { Arrivals } from "./flows.js";
import type { FlushInput } from "./flush-policy.js";
import type { BatcherObserver } from "./observer.js";
import type { BatchLimits } from "./options.js";
import { ServiceRate } from "./service-rate.js";

/** The limits among a batcher's options. */
export function limitsOf(opts: BatchLimits): BatchLimits {
  const { maxBatchSize, maxQueueDelayMs, preferredBatchSizes, maxQueueItems } = opts;
  const { maxConcurrentBatches, bandMinShare, maxQueueWaitMs, maxQueueItemsPerClient, controller } = opts;
  return {
    maxBatchSize,
    maxQueueDelayMs,
    preferredBatchSizes,
    maxQueueItems,
    maxConcurrentBatches,
    bandMinShare,
    maxQueueWaitMs,
    maxQueueItemsPerClient,
    controller,
  };
}

/**
 * A batcher's limits in force, what it has measured under them, and the
 * targets they give at each flush decision: the batch size aimed for (the
 * adaptive controller's choice within the caps, or the cap itself) and the
 * queue delay. The observer hears the limits when they are set and the
 * targets when they change; the controller hears what was measured.
 */
export class LimitsInForce {
  readonly #observer: BatcherObserver;
  #limits!: BatchLimits;
  #preferred: readonly number[] = [];
  #reportedTarget = -1;
  #reportedWaitMs = -1;
  /** Moving average of successful batch call durations; undefined until the first. */
  #recentBatchMs: number | undefined;
  /** Items answered per millisecond while work waited for a slot. */
  readonly #serviceRate = new ServiceRate();

  constructor(limits: BatchLimits, observer: BatcherObserver) {
    this.#observer = observer;
    this.set(limits);
  }

  get current(): BatchLimits {
    return this.#limits;
  }

  /** Moving average of recent successful batch call durations; undefined before the first. */
  get recentBatchMs(): number | undefined {
    return this.#recentBatchMs;
  }

  set(limits: BatchLimits): void {
    this.#limits = limits;
    this.#preferred = [...limits.preferredBatchSizes].sort((a, b) => a - b);
    this.#observer.limits(limits.maxBatchSize, limits.maxQueueItems);
  }

  /** `items` were admitted at `nowMs`. */
  itemsAdmitted(items: number, nowMs: number): void {
    this.#limits.controller?.itemsAdmitted(items, nowMs);
  }

  /** A batch of `items` was answered in `durationMs`, at `nowMs`, with `usableEndpoints` serving. */
  batchCompleted(items: number, durationMs: number, nowMs: number, usableEndpoints: number): void {
    this.#serviceRate.completed(items, nowMs, usableEndpoints);
    this.#recentBatchMs =
      this.#recentBatchMs === undefined ? durationMs : 0.8 * this.#recentBatchMs + 0.2 * durationMs;
    this.#limits.controller?.batchCompleted(items, durationMs, nowMs);
  }

  /** A request admitted at `admittedMs` was answered at `nowMs`. */
  requestCompleted(admittedMs: number, nowMs: number): void {
    this.#limits.controller?.requestCompleted(nowMs - admittedMs, nowMs);
  }

  /**
   * After each pump: whether work waits for a slot, a full batch of it (the
   * backend, not arrivals, sets the pace: the service rate is measured then).
   */
  pumped(queuedItems: number, slotsFull: boolean): void {
    this.#serviceRate.backlog(slotsFull && queuedItems >= this.batchTarget(this.#limits.maxBatchSize));
  }

  /** The wait of a new request of `ownItems` behind `aheadItems` and `inFlightItems` (see predictWaitMs). */
  predictWaitMs(w: {
    readonly aheadItems: number;
    readonly arrivals: readonly Arrivals[];
    readonly ownItems: number;
    readonly inFlightItems: number;
    readonly usableEndpoints: number;
  }): number | undefined {
    const limits = this.#limits;
    // Fields named, not spread: this runs for every queued request at each recheck (intake.ts),
    // and a spread copy costs tens of times more.
    return predictWaitMs({
      aheadItems: w.aheadItems,
      arrivals: w.arrivals,
      ownItems: w.ownItems,
      inFlightItems: w.inFlightItems,
      usableEndpoints: w.usableEndpoints,
      measuredItemsPerEndpointMs: this.#serviceRate.itemsPerEndpointMs,
      recentBatchMs: this.#recentBatchMs,
      maxConcurrentBatches: limits.maxConcurrentBatches,
      batchTarget: this.batchTarget(limits.maxBatchSize),
    });
  }

  /** The batch size aimed for under `cap`: the controller's choice in adaptive mode, else the cap. */
  batchTarget(cap: number): number {
    const controller = this.#limits.controller;
    if (!controller) return cap;
    const size = Math.floor(controller.batchSize(cap));
    return size >= 1 ? Math.min(size, cap) : 1;
  }

  /** What decideFlush needs to decide for an endpoint whose own cap is `endpointMax`. */
  flushInput(
    endpointMax: number | undefined,
    queuedItems: number,
    oldestWaitMs: number,
    draining: boolean,
  ): FlushInput {
    const limits = this.#limits;
    const cap = this.batchTarget(Math.min(limits.maxBatchSize, endpointMax ?? Number.POSITIVE_INFINITY));
    const delayMs = limits.controller
      ? limits.controller.queueDelayMs(limits.maxQueueDelayMs)
      : limits.maxQueueDelayMs;
    if (cap !== this.#reportedTarget || delayMs !== this.#reportedWaitMs) {
      this.#reportedTarget = cap;
      this.#reportedWaitMs = delayMs;
      this.#observer.targets(cap, delayMs);
    }
    return {
      queuedItems,
      cap,
      preferredBatchSizes: this.#preferred,
      oldestWaitMs,
      maxQueueDelayMs: delayMs,
      draining,
    };
  }
}
