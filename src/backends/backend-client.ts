/**
 * The seam between the batcher and the model servers. A backend (the
 * config's `backends.<name>`) owns one or more endpoints; the batcher picks an
 * endpoint per batch and calls `infer` with parallel arrays of model texts.
 */
import type { TraceHeaders } from "../tracing/trace-headers.js";
import type { GatewayError } from "../util/gateway-error.js";

/** The model server's own identity for what answered (Triton's model_name/model_version, vLLM's model id). */
export interface ModelIdentity {
  readonly name: string;
  readonly version: string;
}

/** n (query, document) pairs as parallel arrays: `queries[i]` goes with `documents[i]`. */
export interface InferBatch {
  readonly queries: readonly string[];
  readonly documents: readonly string[];
}

export interface InferResult {
  /** n × 5 row-major: P(label = 1..5) for each pair, each row summing to 1. */
  readonly probabilities: Float32Array;
  readonly model: ModelIdentity;
}

/** The gRPC API's priority bands, highest first. */
export const PRIORITY_BANDS = ["interactive", "bulk", "background"] as const;
export type PriorityBand = (typeof PRIORITY_BANDS)[number];

/** The model server's request priority for each band (`backends.<name>.bandPriorities`). */
export type BandPriorities = Readonly<Record<PriorityBand, number>>;

export interface CallContext {
  /** Aborted when every request in the batch has gone (deadline, cancellation) or on shutdown. */
  readonly signal: AbortSignal;
  /** Time left until the latest deadline of the batch's items (none waits after it); undefined when one has none. */
  readonly timeoutMs?: number | undefined;
  /**
   * True when `timeoutMs` is the backend's own call timeout rather than a
   * client's deadline: running out of it is then the endpoint's fault.
   */
  readonly timeoutIsBackendLimit?: boolean | undefined;
  /**
   * The highest band among the batch's requests. An endpoint configured to
   * pass bands on sends it as the model server's request priority, so that
   * the server's own queue (shared by every gateway replica) serves it first.
   */
  readonly band?: PriorityBand | undefined;
  /** Correlates the backend call in the model server's logs. */
  readonly batchId?: string | undefined;
  /**
   * W3C trace context for the model server, sent as `traceparent`/`tracestate`
   * gRPC metadata (Triton) or HTTP headers (vLLM); absent when there is none.
   */
  readonly traceHeaders?: TraceHeaders | undefined;
}

/**
 * `unknown` until the first readiness probe answers (`unknown` endpoints are
 * still tried); `ejected` while a circuit breaker is open or outlier detection
 * has taken the endpoint out.
 */
export type EndpointState = "unknown" | "ready" | "not-ready" | "ejected";

/** Whether the batcher may send a batch to an endpoint in this state. */
export function isUsable(state: EndpointState): boolean {
  return state !== "not-ready" && state !== "ejected";
}

export interface BackendEndpoint {
  /** As configured or resolved, e.g. "127.0.0.1:8001". */
  readonly id: string;
  readonly state: EndpointState;
  /**
   * True while the endpoint's half-open circuit breaker has its one trial
   * batch in flight: the endpoint takes no other batch (its state reads
   * `ejected`), but work may queue for it, since the trial's outcome decides
   * within one call whether it opens again or closes.
   */
  readonly onTrial?: boolean | undefined;
  /**
   * The model identity the last successful readiness probe read (Triton's
   * ModelMetadata, vLLM's `/v1/models`), as answers report it; undefined
   * before the first one or when the kind cannot tell. The score cache keys by it.
   */
  readonly model?: ModelIdentity | undefined;
  /** The server's own batch cap (Triton's max_batch_size), when known; batches never exceed it. */
  readonly maxBatchSize: number | undefined;
  /**
   * While the last readiness probe found the endpoint not ready, why: a
   * low-cardinality `cause` (the `endpoint_not_ready` metric's label, e.g.
   * "model_not_found") and the `reason` logged and shown by /readyz.
   * Absent when ready, or when the backend kind does not report one.
   */
  readonly notReady?: { readonly cause: string; readonly reason: string } | undefined;
  /** Resolves with n×5 probabilities or rejects with a GatewayError. */
  infer(batch: InferBatch, ctx: CallContext): Promise<InferResult>;
  /**
   * Counts against the endpoint (breaker, outlier detection) a failure that
   * `infer` did not count because it was an input rejection
   * (`GatewayError.inputRejection`): the batcher calls it when splitting the
   * batch showed that the endpoint, not one input, is at fault (every part
   * failed the same way).
   */
  reportFault?(error: GatewayError): void;
}

export interface BackendClient extends AsyncDisposable {
  /** The config name, e.g. "student". */
  readonly name: string;
  readonly kind: "triton" | "vllm";
  endpoints(): readonly BackendEndpoint[];
  /** Starts readiness probing; resolves after the first probe round (whatever its outcome). */
  start(): Promise<void>;
  /** True when at least one endpoint is ready. */
  isReady(): boolean;
}
