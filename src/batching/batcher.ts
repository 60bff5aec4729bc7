import {
  type BackendEndpoint,
  type InferResult,
  isUsable,
  type ModelIdentity,
} from "../backends/backend-client.js";
import type { RetryBudget } from "../backends/resilience/retry-budget.js";
import type { BatchTrace, CallTrace, RequestTrace } from "../tracing/request-trace.js";
import type { CancelSignal } from "../util/cancel-signal.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import type { BatchController } from "./controller.js";
import { Fifo } from "./fifo.js";
import { decideFlush, type FlushTrigger } from "./flush-policy.js";
import { IsolationBudget } from "./isolation-budget.js";
import { type BatcherObserver, type InputRejectionOutcome, noopObserver } from "./observer.js";

export type ItemPriority = "interactive" | "bulk";

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

export interface ScoredItems {
  /** n × 5 row-major probabilities, in the submitted document order. */
  readonly probabilities: Float32Array;
  readonly model: ModelIdentity;
  /** The endpoint that answered the last part of the request. */
  readonly endpoint: string;
}

/** One submitted request: its items are answered in place in `probabilities`. */
interface Job {
  readonly requestId: string;
  readonly query: string;
  readonly documents: readonly string[];
  readonly probabilities: Float32Array;
  readonly deadlineMs: number;
  /** Clock time of admission. */
  readonly admittedMs: number;
  readonly resolve: (r: ScoredItems) => void;
  readonly reject: (e: GatewayError) => void;
  /** Items not yet answered. */
  pending: number;
  /** Items still in the queue (not yet in a batch). */
  unsent: number;
  done: boolean;
  model: ModelIdentity | undefined;
  endpoint: string;
  timer: TimerHandle | undefined;
  signal: CancelSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Batches in flight that carry some of this job's items. */
  batches: Batch[];
  /** The queue holding this job's segment, until the segment leaves it. */
  queue: Queue | undefined;
  readonly trace: RequestTrace | undefined;
}

/** A contiguous run [start, end) of a job's items waiting in a queue. */
interface Segment {
  readonly job: Job;
  start: number;
  readonly end: number;
  readonly enqueuedAtMs: number;
}

/** One priority's queue; `dead` counts its segments whose job has been answered (expired, cancelled). */
interface Queue {
  readonly fifo: Fifo<Segment>;
  dead: number;
}

/**
 * Dead segments a queue may hold beyond its live ones before it is compacted.
 * Without compaction a live head (a bulk request waiting out an interactive
 * overload) would keep every expired request behind it, documents included.
 */
const DEAD_SEGMENT_SLACK = 64;

interface BatchPart {
  readonly job: Job;
  readonly start: number;
  readonly end: number;
}

interface Batch {
  readonly parts: BatchPart[];
  /** Items sent. */
  readonly items: number;
  /** 0 for the first call, 1 for its retry. */
  readonly attempt: number;
  readonly controller: AbortController;
  /** Jobs in `parts` still waiting for an answer; at 0 the backend call is aborted. */
  liveJobs: number;
  /** Spans of the batch (shared by its attempts) and of this attempt's call; undefined when untraced. */
  readonly trace: BatchTrace | undefined;
  call: CallTrace | undefined;
  /** Set on a call made to isolate a rejected input. */
  readonly probe: Probe | undefined;
  /** A retry of a batch that another endpoint rejected, every part of its split too. */
  readonly rejectedElsewhere: boolean;
}

/**
 * The search for the inputs that made an endpoint reject a batch (see
 * Batcher#isolate). Its calls go to the endpoint that rejected the batch.
 */
interface Isolation {
  readonly endpoint: BackendEndpoint;
  /** The rejection: the answer of requests the search cannot clear. */
  readonly error: GatewayError;
  /** The endpoint's answered calls when the search began. */
  readonly answeredAtStart: number;
  /** The rejected batch's attempt and trace, for its retry when the endpoint is at fault. */
  readonly attempt: number;
  readonly trace: BatchTrace | undefined;
  /** Calls this search may still make. */
  callsLeft: number;
  /** Calls in flight. */
  outstanding: number;
  /**
   * The endpoint answered a part: from then on a rejected part holds a
   * rejected input. Until then the rejected parts of the first split wait here.
   */
  confirmed: boolean;
  readonly unconfirmed: BatchPart[][];
  /** A part failed otherwise (deadline, cancellation, unreachable): the parts did not all fail alike. */
  failedOtherwise: boolean;
  /** Rounds of splits made before the endpoint was known healthy (see BLIND_SPLIT_ROUNDS). */
  blindRounds: number;
  outcome: InputRejectionOutcome | undefined;
  poisonFound: number;
}

/**
 * One isolation call. "split": a part of a split; its rejection, once the
 * endpoint is confirmed healthy, means it holds a rejected input. "left": the
 * left half of one request's items known to hold a rejected input; if it is
 * answered, the input is in `rest`.
 */
