import { status } from "@grpc/grpc-js";
import CircuitBreaker from "opossum";
import type { Logger } from "../../observability/logger.js";
import type { Clock } from "../../util/clock.js";
import { GatewayError } from "../../util/gateway-error.js";
import {
  type BackendClient,
  type BackendEndpoint,
  type CallContext,
  type EndpointState,
  type InferBatch,
  type InferResult,
  isUsable,
} from "../backend-client.js";
import { OutlierDetector, type OutlierOptions } from "./outlier-detector.js";

/** Circuit-breaker settings (`backends.<name>.breaker`), one breaker per endpoint. */
export interface BreakerOptions {
  /** Open when more than this share (%) of the calls in the rolling window failed… */
  readonly errorThresholdPercentage: number;
  /** …and the window holds at least this many calls. */
  readonly volumeThreshold: number;
  /** Open this long, then let a trial call through (half-open). */
  readonly resetTimeoutMs: number;
  /** Length of the rolling window of call statistics. */
  readonly rollingWindowMs: number;
}

export type BreakerState = "closed" | "half-open" | "open";

export interface ResilienceHooks {
  breakerState(endpoint: string, state: BreakerState): void;
  ejected(endpoint: string, durationMs: number): void;
}

export interface ResilienceOptions {
  readonly breaker: BreakerOptions;
  readonly outlier: OutlierOptions;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hooks?: ResilienceHooks | undefined;
}

/** A backend whose endpoints are guarded by breakers and outlier ejection. */
export interface ResilientBackend extends BackendClient {
  /** True when some endpoint may take a batch now (ready, breaker not open, not ejected). */
  available(): boolean;
}

/**
 * A failure that says something about the endpoint's health (the error
 * catalogue's `endpointFault`; anything that is not a GatewayError counts).
 * Client-side outcomes (deadline, cancellation), and requests the model
 * server rejected as built, do not count against an endpoint.
 */
export function isEndpointFault(err: unknown): boolean {
  return !(err instanceof GatewayError) || err.endpointFault;
}

/** What one call says about its endpoint's health. */
type Verdict = "success" | "failure" | "neutral";

/**
 * A failed call's verdict. Client-side outcomes, requests the model server
 * rejected as built, and input rejections (one input may have caused them,
 * until the batcher's split says otherwise) are neutral: neither a failure
 * nor a sign of health.
 */
function verdictOf(err: unknown): Verdict {
  if (err instanceof GatewayError && err.inputRejection) return "neutral";
  return isEndpointFault(err) ? "failure" : "neutral";
}

/**
 * The breaker judges outcomes, not calls: its action runs the settled
 * outcome it is fired with, so the gateway decides what a call meant (a
 * timeout is BACKEND_TIMEOUT before the breaker sees it) and when it counts.
 */
type Outcome = () => Promise<void>;
type Breaker = CircuitBreaker<[Outcome], void>;
const SUCCEEDED: Outcome = () => Promise.resolve();

/**
 * Wraps a backend so that each endpoint's calls are judged by an opossum
 * circuit breaker and an outlier detector. An open breaker or an ejection
 * takes the endpoint out of the batcher's choice (state "ejected"). When the
 * breaker's reset timeout passes (half-open) the endpoint is offered again
 * for one trial batch only: while the trial is in flight it reads as
 * "ejected", so the batcher keeps other batches queued (or sends them to
 * other endpoints) instead of having opossum refuse them. A successful trial
 * closes the breaker, a failed one (a timeout included) opens it again, and a
 * neutral one leaves it half-open for the next batch to try.
 */
