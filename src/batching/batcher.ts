import type { BackendEndpoint, InferResult } from "../backends/backend-client.js";
import { Balancer } from "../backends/balancer.js";
import type { RetryBudget } from "../backends/resilience/retry-budget.js";
import { RetryPolicy } from "../backends/resilience/retry-policy.js";
import type { BatchTrace, RequestTrace } from "../tracing/request-trace.js";
import type { CancelSignal } from "../util/cancel-signal.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { admit, noEndpointError, predictWaitMs } from "./admission.js";
import { Batch, type BatchPart, gather, leadTrace } from "./batch.js";
import type { BatchController } from "./controller.js";
import { decideFlush, type FlushTrigger } from "./flush-policy.js";
import { InputIsolator, type Probe } from "./input-isolation.js";
import { IsolationBudget } from "./isolation-budget.js";
import { type ItemPriority, ItemQueue } from "./item-queue.js";
import { Job, type ScoredItems } from "./job.js";
import { type BatcherObserver, type DropReason, noopObserver } from "./observer.js";

export type { ItemPriority } from "./item-queue.js";
export type { ScoredItems } from "./job.js";

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
  /** Clock time after which the request is answered DEADLINE_EXCEEDED and its unsent items dropped. */
  readonly deadlineMs?: number | undefined;
  /** Client cancellation: unsent items are dropped and the request rejected CANCELLED. */
  readonly signal?: CancelSignal | undefined;
  /** The request's trace: its queue wait, the batches that carry its items and their calls' trace context. */
  readonly trace?: RequestTrace | undefined;
}

/**
 * The dynamic batcher of one backend. It counts (query, document) *items*,
 * packs items of many requests into batches (splitting large requests and
 * reassembling their answers in order), sends each batch to the endpoint the
 * balancer picks, and answers every submitted request exactly once: with its
 * scores, or with the first error that hit it (queue full, deadline,
 * cancellation, backend error). This class pumps; its parts decide:
 * admission (admission.ts), the job (job.ts), the item queue
 * (item-queue.ts), flush timing (flush-policy.ts), the endpoint
 * (backends/balancer.ts), retries (backends/resilience/retry-policy.ts) and
 * the search for rejected inputs (input-isolation.ts).
 *
 *   submit ─▶ admit ─▶ [interactive fifo] ─┐               ┌─▶ endpoint A (≤ maxConcurrentBatches)
 *                      [bulk fifo]      ───┴─▶ decideFlush ┴─▶ endpoint B
 */
export class Batcher {
  readonly #opts: BatcherOptions;
  readonly #clock: Clock;
  readonly #observer: BatcherObserver;
  #limits: BatchLimits;
  #preferred: readonly number[];
  /** Last batch size target and wait reported to the observer (reported on change only). */
  #reportedTarget = -1;
  #reportedWaitMs = -1;
  readonly #queue: ItemQueue;
  readonly #balancer: Balancer;
  readonly #retries: RetryPolicy;
  readonly #isolator: InputIsolator;
  readonly #batches = new Set<Batch<Probe>>();
  #timer: TimerHandle | undefined;
  #timerDueMs = Number.POSITIVE_INFINITY;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  /** Moving average of successful batch call durations; undefined until the first. */
  #recentBatchMs: number | undefined;

