import type { ModelIdentity, PriorityBand } from "../backends/backend-client.js";
import type { RequestTrace } from "../tracing/request-trace.js";
import type { CancelSignal } from "../util/cancel-signal.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";

export interface ScoredItems {
  /** n × 5 row-major probabilities, in the submitted document order. */
  readonly probabilities: Float32Array;
  readonly model: ModelIdentity;
  /** The endpoint that answered the last part of the request. */
  readonly endpoint: string;
}

/**
 * Where a job is: some items still "queued"; all "sent" and waiting for
 * answers; "answered" with every score; "failed" with one error. The last
 * two are final: a job settles exactly once.
 */
export type JobState = "queued" | "sent" | "answered" | "failed";

/** A batch in flight that carries some of a job's items: told when the job no longer waits for it. */
export interface Carrier {
  jobGone(): void;
}

export interface JobInit {
  readonly requestId: string;
  readonly query: string;
  readonly documents: readonly string[];
  /** Clock time after which the job is expired; +Infinity for none. */
  readonly deadlineMs: number;
  /** Clock time of admission. */
  readonly admittedMs: number;
  /** Its band: what its batches are sent to the model server as (batch.ts, `band`). */
  readonly priority: PriorityBand;
  readonly trace: RequestTrace | undefined;
}

/**
 * One submitted request in a batcher: its items, the scores answered so far
 * (scattered in place, in document order, whatever batches carried them),
 * its deadline timer and its cancellation, and the batches in flight that
 * carry its items. It is settled exactly once, by `succeed` or `fail`; a
 * failure tells every batch it was in, so a batch nobody waits for is aborted.
 */
export class Job {
  readonly requestId: string;
  readonly query: string;
  readonly documents: readonly string[];
  readonly deadlineMs: number;
  readonly admittedMs: number;
  readonly priority: PriorityBand;
  readonly trace: RequestTrace | undefined;
  readonly probabilities: Float32Array;
  readonly #resolve: (r: ScoredItems) => void;
  readonly #reject: (e: GatewayError) => void;
  #state: JobState = "queued";
  #pending: number;
  #unsent: number;
  #model: ModelIdentity | undefined;
  #endpoint = "";
  #timer: TimerHandle | undefined;
  #signal: CancelSignal | undefined;
  #onAbort: (() => void) | undefined;
  #carriers: Carrier[] = [];

  constructor(init: JobInit, resolve: (r: ScoredItems) => void, reject: (e: GatewayError) => void) {
    this.requestId = init.requestId;
    this.query = init.query;
    this.documents = init.documents;
    this.deadlineMs = init.deadlineMs;
    this.admittedMs = init.admittedMs;
    this.priority = init.priority;
    this.trace = init.trace;
    this.probabilities = new Float32Array(init.documents.length * 5);
    this.#pending = init.documents.length;
    this.#unsent = init.documents.length;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Calls `onDeadline` at the deadline and `onCancel` when `signal` aborts, unless settled before. */
  watch(clock: Clock, onDeadline: () => void, signal: CancelSignal | undefined, onCancel: () => void): void {
    if (Number.isFinite(this.deadlineMs)) {
      this.#timer = clock.setTimeout(onDeadline, this.deadlineMs - clock.now());
    }
    if (signal) {
      this.#signal = signal;
      this.#onAbort = onCancel;
      signal.addEventListener("abort", onCancel, { once: true });
    }
  }

  get state(): JobState {
    return this.#state;
  }

  /** Settled: answered or failed. */
  get done(): boolean {
    return this.#state === "answered" || this.#state === "failed";
  }

  /** Items not yet answered. */
  get pending(): number {
    return this.#pending;
  }

  /** Items still queued (not yet in a batch). */
  get unsent(): number {
    return this.#unsent;
  }

  /** `count` of its items left the queue in a batch; the last ones end the trace's queue span. */
  sent(count: number): void {
    this.#unsent -= count;
    if (this.#unsent === 0) {
      if (this.#state === "queued") this.#state = "sent";
      this.trace?.queueLeft();
    }
  }

  /** Its queued items will never be sent (it failed): returns how many there were. */
  dropUnsent(): number {
    const n = this.#unsent;
    this.#unsent = 0;
    return n;
  }

  /** A batch carries some of its items; false when that batch was already known (a job split within one batch). */
  join(carrier: Carrier): boolean {
    if (this.#carriers.at(-1) === carrier) return false;
    this.#carriers.push(carrier);
    return true;
  }

  /** A batch it was in is over (answered, failed, or retried as another). */
  leave(carrier: Carrier): void {
    const i = this.#carriers.indexOf(carrier);
    if (i >= 0) this.#carriers.splice(i, 1);
  }

  /**
   * Answers items [start, start + rows/5) with `rows` (row-major, 5 per
   * item); true when that answered its last item. A settled job ignores it.
   */
  scatter(start: number, rows: Float32Array, model: ModelIdentity, endpoint: string): boolean {
    if (this.done) return false;
    this.probabilities.set(rows, start * 5);
    this.#model = model;
    this.#endpoint = endpoint;
    this.#pending -= rows.length / 5;
    return this.#pending === 0;
  }

  /** Resolves with every score; call once `scatter` returned true. */
  succeed(): void {
    this.#settle("answered");
    this.#resolve({ probabilities: this.probabilities, model: this.#model!, endpoint: this.#endpoint });
  }

  /** The answer at its deadline, with what was still queued and in flight. */
  deadlineError(backend: string): GatewayError {
    return new GatewayError(
      "DEADLINE_EXCEEDED",
      `deadline exceeded waiting for backend ${backend} (${this.#pending - this.#unsent} items in flight, ` +
        `${this.#unsent} queued)`,
    );
  }

  /** Rejects with `error` unless settled already (then false); the batches it was in are told. */
  fail(error: GatewayError): boolean {
    if (this.done) return false;
    this.#settle("failed");
    for (const carrier of this.#carriers) carrier.jobGone();
    this.#carriers.length = 0;
    this.#reject(error);
    return true;
  }

  #settle(state: "answered" | "failed"): void {
    this.#state = state;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = undefined;
  }
}