export function createResilientBackend(inner: BackendClient, opts: ResilienceOptions): ResilientBackend {
  const log = opts.logger.child({ component: "resilience", backend: inner.name });
  const hooks = opts.hooks;
  const detector = new OutlierDetector(opts.outlier, opts.clock, (endpoint, durationMs) => {
    log.warn({ endpoint, durationMs }, "endpoint ejected: consecutive failures");
    hooks?.ejected(endpoint, durationMs);
  });
  const wrappers = new WeakMap<BackendEndpoint, GuardedEndpoint>();
  const breakers = new Map<string, Breaker>();
  let lastInner: readonly BackendEndpoint[] | undefined;
  let lastWrapped: readonly BackendEndpoint[] = [];

  function breakerFor(endpoint: BackendEndpoint): Breaker {
    let breaker = breakers.get(endpoint.id);
    if (breaker) return breaker;
    breaker = new CircuitBreaker((outcome: Outcome) => outcome(), {
      name: `${inner.name}:${endpoint.id}`,
      timeout: false, // deadlines are the batcher's; the call carries them
      errorThresholdPercentage: opts.breaker.errorThresholdPercentage,
      volumeThreshold: opts.breaker.volumeThreshold,
      resetTimeout: opts.breaker.resetTimeoutMs,
      rollingCountTimeout: opts.breaker.rollingWindowMs,
      rollingCountBuckets: 10,
    });
    const id = endpoint.id;
    breaker.on("open", () => {
      log.warn({ endpoint: id, resetTimeoutMs: opts.breaker.resetTimeoutMs }, "circuit breaker opened");
      hooks?.breakerState(id, "open");
    });
    breaker.on("halfOpen", () => {
      log.info({ endpoint: id }, "circuit breaker half-open: trying a batch");
      hooks?.breakerState(id, "half-open");
    });
    breaker.on("close", () => {
      log.info({ endpoint: id }, "circuit breaker closed");
      hooks?.breakerState(id, "closed");
    });
    hooks?.breakerState(id, "closed");
    breakers.set(id, breaker);
    return breaker;
  }

  /** Feeds an outcome to the breaker; resolves once it has changed state if it does. */
  function judge(breaker: Breaker, outcome: Outcome): Promise<void> {
    return breaker.fire(outcome).catch(() => {});
  }

  class GuardedEndpoint implements BackendEndpoint {
    readonly #inner: BackendEndpoint;
    readonly #breaker: Breaker;
    /** The half-open breaker's one trial batch is in flight. */
    #trialInFlight = false;

    constructor(endpoint: BackendEndpoint) {
      this.#inner = endpoint;
      this.#breaker = breakerFor(endpoint);
    }

    get id(): string {
      return this.#inner.id;
    }

    get maxBatchSize(): number | undefined {
      return this.#inner.maxBatchSize;
    }

    get notReady(): BackendEndpoint["notReady"] {
      return this.#inner.notReady;
    }

    get model(): BackendEndpoint["model"] {
      return this.#inner.model;
    }

    get state(): EndpointState {
      const s = this.#inner.state;
      if (s === "not-ready") return s;
      if (!this.#admits() || detector.isEjected(this.#inner.id)) return "ejected";
      return s;
    }

    get onTrial(): boolean {
      return this.#trialInFlight;
    }

    /** Closed, or half-open with the trial not yet taken (opossum's pendingClose until an outcome is fired). */
    #admits(): boolean {
      const b = this.#breaker;
      return b.closed || (b.halfOpen && b.pendingClose && !this.#trialInFlight);
    }

    async infer(batch: InferBatch, ctx: CallContext): Promise<InferResult> {
      if (!this.#admits()) {
        throw new GatewayError(
          "BACKEND_CIRCUIT_OPEN",
          `backend ${inner.name}: circuit breaker of ${this.id} is open`,
        );
      }
      const trial = this.#breaker.halfOpen;
      if (trial) this.#trialInFlight = true;
      let result: InferResult;
      try {
        result = await this.#inner.infer(batch, ctx);
      } catch (caught) {
        let err = caught;
        if (
          ctx.timeoutIsBackendLimit &&
          err instanceof GatewayError &&
          err.code === status.DEADLINE_EXCEEDED &&
          !ctx.signal.aborted
        ) {
          err = new GatewayError(
            "BACKEND_TIMEOUT",
            `backend ${inner.name}: ${this.id} did not answer within ${ctx.timeoutMs} ms`,
            { cause: caught },
          );
        }
        const failure = err;
        await this.#settle(trial, verdictOf(err), () => Promise.reject(failure));
        throw err;
      }
      await this.#settle(trial, "success", SUCCEEDED);
      return result;
    }

    reportFault(error: GatewayError): void {
      detector.recordFailure(this.id, lastWrapped.length);
      const b = this.#breaker;
      // Open: nothing to add. Half-open: the fault fails the trial, whether or not one is in flight.
      if (b.closed || b.halfOpen) void judge(b, () => Promise.reject(error));
    }

    /** Counts a call's verdict, in the breaker state the call was let through under. */
    async #settle(trial: boolean, verdict: Verdict, outcome: Outcome): Promise<void> {
      try {
        if (verdict === "neutral") return;
        if (verdict === "failure") detector.recordFailure(this.id, lastWrapped.length);
        else detector.recordSuccess(this.id);
        const b = this.#breaker;
        // A call let through before the breaker opened says nothing about a later trial.
        if (trial ? b.halfOpen && b.pendingClose : b.closed) await judge(b, outcome);
      } finally {
        // Only once the breaker has moved: until then the endpoint must not look free for another trial.
        if (trial) this.#trialInFlight = false;
      }
    }
  }

  function wrap(endpoint: BackendEndpoint): GuardedEndpoint {
    let w = wrappers.get(endpoint);
    if (!w) {
      w = new GuardedEndpoint(endpoint);
      wrappers.set(endpoint, w);
    }
    return w;
  }

  function endpoints(): readonly BackendEndpoint[] {
    const current = inner.endpoints();
    if (current !== lastInner) {
      // The set changed (discovery): wrap the newcomers, forget the leavers.
      lastInner = current;
      lastWrapped = current.map(wrap);
      const ids = new Set(current.map((e) => e.id));
      for (const [id, breaker] of breakers) {
        if (!ids.has(id)) {
          breaker.shutdown();
          breakers.delete(id);
        }
      }
      detector.retain(ids);
    }
    return lastWrapped;
  }

  return {
    name: inner.name,
    kind: inner.kind,
    endpoints,
    start: () => inner.start(),
    isReady: () => inner.isReady(),
    available: () => endpoints().some((e) => isUsable(e.state)),
    async [Symbol.asyncDispose]() {
      for (const breaker of breakers.values()) breaker.shutdown();
      breakers.clear();
      await inner[Symbol.asyncDispose]();
    },
  };
}
