/**
 * The trace handles the request path carries. They are opaque to the layers:
 * the pipeline starts and ends a request's trace, the batcher reports queue
 * wait and opens one batch (and one call per attempt) on the trace of a
 * request in the batch, and a backend client only sends the call's headers.
 *
 * Nothing here loads OpenTelemetry: with tracing off, a request that came
 * with a trace context gets a `PropagatedContext`, which forwards that context
 * unchanged and records nothing; one without gets no handle at all.
 */
import type { GatewayError } from "../util/gateway-error.js";
import type { TraceHeaders } from "./trace-headers.js";

/** How a request ended, for its server span. */
export interface RequestOutcome {
  /** The client's request_id (or the generated one) as logs show it: capped by capClientText. */
  readonly requestId: string;
  readonly documents: number;
  /** "bulk", "canary", "experiment:…", "forced", "fallback" or "none" (rejected before routing). */
  readonly route: string;
  /** The backend's config name, or "none". */
  readonly backend: string;
  /** The gRPC status code of the answer. */
  readonly code: number;
  /** The GatewayError reason, when the answer is an error. */
  readonly reason?: string | undefined;
}

/** One request's trace. */
export interface RequestTrace {
  /** True when spans are recorded for this request; false when it only passes a context on. */
  readonly recording: boolean;
  /** The request's items entered a batcher's queue (again, after a fallback). */
  queueEntered(backend: string, items: number): void;
  /** The last of those items left the queue in a batch. */
  queueLeft(): void;
  /** A batch formed (`trigger`) of `items` items, this request's among them; the batch is traced under this request. */
  startBatch(backend: string, items: number, trigger: string): BatchTrace;
  /** The answer is decided; ends every span of the request still open. */
  end(outcome: RequestOutcome): void;
}

/** One batch, across its attempts. */
export interface BatchTrace {
  /** Another request whose items are in the batch (called once per request, the leading one included). */
  addRequest(request: RequestTrace | undefined): void;
  /** One backend call (attempt 0, then 1 for a retry) of `items` items to `endpoint`. */
  startCall(endpoint: string, attempt: number, items: number): CallTrace;
  /** The batch's answer is in (or its last attempt failed with `error`). */
  end(error: GatewayError | undefined): void;
}

/** One backend call. */
export interface CallTrace {
  /** What to send the model server: the call's own context (tracing on) or the client's (tracing off). */
  readonly headers: TraceHeaders;
  end(error: GatewayError | undefined): void;
}

/**
 * A context passed on unchanged: the client's (tracing off) or that of an
 * unsampled request (tracing on, so that the model server sees the decision).
 * One object serves as the request, its batches and their calls, so passing a
 * context on allocates nothing per batch.
 */
export class PropagatedContext implements RequestTrace, BatchTrace, CallTrace {
  readonly recording = false;
  readonly headers: TraceHeaders;

  constructor(headers: TraceHeaders) {
    this.headers = headers;
  }

  queueEntered(): void {}
  queueLeft(): void {}
  startBatch(): BatchTrace {
    return this;
  }
  addRequest(): void {}
  startCall(): CallTrace {
    return this;
  }
  end(): void {}
}
