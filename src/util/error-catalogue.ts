/**
 * The gateway's failures as data: each stable reason with the one gRPC status
 * it is answered with and how the rest of the gateway treats it. Layers below
 * the API (batching, backends) read this table instead of restating codes or
 * listing reasons in their own `switch`es; `toGrpcStatus` in api/errors.ts is
 * the only place an error becomes a wire status.
 */

/**
 * gRPC status codes. The numbers are the wire's, fixed by the gRPC
 * specification; the gateway keeps its own copy so that code below the API
 * (batching, the vLLM client) needs no gRPC library to name one.
 */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** Stable machine-readable reasons (undici `UND_ERR_*` style); never renamed once shipped. */
export type ErrorReason =
  | "INVALID_REQUEST"
  | "DOCUMENT_REJECTED"
  | "BATCH_QUEUE_FULL"
  | "DEADLINE_EXCEEDED"
  | "CLIENT_CANCELLED"
  | "NO_READY_ENDPOINT"
  | "NO_BACKEND_FOR_ROLE"
  | "NOT_PERMITTED"
  | "UNAUTHENTICATED"
  | "RATE_LIMITED"
  | "BACKEND_UNAVAILABLE"
  | "BACKEND_CIRCUIT_OPEN"
  | "BACKEND_TIMEOUT"
  | "PREDICTED_DEADLINE_MISS"
  | "EVICTED_BY_PRIORITY"
  | "BACKEND_MODEL_UNAVAILABLE"
  | "BACKEND_REJECTED"
  | "BACKEND_MALFORMED_RESPONSE"
  | "BACKEND_ERROR"
  | "SHUTTING_DOWN"
  | "UNSUPPORTED"
  | "INTERNAL";

/** What a reason means to the gateway. */
export interface ErrorSpec {
  /** The status the client receives. */
  readonly code: GrpcCode;
  /**
   * The endpoint, not the request, failed: the batcher may send the batch to
   * another endpoint (within the retry budget).
   */
  readonly retriable: boolean;
  /** Counts against the endpoint's health (its breaker and outlier detector). */
  readonly endpointFault: boolean;
  /**
   * The backend cannot serve now: a route's fallback backend may answer
   * instead. Never for a gateway shutting down.
   */
  readonly fallback: boolean;
}

function spec(
  code: GrpcCode,
  flags: { retriable?: true; endpointFault?: true; fallback?: true } = {},
): ErrorSpec {
  return {
    code,
    retriable: flags.retriable ?? false,
    endpointFault: flags.endpointFault ?? false,
    fallback: flags.fallback ?? false,
  };
}

/** Every reason, its status and its treatment. */
export const ERROR_CATALOGUE: Readonly<Record<ErrorReason, ErrorSpec>> = {
  // The request.
  INVALID_REQUEST: spec(GrpcCode.INVALID_ARGUMENT),
  DOCUMENT_REJECTED: spec(GrpcCode.INVALID_ARGUMENT),
  DEADLINE_EXCEEDED: spec(GrpcCode.DEADLINE_EXCEEDED),
  CLIENT_CANCELLED: spec(GrpcCode.CANCELLED),
  UNSUPPORTED: spec(GrpcCode.UNIMPLEMENTED),
  // The caller.
  UNAUTHENTICATED: spec(GrpcCode.UNAUTHENTICATED),
  NOT_PERMITTED: spec(GrpcCode.PERMISSION_DENIED),
  RATE_LIMITED: spec(GrpcCode.RESOURCE_EXHAUSTED),
  // The gateway's own capacity.
  BATCH_QUEUE_FULL: spec(GrpcCode.RESOURCE_EXHAUSTED),
  PREDICTED_DEADLINE_MISS: spec(GrpcCode.RESOURCE_EXHAUSTED),
  EVICTED_BY_PRIORITY: spec(GrpcCode.RESOURCE_EXHAUSTED),
  SHUTTING_DOWN: spec(GrpcCode.UNAVAILABLE),
  // No backend to ask.
  NO_BACKEND_FOR_ROLE: spec(GrpcCode.UNAVAILABLE, { fallback: true }),
  NO_READY_ENDPOINT: spec(GrpcCode.UNAVAILABLE, { fallback: true }),
  BACKEND_CIRCUIT_OPEN: spec(GrpcCode.UNAVAILABLE, { retriable: true, fallback: true }),
  // What an endpoint did.
  BACKEND_UNAVAILABLE: spec(GrpcCode.UNAVAILABLE, { retriable: true, endpointFault: true, fallback: true }),
  BACKEND_ERROR: spec(GrpcCode.UNAVAILABLE, { retriable: true, endpointFault: true, fallback: true }),
  BACKEND_TIMEOUT: spec(GrpcCode.UNAVAILABLE, { retriable: true, endpointFault: true, fallback: true }),
  BACKEND_MODEL_UNAVAILABLE: spec(GrpcCode.UNAVAILABLE, { endpointFault: true, fallback: true }),
  BACKEND_MALFORMED_RESPONSE: spec(GrpcCode.INTERNAL, { endpointFault: true }),
  BACKEND_REJECTED: spec(GrpcCode.INTERNAL),
  INTERNAL: spec(GrpcCode.INTERNAL, { endpointFault: true }),
};