interface Probe {
  readonly isolation: Isolation;
  readonly kind: "split" | "left";
  readonly rest: BatchPart | undefined;
}

/**
 * The dynamic batcher of one backend. It counts (query, document) *items*,
 * packs items of many requests into batches (splitting large requests and
 * reassembling their answers in order), sends each batch to the least-loaded
 * endpoint with a free slot, and answers every submitted request exactly once:
 * with its scores, or with the first error that hit it (queue full, deadline,
 * cancellation, backend error).
 *
 *   submit ─▶ [interactive fifo] ─┐               ┌─▶ endpoint A (≤ maxConcurrentBatches)
 *             [bulk fifo]      ───┴─▶ decideFlush ┴─▶ endpoint B
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
  readonly #interactive: Queue = { fifo: new Fifo<Segment>(), dead: 0 };
  readonly #bulk: Queue = { fifo: new Fifo<Segment>(), dead: 0 };
  readonly #inFlight = new Map<string, number>();
  readonly #batches = new Set<Batch>();
  #queuedItems = 0;
  #inFlightBatches = 0;
  #timer: TimerHandle | undefined;
  #timerDueMs = Number.POSITIVE_INFINITY;
  /** Where the tie-breaking scan starts; moves on with every batch sent, not with every look. */
  #rotation = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  /** Moving average of successful batch call durations; undefined until the first. */
  #recentBatchMs: number | undefined;
  readonly #isolationBudget: IsolationBudget;
  /** Endpoints whose last split showed them at fault, until they answer a call. */
  readonly #suspects = new Set<string>();
  /** Calls answered, per endpoint: a search learns from the answers to other batches too. */
  readonly #answered = new Map<string, number>();

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
    this.#isolationBudget =
      opts.isolationBudget ??
      new IsolationBudget({ percent: 100, minItems: 256, windowMs: 10_000 }, opts.clock);
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
    return this.#queuedItems;
  }

  /** Queue entries held, dead ones (expired, cancelled, not yet dropped) included. */
  get retainedSegments(): number {
    return this.#interactive.fifo.length + this.#bulk.fifo.length;
  }

  /** Batches currently at the backend. */
  get inFlightBatches(): number {
    return this.#inFlightBatches;
  }

  /** Scores `documents` against `query`; the promise settles exactly once. */
  submit(query: string, documents: readonly string[], opts: SubmitOptions): Promise<ScoredItems> {
    const n = documents.length;
    const now = this.#clock.now();
    const deadlineMs = opts.deadlineMs ?? Number.POSITIVE_INFINITY;
    const rejection = this.#admissionError(n, now, deadlineMs, opts.signal);
    if (rejection) return Promise.reject(rejection);

    return new Promise<ScoredItems>((resolve, reject) => {
      const job: Job = {
        requestId: opts.requestId,
        query,
        documents,
        probabilities: new Float32Array(n * 5),
        deadlineMs,
        admittedMs: now,
        resolve,
        reject,
        pending: n,
        unsent: n,
        done: false,
        model: undefined,
        endpoint: "",
        timer: undefined,
        signal: opts.signal,
        onAbort: undefined,
        batches: [],
        queue: undefined,
        trace: opts.trace,
      };
      if (Number.isFinite(deadlineMs)) {
        job.timer = this.#clock.setTimeout(() => this.#expire(job), deadlineMs - now);
      }
      if (opts.signal) {
        const onAbort = () =>
          this.#fail(
            job,
            new GatewayError("CLIENT_CANCELLED", "request cancelled by the client"),
            "cancelled",
          );
        job.onAbort = onAbort;
        opts.signal.addEventListener("abort", onAbort, { once: true });
      }
      this.#queuedItems += n;
      this.#limits.controller?.itemsAdmitted(n, now);
      const queue = opts.priority === "bulk" ? this.#bulk : this.#interactive;
      queue.fifo.push({ job, start: 0, end: n, enqueuedAtMs: now });
      job.queue = queue;
      opts.trace?.queueEntered(this.#opts.backend, n);
      this.#observer.queueDepth(this.#queuedItems);
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
    return this.#whenIdle();
  }

  /** Answers everything still queued or in flight with `error` (the end of a drain's grace period). */
  abortAll(error: GatewayError): void {
    this.#draining = true;
    for (const queue of [this.#interactive, this.#bulk]) {
      for (let seg = this.#shift(queue); seg; seg = this.#shift(queue))
        this.#fail(seg.job, error, "shutdown");
    }
    for (const batch of this.#batches) {
      for (const part of batch.parts) this.#fail(part.job, error, "shutdown");
    }
  }

  #admissionError(n: number, now: number, deadlineMs: number, signal: CancelSignal | undefined) {
    const backend = this.#opts.backend;
    if (this.#draining) {
      return new GatewayError("SHUTTING_DOWN", `backend ${backend}: gateway is shutting down`);
    }
    if (signal?.aborted) {
      return new GatewayError("CLIENT_CANCELLED", "request cancelled by the client");
    }
    if (deadlineMs <= now) {
      this.#observer.itemsDropped("deadline", n);
      return new GatewayError("DEADLINE_EXCEEDED", "deadline exceeded before queueing");
    }
    if (this.#queuedItems + n > this.#limits.maxQueueItems) {
      this.#observer.rejected("queue_full");
      return new GatewayError(
        "BATCH_QUEUE_FULL",
        `backend ${backend}: queue full (${this.#queuedItems} of ${this.#limits.maxQueueItems} items waiting; ` +
          `request has ${n} documents)`,
      );
    }
    if (!this.#endpointUsable() && !this.#awaitingOwnTrial()) return this.#noEndpointError(true);
    const predictedMs = this.#predictedWaitMs();
    if (predictedMs !== undefined && predictedMs > deadlineMs - now) {
      this.#observer.rejected("deadline_unreachable");
      return new GatewayError(
        "PREDICTED_DEADLINE_MISS",
        `backend ${backend}: overloaded; the ${this.#queuedItems} items queued ahead would take about ` +
          `${Math.round(predictedMs)} ms, past the request's deadline in ${Math.round(deadlineMs - now)} ms`,
      );
    }
    return undefined;
  }

  /**
   * Time until a newly queued request would be answered: the batches queued
   * ahead of it, spread over every free-or-busy slot, at the recent batch
   * time, plus its own batch. Only predicted when there is a queue: an idle
   * backend slower than a deadline is the deadline's business, not load.
   */
  #predictedWaitMs(): number | undefined {
    if (
      !this.#opts.shedUnreachableDeadlines ||
      this.#recentBatchMs === undefined ||
      this.#queuedItems === 0
    ) {
      return undefined;
    }
    let usable = 0;
    for (const e of this.#opts.endpoints()) if (isUsable(e.state)) usable++;
    const slots = Math.max(1, usable * this.#limits.maxConcurrentBatches);
    const batchesAhead = Math.ceil(this.#queuedItems / this.#batchTarget(this.#limits.maxBatchSize));
    return (Math.ceil(batchesAhead / slots) + 1) * this.#recentBatchMs;
  }

  /** The batch size aimed for under `cap`: the controller's choice in adaptive mode, else the cap. */
  #batchTarget(cap: number): number {
    const controller = this.#limits.controller;
    if (!controller) return cap;
    const size = Math.floor(controller.batchSize(cap));
    return size >= 1 ? Math.min(size, cap) : 1;
  }

  #noEndpointError(count: boolean): GatewayError {
    const allOpen = this.#opts.endpoints().some((e) => e.state === "ejected");
    if (count) this.#observer.rejected(allOpen ? "circuit_open" : "no_ready_endpoint");
    return allOpen
      ? new GatewayError(
          "BACKEND_CIRCUIT_OPEN",
          `backend ${this.#opts.backend}: no endpoint available, circuit breakers open (${this.#describeEndpoints()})`,
        )
      : new GatewayError(
          "NO_READY_ENDPOINT",
          `backend ${this.#opts.backend}: no ready endpoint (${this.#describeEndpoints()})`,
        );
  }

  #endpointUsable(): boolean {
    return this.#opts.endpoints().some((e) => isUsable(e.state));
  }

  /**
   * Some endpoint's half-open breaker is trying one of this batcher's own
   * batches: a request may queue for the trial's outcome, which is certain to
   * pump the queue again when it completes (a trial of another batcher's
   * would not wake this one, so it does not count).
   */
  #awaitingOwnTrial(): boolean {
    return this.#opts.endpoints().some((e) => e.onTrial === true && (this.#inFlight.get(e.id) ?? 0) > 0);
  }

  #describeEndpoints(): string {
    const eps = this.#opts.endpoints();
    return eps.length === 0
      ? "no endpoints: none configured, or DNS names resolved to no address"
      : eps.map((e) => `${e.id} ${e.state}`).join(", ");
  }

  /** Least-loaded usable endpoint with a free slot (other than `exclude`); ties broken round-robin. */
  #pickEndpoint(exclude?: string): BackendEndpoint | undefined {
    const eps = this.#opts.endpoints();
    const count = eps.length;
    let best: BackendEndpoint | undefined;
    let bestLoad = this.#limits.maxConcurrentBatches;
    for (let k = 0; k < count; k++) {
      const ep = eps[(this.#rotation + k) % count]!;
      if (!isUsable(ep.state) || ep.id === exclude) continue;
      const load = this.#inFlight.get(ep.id) ?? 0;
      if (load < bestLoad) {
        best = ep;
        bestLoad = load;
      }
    }
    return best;
  }

  #pump(): void {
    for (;;) {
      const now = this.#clock.now();
      const oldest = this.#oldestLiveSegment(now);
      if (!oldest) break;
      const endpoint = this.#pickEndpoint();
      if (!endpoint) {
        if (this.#inFlightBatches === 0 && !this.#endpointUsable()) this.#failQueuedUnavailable();
        break; // a completing batch pumps again
      }
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
        queuedItems: this.#queuedItems,
        cap,
        preferredBatchSizes: this.#preferred,
        oldestWaitMs: now - oldest.enqueuedAtMs,
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
    this.#observer.queueDepth(this.#queuedItems);
    if (this.#queuedItems === 0 && this.#inFlightBatches === 0) this.#notifyIdle();
  }

  /** Drops dead segments (and expired jobs) from the queue heads; returns the oldest live one. */
  #oldestLiveSegment(now: number): Segment | undefined {
    let oldest: Segment | undefined;
    for (const queue of [this.#interactive, this.#bulk]) {
      for (let seg = queue.fifo.peek(); seg; seg = queue.fifo.peek()) {
        if (!seg.job.done && seg.job.deadlineMs > now) break;
        this.#shift(queue);
        if (!seg.job.done) this.#expire(seg.job);
      }
      const head = queue.fifo.peek();
      if (head && (!oldest || head.enqueuedAtMs < oldest.enqueuedAtMs)) oldest = head;
    }
    return oldest;
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
    const parts: BatchPart[] = [];
    const queries: string[] = [];
    const documents: string[] = [];
    let earliestDeadlineMs = Number.POSITIVE_INFINITY;
    let taken = 0;
    for (const queue of [this.#interactive, this.#bulk]) {
      while (taken < size) {
        const seg = queue.fifo.peek();
        if (!seg) break;
        const job = seg.job;
        if (job.done || job.deadlineMs <= now) {
          this.#shift(queue);
          if (!job.done) this.#expire(job);
          continue;
        }
        const end = Math.min(seg.end, seg.start + (size - taken));
        for (let i = seg.start; i < end; i++) {
          queries.push(job.query);
          documents.push(job.documents[i]!);
        }
        const count = end - seg.start;
        parts.push({ job, start: seg.start, end });
        this.#observer.queueWait(now - seg.enqueuedAtMs);
        job.unsent -= count;
        if (job.unsent === 0) job.trace?.queueLeft();
        this.#queuedItems -= count;
        taken += count;
        if (job.deadlineMs < earliestDeadlineMs) earliestDeadlineMs = job.deadlineMs;
        if (end === seg.end) this.#shift(queue);
        else seg.start = end;
      }
    }
    if (taken === 0) return;
    this.#observer.batchDispatched(taken, trigger);
    const trace = leadTrace(parts)?.startBatch(this.#opts.backend, taken, trigger);
    this.#send(endpoint, parts, queries, documents, earliestDeadlineMs, now, 0, trace);
  }

  /** Calls `endpoint` with a batch made of `parts` (their texts already gathered). */
  #send(
    endpoint: BackendEndpoint,
    parts: BatchPart[],
    queries: string[],
    documents: string[],
    earliestDeadlineMs: number,
    now: number,
    attempt: number,
    trace: BatchTrace | undefined,
    probe?: Probe,
    rejectedElsewhere = false,
  ): void {
    const batch: Batch = {
      parts,
      items: documents.length,
      attempt,
      controller: new AbortController(),
      liveJobs: 0,
      trace,
      call: undefined,
      probe,
      rejectedElsewhere,
    };
    for (const part of parts) {
      // A job split within this batch appears in several parts but counts once.
      if (part.job.batches.at(-1) !== batch) {
        part.job.batches.push(batch);
        batch.liveJobs++;
        if (attempt === 0 && !probe) trace?.addRequest(part.job.trace);
      }
    }
    batch.call = trace?.startCall(endpoint.id, attempt, batch.items);
    this.#inFlight.set(endpoint.id, (this.#inFlight.get(endpoint.id) ?? 0) + 1);
    this.#inFlightBatches++;
    this.#batches.add(batch);
    this.#rotation++;
    this.#observer.inFlight(this.#inFlightBatches);
    if (attempt === 0 && !probe) {
      this.#opts.retryBudget?.recordCall();
      this.#isolationBudget.recordSent(documents.length);
    }

    const deadlineLeftMs = Number.isFinite(earliestDeadlineMs)
      ? Math.max(0, earliestDeadlineMs - now)
      : undefined;
    const callTimeoutMs = this.#opts.callTimeoutMs;
    const backendLimited =
      callTimeoutMs !== undefined && (deadlineLeftMs === undefined || callTimeoutMs < deadlineLeftMs);
    const timeoutMs = backendLimited ? callTimeoutMs : deadlineLeftMs;
    let call: Promise<InferResult>;
    try {
      call = endpoint.infer(
        { queries, documents },
        {
          signal: batch.controller.signal,
          timeoutMs,
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

  /**
   * Retries a batch that failed UNAVAILABLE once, on another endpoint with a
   * free slot, when the retry budget and its requests' deadlines allow.
   */
  #retry(
    failed: BackendEndpoint,
    from: readonly BatchPart[],
    attempt: number,
    trace: BatchTrace | undefined,
    error: GatewayError,
    batch: Batch | undefined,
    rejectedElsewhere: boolean,
  ): boolean {
    if (attempt > 0 || !this.#opts.retryBudget || !isRetriable(error) || this.#draining) return false;
    const now = this.#clock.now();
    const parts = from.filter((p) => !p.job.done && p.job.deadlineMs > now);
    if (parts.length === 0) return false;
    const other = this.#pickEndpoint(failed.id);
    if (!other || !this.#opts.retryBudget.tryAcquire()) return false;
    const { queries, documents, earliestDeadlineMs } = gather(parts);
    if (batch) for (const part of parts) removeBatch(part.job, batch);
    this.#observer.retried(failed.id, error);
    this.#send(
      other,
      parts,
      queries,
      documents,
      earliestDeadlineMs,
      now,
      attempt + 1,
      trace,
      undefined,
      rejectedElsewhere,
    );
    return true;
  }

  #complete(
    endpoint: BackendEndpoint,
    batch: Batch,
    startedMs: number,
    result: InferResult | undefined,
    error: GatewayError | undefined,
  ): void {
    this.#inFlight.set(endpoint.id, (this.#inFlight.get(endpoint.id) ?? 1) - 1);
    this.#inFlightBatches--;
    this.#batches.delete(batch);
    this.#observer.inFlight(this.#inFlightBatches);
    const durationMs = this.#clock.now() - startedMs;
    this.#observer.batchCompleted(endpoint.id, durationMs, error);
    batch.call?.end(error);
    if (!error) {
      this.#suspects.delete(endpoint.id);
      this.#answered.set(endpoint.id, (this.#answered.get(endpoint.id) ?? 0) + 1);
    }
    if (batch.probe) {
      for (const part of batch.parts) removeBatch(part.job, batch);
      this.#probeCompleted(batch.probe, batch.parts, result, error);
      this.#pump();
      return;
    }
    if (!error) {
      this.#recentBatchMs =
        this.#recentBatchMs === undefined ? durationMs : 0.8 * this.#recentBatchMs + 0.2 * durationMs;
      this.#limits.controller?.batchCompleted(batch.items, durationMs, startedMs + durationMs);
    } else {
      const rejection = error.inputRejection ? this.#isolate(endpoint, batch, error) : undefined;
      if (
        rejection === "isolating" ||
        this.#retry(endpoint, batch.parts, batch.attempt, batch.trace, error, batch, rejection === "blamed")
      ) {
        this.#pump();
        return;
      }
    }
    for (const part of batch.parts) removeBatch(part.job, batch);
    if (result) this.#answer(endpoint, batch.parts, result);
    else for (const part of batch.parts) this.#fail(part.job, error!, undefined);
    batch.trace?.end(error);
    this.#pump();
  }

  /** Answers `parts` (the items of one call, in order) with `result`. */
  #answer(endpoint: BackendEndpoint, parts: readonly BatchPart[], result: InferResult): void {
    let offset = 0;
    for (const part of parts) {
      const job = part.job;
      const count = part.end - part.start;
      if (!job.done) {
        job.probabilities.set(
          result.probabilities.subarray(offset * 5, (offset + count) * 5),
          part.start * 5,
        );
        job.model = result.model;
        job.endpoint = endpoint.id;
        job.pending -= count;
        if (job.pending === 0) this.#succeed(job);
      }
      offset += count;
    }
  }

  /**
   * A batch failed with an input rejection: one of its documents may have
   * made the model server refuse the whole batch, and that is no fault of
   * the endpoint nor of the other requests. Splits the batch (by request,
   * then halving a request's items) and sends the parts to the same
   * endpoint: answered parts answer their requests; once one part is
   * answered the endpoint is healthy, so a rejected part holds a rejected
   * input, and the search narrows down to it and fails only its request,
   * naming the document. When every part of the first split is rejected too
   * and the endpoint answered no other call meanwhile, the endpoint is at
   * fault: it is reported (`reportFault`) and the batch takes the usual path
   * (retry elsewhere, or fail with the rejection). So is a batch of one
   * document, which cannot be split, and a rejection from an endpoint whose
   * last split showed it at fault, until it answers again. A retry rejected
   * alike by a second endpoint is searched at once: two endpoints agree that
   * the input is at fault.
   *
   * The search costs at most 2·⌈log₂ items⌉ + requests calls per batch, and
   * the items of all searches' calls stay within the isolation budget (by
   * default as many as the batches sent carried); past either, the requests
   * left fail with the rejection.
   *
   * Returns "isolating" when the search has taken the batch over; otherwise
   * the batch takes the usual path, "blamed" when the endpoint was reported.
   */
  #isolate(endpoint: BackendEndpoint, batch: Batch, error: GatewayError): "isolating" | "blamed" | undefined {
    const live = batch.parts.filter((p) => !p.job.done);
    if (live.length === 0) return undefined;
    const items = countItems(live);
    // Rejected alike by the endpoint blamed before: two endpoints agree, the input is at fault.
    const retried = batch.rejectedElsewhere;
    if ((items === 1 && !retried) || this.#suspects.has(endpoint.id)) {
      endpoint.reportFault?.(error);
      this.#observer.inputRejection(endpoint.id, "endpoint_fault");
      return "blamed";
    }
    for (const part of batch.parts) removeBatch(part.job, batch);
    const isolation: Isolation = {
      endpoint,
      error,
      answeredAtStart: this.#answered.get(endpoint.id) ?? 0,
      attempt: batch.attempt,
      trace: batch.trace,
      callsLeft: 2 * Math.ceil(Math.log2(items)) + live.length,
      outstanding: 0,
      confirmed: retried,
      unconfirmed: [],
      failedOtherwise: false,
      blindRounds: retried ? 0 : 1,
      outcome: undefined,
      poisonFound: 0,
    };
    if (retried) this.#search(isolation, live);
    else this.#split(isolation, live);
    this.#isolationStep(isolation);
    return "isolating";
  }

  /** Sends the two halves of `group` (requests first, then a request's items). */
  #split(isolation: Isolation, group: readonly BatchPart[]): void {
    const [left, right] = halve(group);
    if (!this.#takeCalls(isolation, 2, countItems(group))) {
      this.#giveUp(isolation, group);
      return;
    }
    this.#sendProbe(isolation, left, { isolation, kind: "split", rest: undefined });
    this.#sendProbe(isolation, right, { isolation, kind: "split", rest: undefined });
  }

  /** Narrows down `group`, known to hold a rejected input, to one document (the endpoint is healthy). */
  #search(isolation: Isolation, group: readonly BatchPart[]): void {
    const live = group.filter((p) => !p.job.done);
    if (live.length === 0) return;
    if (live.length < group.length) {
      // The rejected input may have been in a request that has gone since: try the rest again.
      if (!this.#takeCalls(isolation, 1, countItems(live))) this.#giveUp(isolation, live);
      else this.#sendProbe(isolation, live, { isolation, kind: "split", rest: undefined });
      return;
    }
    if (live.length > 1) {
      this.#split(isolation, live);
      return;
    }
    const part = live[0]!;
    if (part.end - part.start === 1) {
      this.#rejectDocument(isolation, part);
      return;
    }
    // The request fails whatever its other documents do: only the rejected one's index is wanted.
    const mid = part.start + Math.ceil((part.end - part.start) / 2);
    if (!this.#takeCalls(isolation, 1, mid - part.start)) {
      this.#giveUp(isolation, live);
      return;
    }
    this.#sendProbe(isolation, [{ job: part.job, start: part.start, end: mid }], {
      isolation,
      kind: "left",
      rest: { job: part.job, start: mid, end: part.end },
    });
  }

  #probeCompleted(
    probe: Probe,
    parts: readonly BatchPart[],
    result: InferResult | undefined,
    error: GatewayError | undefined,
  ): void {
    const isolation = probe.isolation;
    isolation.outstanding--;
    if (result) {
      if (probe.kind === "left") {
        this.#search(isolation, [probe.rest!]);
      } else {
        this.#answer(isolation.endpoint, parts, result);
        if (!isolation.confirmed) {
          isolation.confirmed = true;
          for (const group of isolation.unconfirmed.splice(0)) this.#search(isolation, group);
        }
      }
    } else if (error!.inputRejection) {
      if (isolation.confirmed) this.#search(isolation, parts);
      else isolation.unconfirmed.push([...parts]);
    } else {
      // Failed otherwise (deadline, unreachable…): its requests get that answer, as from any batch.
      isolation.failedOtherwise = true;
      for (const part of parts) this.#fail(part.job, error!, undefined);
    }
    this.#isolationStep(isolation);
  }

  /** Settles what the search's answers so far decide, once no call of it is in flight. */
  #isolationStep(isolation: Isolation): void {
    if (isolation.outstanding > 0) return;
    const endpoint = isolation.endpoint;
    if (
      !isolation.confirmed &&
      isolation.unconfirmed.length > 0 &&
      (this.#answered.get(endpoint.id) ?? 0) > isolation.answeredAtStart
    ) {
      // Every part was rejected, but the endpoint answered other batches meanwhile: it is healthy.
      isolation.confirmed = true;
      for (const group of isolation.unconfirmed.splice(0)) this.#search(isolation, group);
      if (isolation.outstanding > 0) return;
    }
    if (
      !isolation.confirmed &&
      isolation.unconfirmed.length > 0 &&
      !isolation.failedOtherwise &&
      isolation.blindRounds < BLIND_SPLIT_ROUNDS
    ) {
      // Every part was rejected and the endpoint answered nothing else. Two rejected inputs,
      // one in each half, look the same as a sick endpoint: split the parts once more first.
      isolation.blindRounds++;
      for (const group of isolation.unconfirmed.splice(0)) {
        const live = group.filter((p) => !p.job.done);
        if (countItems(live) > 1) this.#split(isolation, live);
        else if (live.length > 0) isolation.unconfirmed.push(live);
      }
      if (isolation.outstanding > 0) return;
    }
    let traceHandedOn = false;
    if (!isolation.confirmed && isolation.failedOtherwise) {
      // No part was answered, but not every part was rejected: nothing to conclude.
      isolation.outcome = "inconclusive";
      for (const group of isolation.unconfirmed.splice(0)) {
        for (const part of group) this.#fail(part.job, isolation.error, undefined);
      }
    } else if (!isolation.confirmed && isolation.unconfirmed.length > 0) {
      // Every part was rejected: the endpoint, not an input, is at fault.
      isolation.outcome = "endpoint_fault";
      this.#suspects.add(endpoint.id);
      endpoint.reportFault?.(isolation.error);
      const parts = isolation.unconfirmed.splice(0).flat();
      traceHandedOn = this.#retry(
        endpoint,
        parts,
        isolation.attempt,
        isolation.trace,
        isolation.error,
        undefined,
        true,
      );
      if (!traceHandedOn) for (const part of parts) this.#fail(part.job, isolation.error, undefined);
    }
    const outcome = isolation.outcome ?? (isolation.poisonFound > 0 ? "isolated" : "not_reproduced");
    this.#observer.inputRejection(endpoint.id, outcome);
    if (!traceHandedOn) isolation.trace?.end(outcome === "not_reproduced" ? undefined : isolation.error);
  }

  /** Takes `calls` calls from the search's allowance and their `items` from the isolation budget. */
  #takeCalls(isolation: Isolation, calls: number, items: number): boolean {
    if (isolation.callsLeft < calls || !this.#isolationBudget.tryTake(items)) return false;
    isolation.callsLeft -= calls;
    return true;
  }

  /** The search cannot go on: the requests left fail with the rejection. */
  #giveUp(isolation: Isolation, group: readonly BatchPart[]): void {
    isolation.outcome = "budget_exhausted";
    for (const part of group) this.#fail(part.job, isolation.error, undefined);
  }

  #rejectDocument(isolation: Isolation, part: BatchPart): void {
    isolation.poisonFound++;
    this.#observer.poisonItem(isolation.endpoint.id);
    const error = new GatewayError(
      "DOCUMENT_REJECTED",
      `documents[${part.start}]: backend ${this.#opts.backend} cannot score this document; ` +
        `the model server rejected it: ${isolation.error.message}`,
      { cause: isolation.error },
    );
    this.#fail(part.job, error, undefined);
  }

  #sendProbe(isolation: Isolation, parts: BatchPart[], probe: Probe): void {
    const { queries, documents, earliestDeadlineMs } = gather(parts);
    isolation.outstanding++;
    this.#observer.isolationCall(isolation.endpoint.id);
    this.#send(
      isolation.endpoint,
      parts,
      queries,
      documents,
      earliestDeadlineMs,
      this.#clock.now(),
      isolation.attempt,
      isolation.trace,
      probe,
    );
  }

  #succeed(job: Job): void {
    this.#finish(job);
    const controller = this.#limits.controller;
    if (controller) {
      const now = this.#clock.now();
      controller.requestCompleted(now - job.admittedMs, now);
    }
    this.#observer.requestAnswered(job.requestId, undefined);
    job.resolve({ probabilities: job.probabilities, model: job.model!, endpoint: job.endpoint });
  }

  #expire(job: Job): void {
    const error = new GatewayError(
      "DEADLINE_EXCEEDED",
      `deadline exceeded waiting for backend ${this.#opts.backend} (${job.pending - job.unsent} items in flight, ` +
        `${job.unsent} queued)`,
    );
    this.#fail(job, error, "deadline");
  }

  /** Answers a job with `error`; its unsent items leave the queue count (they are skipped lazily). */
  #fail(job: Job, error: GatewayError, dropReason: "deadline" | "cancelled" | "shutdown" | undefined): void {
    if (job.done) return;
    if (job.unsent > 0) {
      if (dropReason) this.#observer.itemsDropped(dropReason, job.unsent);
      this.#queuedItems -= job.unsent;
      job.unsent = 0;
      // Also when no pump follows (a cancel, the request's own deadline timer).
      this.#observer.queueDepth(this.#queuedItems);
    }
    this.#finish(job);
    const queue = job.queue;
    if (queue) {
      // Its segment stays in the queue until it reaches the head, unless too many have died there.
      queue.dead++;
      if (queue.dead > queue.fifo.length - queue.dead + DEAD_SEGMENT_SLACK) this.#compact(queue);
    }
    for (const batch of job.batches) {
      if (--batch.liveJobs === 0) {
        batch.controller.abort(new GatewayError("CLIENT_CANCELLED", "every request of the batch has gone"));
      }
    }
    job.batches.length = 0;
    this.#observer.requestAnswered(job.requestId, error);
    job.reject(error);
    if (this.#queuedItems === 0 && this.#inFlightBatches === 0) this.#notifyIdle();
  }

  /** Takes the head segment out of `queue`. */
  #shift(queue: Queue): Segment | undefined {
    const seg = queue.fifo.shift();
    if (seg) {
      if (seg.job.done) queue.dead--;
      seg.job.queue = undefined;
    }
    return seg;
  }

  /** Drops every dead segment of `queue` (callers never hold a position in it across a `#fail`). */
  #compact(queue: Queue): void {
    queue.fifo.retain((seg) => {
      if (!seg.job.done) return true;
      seg.job.queue = undefined;
      return false;
    });
    queue.dead = 0;
  }

  #finish(job: Job): void {
    job.done = true;
    job.timer?.cancel();
    job.timer = undefined;
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
  }

  #failQueuedUnavailable(): void {
    const error = this.#noEndpointError(false);
    for (const queue of [this.#interactive, this.#bulk]) {
      for (let seg = this.#shift(queue); seg; seg = this.#shift(queue)) this.#fail(seg.job, error, undefined);
    }
  }

  #whenIdle(): Promise<void> {
    if (this.#queuedItems === 0 && this.#inFlightBatches === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Worth another endpoint: the endpoint (not the request) failed (the error catalogue's `retriable`). */
function isRetriable(error: GatewayError): boolean {
  return error.retriable;
}

/** The request whose trace a batch joins: the first recording one, else the first with a context to pass on. */
function leadTrace(parts: readonly BatchPart[]): RequestTrace | undefined {
  let first: RequestTrace | undefined;
  for (const part of parts) {
    const trace = part.job.trace;
    if (trace === undefined) continue;
    if (trace.recording) return trace;
    first ??= trace;
  }
  return first;
}

/** The texts of `parts`, in order, and the earliest deadline among their requests. */
function gather(parts: readonly BatchPart[]) {
  const queries: string[] = [];
  const documents: string[] = [];
  let earliestDeadlineMs = Number.POSITIVE_INFINITY;
  for (const part of parts) {
    for (let i = part.start; i < part.end; i++) {
      queries.push(part.job.query);
      documents.push(part.job.documents[i]!);
    }
    if (part.job.deadlineMs < earliestDeadlineMs) earliestDeadlineMs = part.job.deadlineMs;
  }
  return { queries, documents, earliestDeadlineMs };
}

function countItems(parts: readonly BatchPart[]): number {
  let n = 0;
  for (const part of parts) n += part.end - part.start;
  return n;
}

/**
 * Rounds of splits a search makes while every part is rejected and the
 * endpoint answers nothing else, before it blames the endpoint. One round
 * cannot tell two rejected inputs in the two halves from a sick endpoint;
 * two can unless every quarter holds one.
 */
const BLIND_SPLIT_ROUNDS = 2;

/**
 * Two non-empty halves of `group` (two items at least): whole requests, as
 * even in items as the boundaries allow, or the two halves of a lone request.
 */
function halve(group: readonly BatchPart[]): [BatchPart[], BatchPart[]] {
  if (group.length === 1) {
    const { job, start, end } = group[0]!;
    const mid = start + Math.ceil((end - start) / 2);
    return [[{ job, start, end: mid }], [{ job, start: mid, end }]];
  }
  const half = countItems(group) / 2;
  let cut = 1;
  let best = Number.POSITIVE_INFINITY;
  let taken = 0;
  for (let k = 1; k < group.length; k++) {
    taken += group[k - 1]!.end - group[k - 1]!.start;
    const off = Math.abs(taken - half);
    if (off < best) {
      best = off;
      cut = k;
    }
  }
  return [group.slice(0, cut), group.slice(cut)];
}

function removeBatch(job: Job, batch: Batch): void {
  const i = job.batches.indexOf(batch);
  if (i >= 0) job.batches.splice(i, 1);
}