  constructor(opts: BatcherOptions) {
    this.#opts = opts;
    this.#clock = opts.clock;
    this.#observer = opts.observer ?? noopObserver;
    this.#limits = {
      maxBatchSize: opts.maxBatchSize,
      maxQueueDelayMs: opts.maxQueueDelayMs,
      preferredBatchSizes: opts.preferredBatchSizes,
      maxQueueItems: opts.maxQueueItems,
      maxConcurrentBatches: opts.maxConcurrentBatches,
      controller: opts.controller,
    };
    this.#preferred = [...opts.preferredBatchSizes].sort((a, b) => a - b);
    this.#queue = new ItemQueue({
      expired: (job) => this.#expire(job),
      waited: (ms) => this.#observer.queueWait(ms),
    });
    this.#balancer = new Balancer(opts.endpoints);
    this.#retries = new RetryPolicy(opts.retryBudget);
    const isolationBudget =
      opts.isolationBudget ??
      new IsolationBudget({ percent: 100, minItems: 256, windowMs: 10_000 }, opts.clock);
    this.#isolator = new InputIsolator(opts.backend, isolationBudget, this.#observer, {
      sendProbe: (endpoint, parts, attempt, trace, probe) =>
        this.#send(endpoint, parts, attempt, trace, probe),
      answer: (endpoint, parts, result) => this.#answer(endpoint, parts, result),
      fail: (job, error) => this.#fail(job, error, undefined),
      retry: (endpoint, parts, attempt, trace, error) =>
        this.#retry(endpoint, parts, attempt, trace, error, true),
    });
    this.#observer.limits(opts.maxBatchSize, opts.maxQueueItems);
  }

  /** The limits in force. */
  get limits(): BatchLimits {
    return this.#limits;
  }

  /**
   * Applies new limits from the next flush decision on. Nothing queued or in
   * flight is dropped or reordered: in-flight batches finish as they were
   * sent, queued items keep their order and form the next batches under the
   * new limits, and a smaller queue bound only refuses new work.
   */
  reconfigure(limits: BatchLimits): void {
    this.#limits = limits;
    this.#preferred = [...limits.preferredBatchSizes].sort((a, b) => a - b);
    this.#observer.limits(limits.maxBatchSize, limits.maxQueueItems);
    this.#pump();
  }

  /** Items waiting in the queue. */
  get queuedItems(): number {
    return this.#queue.items;
  }

  /** Queue entries held, dead ones (expired, cancelled, not yet dropped) included. */
  get retainedSegments(): number {
    return this.#queue.retainedSegments;
  }

  /** Batches currently at the backend. */
  get inFlightBatches(): number {
    return this.#balancer.totalInFlight;
  }

  /** Scores `documents` against `query`; the promise settles exactly once. */
  submit(query: string, documents: readonly string[], opts: SubmitOptions): Promise<ScoredItems> {
    const n = documents.length;
    const now = this.#clock.now();
    const deadlineMs = opts.deadlineMs ?? Number.POSITIVE_INFINITY;
    const admission = this.#admit(n, now, deadlineMs, opts.signal);
    if (!admission.admitted) {
      const count = admission.count;
      if (count?.kind === "dropped") this.#observer.itemsDropped("deadline", count.items);
      else if (count) this.#observer.rejected(count.reason);
      return Promise.reject(admission.error);
    }
    return new Promise<ScoredItems>((resolve, reject) => {
      const job = new Job(
        { requestId: opts.requestId, query, documents, deadlineMs, admittedMs: now, trace: opts.trace },
        resolve,
        reject,
      );
      job.watch(
        this.#clock,
        () => this.#expire(job),
        opts.signal,
        () =>
          this.#fail(
            job,
            new GatewayError("CLIENT_CANCELLED", "request cancelled by the client"),
            "cancelled",
          ),
      );
      this.#limits.controller?.itemsAdmitted(n, now);
      this.#queue.push(job, opts.priority, now);
      opts.trace?.queueEntered(this.#opts.backend, n);
      this.#observer.queueDepth(this.#queue.items);
      this.#pump();
    });
  }

  /**
   * Stops admitting work and sends what is queued without waiting for batches
   * to fill; resolves when nothing is queued or in flight.
   */
  drain(): Promise<void> {
    this.#draining = true;
    this.#pump();
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Answers everything still queued or in flight with `error` (the end of a drain's grace period). */
  abortAll(error: GatewayError): void {
    this.#draining = true;
    for (const job of this.#queue.removeAll()) this.#fail(job, error, "shutdown");
    for (const batch of this.#batches) {
      for (const part of batch.parts) this.#fail(part.job, error, "shutdown");
    }
  }

  #admit(items: number, nowMs: number, deadlineMs: number, signal: CancelSignal | undefined) {
    const balancer = this.#balancer;
    const usable = balancer.usableCount() > 0 || balancer.awaitingOwnTrial();
    const limits = this.#limits;
    return admit({
      backend: this.#opts.backend,
      items,
      nowMs,
      deadlineMs,
      draining: this.#draining,
      cancelled: signal?.aborted === true,
      queuedItems: this.#queue.items,
      maxQueueItems: limits.maxQueueItems,
      endpoints: usable
        ? { kind: "usable" }
        : { kind: "unavailable", cause: balancer.unavailableCause(), description: balancer.describe() },
      predictedWaitMs: this.#opts.shedUnreachableDeadlines
        ? predictWaitMs({
            queuedItems: this.#queue.items,
            recentBatchMs: this.#recentBatchMs,
            usableEndpoints: balancer.usableCount(),
            maxConcurrentBatches: limits.maxConcurrentBatches,
            batchTarget: this.#batchTarget(limits.maxBatchSize),
          })
        : undefined,
    });
  }

  /** The batch size aimed for under `cap`: the controller's choice in adaptive mode, else the cap. */
  #batchTarget(cap: number): number {
    const controller = this.#limits.controller;
    if (!controller) return cap;
    const size = Math.floor(controller.batchSize(cap));
    return size >= 1 ? Math.min(size, cap) : 1;
  }

  #pump(): void {
    for (;;) {
      const now = this.#clock.now();
      const oldestMs = this.#queue.oldestLiveMs(now);
      if (oldestMs === undefined) break;
      const pick = this.#balancer.pick(this.#limits.maxConcurrentBatches);
      if (pick.kind !== "pick") {
        if (pick.kind === "unavailable" && this.#balancer.totalInFlight === 0) {
          const error = noEndpointError(this.#opts.backend, pick.cause, this.#balancer.describe());
          for (const job of this.#queue.removeAll()) this.#fail(job, error, undefined);
        }
        break; // a completing batch pumps again
      }
      const endpoint = pick.endpoint;
      const limits = this.#limits;
      const cap = this.#batchTarget(
        Math.min(limits.maxBatchSize, endpoint.maxBatchSize ?? Number.POSITIVE_INFINITY),
      );
      const delayMs = limits.controller
        ? limits.controller.queueDelayMs(limits.maxQueueDelayMs)
        : limits.maxQueueDelayMs;
      if (cap !== this.#reportedTarget || delayMs !== this.#reportedWaitMs) {
        this.#reportedTarget = cap;
        this.#reportedWaitMs = delayMs;
        this.#observer.targets(cap, delayMs);
      }
      const decision = decideFlush({
        queuedItems: this.#queue.items,
        cap,
        preferredBatchSizes: this.#preferred,
        oldestWaitMs: now - oldestMs,
        maxQueueDelayMs: delayMs,
        draining: this.#draining,
      });
      if (decision.kind === "idle") break;
      if (decision.kind === "wait") {
        this.#armTimer(now + decision.dueInMs);
        break;
      }
      this.#dispatch(endpoint, decision.size, decision.trigger, now);
    }
    this.#observer.queueDepth(this.#queue.items);
    if (this.#idle()) this.#notifyIdle();
  }

  #armTimer(dueMs: number): void {
    if (this.#timer && this.#timerDueMs <= dueMs) return;
    this.#timer?.cancel();
    this.#timerDueMs = dueMs;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDueMs = Number.POSITIVE_INFINITY;
      this.#pump();
    }, dueMs - this.#clock.now());
  }

  /** Takes `size` live items, interactive first, and sends them to `endpoint`. */
  #dispatch(endpoint: BackendEndpoint, size: number, trigger: FlushTrigger, now: number): void {
    const parts = this.#queue.take(size, now);
    if (parts.length === 0) return;
    let items = 0;
    for (const part of parts) items += part.end - part.start;
    this.#observer.batchDispatched(items, trigger);
    const trace = leadTrace(parts)?.startBatch(this.#opts.backend, items, trigger);
    this.#send(endpoint, parts, 0, trace, undefined);
  }

  /** Calls `endpoint` with a batch made of `parts`: attempt 0, a retry (1), or an isolation call (`probe`). */
  #send(
    endpoint: BackendEndpoint,
    parts: BatchPart[],
    attempt: number,
    trace: BatchTrace | undefined,
    probe: Probe | undefined,
    rejectedElsewhere = false,
  ): void {
    const now = this.#clock.now();
    const { queries, documents, earliestDeadlineMs } = gather(parts);
    const batch = new Batch(parts, documents.length, attempt, trace, probe, rejectedElsewhere);
    batch.call = trace?.startCall(endpoint.id, attempt, batch.items);
    this.#balancer.acquire(endpoint.id);
    this.#batches.add(batch);
    this.#observer.inFlight(this.#balancer.totalInFlight);
    if (attempt === 0 && !probe) {
      this.#retries.recordCall();
      this.#isolator.recordSent(documents.length);
    }

    const deadlineLeftMs = Number.isFinite(earliestDeadlineMs)
      ? Math.max(0, earliestDeadlineMs - now)
      : undefined;
    const callTimeoutMs = this.#opts.callTimeoutMs;
    const backendLimited =
      callTimeoutMs !== undefined && (deadlineLeftMs === undefined || callTimeoutMs < deadlineLeftMs);
    let call: Promise<InferResult>;
    try {
      call = endpoint.infer(
        { queries, documents },
        {
          signal: batch.controller.signal,
          timeoutMs: backendLimited ? callTimeoutMs : deadlineLeftMs,
          timeoutIsBackendLimit: backendLimited,
          traceHeaders: batch.call?.headers,
        },
      );
    } catch (err) {
      call = Promise.reject(err);
    }
    call.then(
      (result) => this.#complete(endpoint, batch, now, result, undefined),
      (err: unknown) => this.#complete(endpoint, batch, now, undefined, GatewayError.from(err)),
    );
  }

  /** Sends a failed batch's live parts once more, to another endpoint, when the retry policy allows. */
  #retry(
    failed: BackendEndpoint,
    from: readonly BatchPart[],
    attempt: number,
    trace: BatchTrace | undefined,
    error: GatewayError,
    rejectedElsewhere: boolean,
    batch?: Batch<Probe>,
  ): boolean {
    if (!this.#retries.verdict(attempt, error, this.#draining).retry) return false;
    const now = this.#clock.now();
    const parts = from.filter((p) => !p.job.done && p.job.deadlineMs > now);
    if (parts.length === 0) return false;
    const pick = this.#balancer.pick(this.#limits.maxConcurrentBatches, failed.id);
    if (pick.kind !== "pick" || !this.#retries.tryAcquire()) return false;
    batch?.release();
    this.#observer.retried(failed.id, error);
    this.#send(pick.endpoint, parts, attempt + 1, trace, undefined, rejectedElsewhere);
    return true;
  }

  #complete(
    endpoint: BackendEndpoint,
    batch: Batch<Probe>,
    startedMs: number,
    result: InferResult | undefined,
    error: GatewayError | undefined,
  ): void {
    this.#balancer.release(endpoint.id);
    this.#batches.delete(batch);
    this.#observer.inFlight(this.#balancer.totalInFlight);
    const durationMs = this.#clock.now() - startedMs;
    this.#observer.batchCompleted(endpoint.id, durationMs, error);
    batch.call?.end(error);
    if (!error) this.#isolator.answered(endpoint.id);
    if (batch.probe) {
      batch.release();
      this.#isolator.probeCompleted(batch.probe, batch.parts, result, error);
      this.#pump();
      return;
    }
    if (!error) {
      this.#recentBatchMs =
        this.#recentBatchMs === undefined ? durationMs : 0.8 * this.#recentBatchMs + 0.2 * durationMs;
      this.#limits.controller?.batchCompleted(batch.items, durationMs, startedMs + durationMs);
    } else {
      const rejection = error.inputRejection ? this.#isolator.isolate(endpoint, batch, error) : undefined;
      if (
        rejection === "isolating" ||
        this.#retry(endpoint, batch.parts, batch.attempt, batch.trace, error, rejection === "blamed", batch)
      ) {
        this.#pump();
        return;
      }
    }
    batch.release();
    if (result) this.#answer(endpoint, batch.parts, result);
    else for (const part of batch.parts) this.#fail(part.job, error!, undefined);
    batch.trace?.end(error);
    this.#pump();
  }

  /** Answers `parts` (the items of one call, in order) with `result`. */
  #answer(endpoint: BackendEndpoint, parts: readonly BatchPart[], result: InferResult): void {
    let offset = 0;
    for (const part of parts) {
      const count = part.end - part.start;
      const rows = result.probabilities.subarray(offset * 5, (offset + count) * 5);
      if (part.job.scatter(part.start, rows, result.model, endpoint.id)) this.#succeed(part.job);
      offset += count;
    }
  }

  #succeed(job: Job): void {
    const controller = this.#limits.controller;
    if (controller) {
      const now = this.#clock.now();
      controller.requestCompleted(now - job.admittedMs, now);
    }
    this.#observer.requestAnswered(job.requestId, undefined);
    job.succeed();
  }

  #expire(job: Job): void {
    const error = new GatewayError(
      "DEADLINE_EXCEEDED",
      `deadline exceeded waiting for backend ${this.#opts.backend} (${job.pending - job.unsent} items in flight, ` +
        `${job.unsent} queued)`,
    );
    this.#fail(job, error, "deadline");
  }

  /** Answers a job with `error` (unless it is settled); its unsent items leave the queue count. */
  #fail(job: Job, error: GatewayError, dropReason: DropReason | undefined): void {
    if (!job.fail(error)) return;
    const dropped = this.#queue.drop(job);
    if (dropped > 0) {
      if (dropReason) this.#observer.itemsDropped(dropReason, dropped);
      // Also when no pump follows (a cancel, the request's own deadline timer).
      this.#observer.queueDepth(this.#queue.items);
    }
    this.#observer.requestAnswered(job.requestId, error);
    if (this.#idle()) this.#notifyIdle();
  }

  #idle(): boolean {
    return this.#queue.items === 0 && this.#balancer.totalInFlight === 0;
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
