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
 * A failure that says something about the endpoint's health. Client-side
 * outcomes (deadline, cancellation), and requests the model server rejected
 * as built, do not count against an endpoint.
 */
export function isEndpointFault(err: unknown): boolean {
  if (!(err instanceof GatewayError)) return true;
  switch (err.reason) {
    case "BACKEND_UNAVAILABLE":
    case "BACKEND_ERROR":
    case "BACKEND_TIMEOUT":
    case "BACKEND_MALFORMED_RESPONSE":
    case "BACKEND_MODEL_UNAVAILABLE":
    case "INTERNAL":
      return true;
    default:
      return false;
  }
}

/**
 * Wraps a backend so that each endpoint's calls go through an opossum circuit
 * breaker and an outlier detector. An open breaker or an ejection takes the
 * endpoint out of the batcher's choice (state "ejected"); when the breaker's
 * reset timeout passes, opossum lets a trial batch through (half-open) and a
 * success closes it again.
 */
export function createResilientBackend(inner: BackendClient, opts: ResilienceOptions): ResilientBackend {
  const log = opts.logger.child({ component: "resilience", backend: inner.name });
  const hooks = opts.hooks;
  const detector = new OutlierDetector(opts.outlier, opts.clock, (endpoint, durationMs) => {
    log.warn({ endpoint, durationMs }, "endpoint ejected: consecutive failures");
    hooks?.ejected(endpoint, durationMs);
  });
  const wrappers = new WeakMap<BackendEndpoint, GuardedEndpoint>();
  const breakers = new Map<string, CircuitBreaker<[InferBatch, CallContext], InferResult>>();
  let lastInner: readonly BackendEndpoint[] | undefined;
  let lastWrapped: readonly BackendEndpoint[] = [];

  function breakerFor(endpoint: BackendEndpoint) {
    let breaker = breakers.get(endpoint.id);
    if (breaker) return breaker;
    breaker = new CircuitBreaker((batch: InferBatch, ctx: CallContext) => endpoint.infer(batch, ctx), {
      name: `${inner.name}:${endpoint.id}`,
      timeout: false, // deadlines are the batcher's; the call carries them
      errorThresholdPercentage: opts.breaker.errorThresholdPercentage,
      volumeThreshold: opts.breaker.volumeThreshold,
      resetTimeout: opts.breaker.resetTimeoutMs,
      rollingCountTimeout: opts.breaker.rollingWindowMs,
      rollingCountBuckets: 10,
      errorFilter: (err: unknown) => !isEndpointFault(err),
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

  class GuardedEndpoint implements BackendEndpoint {
    readonly #inner: BackendEndpoint;
    readonly #breaker: CircuitBreaker<[InferBatch, CallContext], InferResult>;

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

    get state(): EndpointState {
      const s = this.#inner.state;
      if (s === "not-ready") return s;
      if ((this.#breaker.opened && !this.#breaker.halfOpen) || detector.isEjected(this.#inner.id))
        return "ejected";
      return s;
    }

    async infer(batch: InferBatch, ctx: CallContext): Promise<InferResult> {
      try {
        const result = await this.#breaker.fire(batch, ctx);
        detector.recordSuccess(this.id);
        return result;
      } catch (caught) {
        let err = caught;
        if (
          ctx.timeoutIsBackendLimit &&
          err instanceof GatewayError &&
          err.code === status.DEADLINE_EXCEEDED &&
          !ctx.signal.aborted
        ) {
          err = new GatewayError(
            status.UNAVAILABLE,
            "BACKEND_TIMEOUT",
            `backend ${inner.name}: ${this.id} did not answer within ${ctx.timeoutMs} ms`,
            { cause: caught },
          );
        }
        if (isOpenBreaker(err)) {
          throw new GatewayError(
            status.UNAVAILABLE,
            "BACKEND_CIRCUIT_OPEN",
            `backend ${inner.name}: circuit breaker of ${this.id} is open`,
          );
        }
        if (isEndpointFault(err)) detector.recordFailure(this.id, lastWrapped.length);
        throw err;
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

function isOpenBreaker(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "EOPENBREAKER";
}
