import type { BackendEndpoint, InferResult } from "../backends/backend-client.js";
import { Balancer } from "../backends/balancer.js";
import { RetryPolicy } from "../backends/resilience/retry-policy.js";
import type { BatchTrace } from "../tracing/request-trace.js";
import { type Clock, WakeTimer } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { noEndpointError } from "./admission.js";
import { Batch, type BatchPart, countItems, leadTrace } from "./batch.js";
import { decideFlush, type FlushTrigger } from "./flush-policy.js";
import { InputIsolator, type Probe } from "./input-isolation.js";
import { Intake } from "./intake.js";
import { IsolationBudget } from "./isolation-budget.js";
import { ItemQueue, NO_SHARES } from "./item-queue.js";
import { Job, type ScoredItems } from "./job.js";
import { LimitsInForce, limitsOf } from "./limits.js";
import { type BatcherObserver, type DropReason, noopObserver } from "./observer.js";
import type { BatcherOptions, BatchLimits, SubmitOptions } from "./options.js";
import { spacedUntil } from "./spacing.js";

export type { ItemPriority } from "./item-queue.js";
export type { ScoredItems } from "./job.js";
export type { BatcherOptions, BatchLimits, SubmitOptions } from "./options.js";

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
  readonly #limits: LimitsInForce;
  readonly #queue: ItemQueue;
  readonly #balancer: Balancer;
  readonly #retries: RetryPolicy;
  readonly #isolator: InputIsolator;
  readonly #intake: Intake;
  readonly #batches = new Set<Batch<Probe>>();
  /** Items of the batches in #batches. */
  #inFlightItems = 0;
  /** When the last batch was taken from the queue. */
  #lastDispatchMs = Number.NEGATIVE_INFINITY;
  readonly #wake: WakeTimer;
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: BatcherOptions) {
    this.#opts = opts;
    this.#clock = opts.clock;
    this.#observer = opts.observer ?? noopObserver;
    this.#limits = new LimitsInForce(limitsOf(opts), this.#observer);
    this.#wake = new WakeTimer(opts.clock, () => this.#pump());
    this.#queue = new ItemQueue({
      expired: (job) => this.#expire(job),
      waited: (ms, client, band, items) => {
        this.#observer.queueWait(ms);
        this.#observer.served(client, band, items, ms);
      },
      evicted: (client, band) => this.#observer.shed(client, band, "evicted"),
    });
    this.#queue.setShares(opts.bandMinShare ?? NO_SHARES);
    this.#balancer = new Balancer(opts.endpoints);
    this.#retries = new RetryPolicy(opts.retryBudget);
    this.#intake = new Intake({
      backend: opts.backend,
      queue: this.#queue,
      balancer: this.#balancer,
      limits: this.#limits,
      observer: this.#observer,
      shedUnreachableDeadlines: opts.shedUnreachableDeadlines === true,
      inFlightItems: () => this.#inFlightItems,
      now: () => this.#clock.now(),
    });
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
  }

  /** The limits in force. */
  get limits(): BatchLimits {
    return this.#limits.current;
  }

  /**
   * Applies new limits from the next flush decision on. Nothing queued or in
   * flight is dropped or reordered: in-flight batches finish as they were
   * sent, queued items keep their order and form the next batches under the
   * new limits, and a smaller queue bound only refuses new work.
   */
  reconfigure(limits: BatchLimits): void {
    this.#limits.set(limits);
    this.#queue.setShares(limits.bandMinShare ?? NO_SHARES);
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

  /** Live items queued per client and band. */
  queuedByClient() {
    return this.#queue.queuedByClient();
  }

  /** Batches currently at the backend. */
  get inFlightBatches(): number {
    return this.#balancer.totalInFlight;
  }

  /**
   * The refusal a request of `items` items would meet now for the load
   * queued (see Intake.loadRefusal), counted; undefined when it may be
   * submitted, where everything else is decided. The caller can refuse
   * before building the request's texts.
   */
  refusalFor(items: number, opts: SubmitOptions): GatewayError | undefined {
    const { signal, priority, weight } = opts;
    const deadlineMs = opts.deadlineMs ?? Number.POSITIVE_INFINITY;
    const nowMs = this.#clock.now();
    const arrival = { items, nowMs, deadlineMs, signal, priority, client: opts.client ?? "", weight };
    return this.#intake.loadRefusal(arrival, this.#draining);
  }

  /** Scores `documents` against `query`; the promise settles exactly once. */
  submit(query: string, documents: readonly string[], opts: SubmitOptions): Promise<ScoredItems> {
    const n = documents.length;
    const now = this.#clock.now();
    const deadlineMs = opts.deadlineMs ?? Number.POSITIVE_INFINITY;
    const client = opts.client ?? "";
    const { signal, priority, weight, requestId, trace } = opts;
    const arrival = { items: n, nowMs: now, deadlineMs, signal, priority, client, weight };
    const refusal = this.#intake.enter(arrival, this.#draining, (job, e) => this.#fail(job, e, "evicted"));
    if (refusal) return Promise.reject(refusal);
    return new Promise<ScoredItems>((resolve, reject) => {
      const job = new Job(
        { requestId, query, documents, deadlineMs, admittedMs: now, priority, trace },
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
      this.#limits.itemsAdmitted(n, now);
      this.#queue.push(job, now, client, opts.weight);
      trace?.queueEntered(this.#opts.backend, n);
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

  #pump(): void {
    let slotsFull = false;
    for (;;) {
      const now = this.#clock.now();
      const oldestMs = this.#queue.oldestLiveMs(now);
      if (oldestMs === undefined) break;
      const pick = this.#balancer.pick(this.#limits.current.maxConcurrentBatches);
      slotsFull = pick.kind === "busy";
      if (pick.kind !== "pick") {
        if (pick.kind === "unavailable" && this.#balancer.totalInFlight === 0) {
          const error = noEndpointError(this.#opts.backend, pick.cause, this.#balancer.describe());
          for (const job of this.#queue.removeAll()) this.#fail(job, error, undefined);
        }
        break; // a completing batch pumps again
      }
      const decision = decideFlush(
        this.#limits.flushInput(
          pick.endpoint.maxBatchSize,
          this.#queue.items,
          now - oldestMs,
          this.#draining,
        ),
      );
      if (decision.kind === "idle") break;
      if (decision.kind === "wait") {
        this.#wake.at(now + decision.dueInMs);
        break;
      }
      const spacedMs = spacedUntil({
        ...decision,
        draining: this.#draining,
        recentBatchMs: this.#limits.recentBatchMs,
        inFlightBatches: this.#balancer.totalInFlight,
        queuedItems: this.#queue.items,
        slots: this.#limits.current.maxConcurrentBatches * this.#balancer.usableCount(),
        lastDispatchMs: this.#lastDispatchMs,
      });
      if (spacedMs > now) {
        this.#wake.at(spacedMs);
        slotsFull = true; // the backend sets the pace: a batch is being spread, not waiting for work
        break;
      }
      this.#dispatch(pick.endpoint, decision.size, decision.trigger, now);
    }
    if (slotsFull) this.#intake.recheck(this.#clock.now(), (job, e) => this.#fail(job, e, "unreachable"));
    this.#limits.pumped(this.#queue.items, slotsFull);
    this.#observer.queueDepth(this.#queue.items);
    if (this.#idle()) this.#notifyIdle();
  }

  /** Takes `size` live items, interactive first, and sends them to `endpoint`. */
  #dispatch(endpoint: BackendEndpoint, size: number, trigger: FlushTrigger, now: number): void {
    const parts = this.#queue.take(size, now);
    if (parts.length === 0) return;
    this.#lastDispatchMs = now;
    const items = countItems(parts);
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
    const batch = new Batch(parts, attempt, trace, probe, rejectedElsewhere);
    this.#balancer.acquire(endpoint.id);
    this.#batches.add(batch);
    this.#inFlightItems += batch.items;
    this.#observer.inFlight(this.#balancer.totalInFlight);
    if (attempt === 0 && !probe) {
      this.#retries.recordCall();
      this.#isolator.recordSent(batch.items);
    }
    batch.callEndpoint(endpoint, now, this.#opts.callTimeoutMs).then(
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
    const pick = this.#balancer.pick(this.#limits.current.maxConcurrentBatches, failed.id);
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
    this.#inFlightItems -= batch.items;
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
      const usable = this.#balancer.usableCount();
      this.#limits.batchCompleted(batch.items, durationMs, startedMs + durationMs, usable);
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
    this.#limits.requestCompleted(job.admittedMs, this.#clock.now());
    this.#observer.requestAnswered(job.requestId, undefined);
    job.succeed();
  }

  #expire(job: Job): void {
    this.#fail(job, job.deadlineError(this.#opts.backend), "deadline");
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
