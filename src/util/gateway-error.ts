import { status } from "@grpc/grpc-js";

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
  | "BACKEND_MODEL_UNAVAILABLE"
  | "BACKEND_REJECTED"
  | "BACKEND_MALFORMED_RESPONSE"
  | "BACKEND_ERROR"
  | "SHUTTING_DOWN"
  | "UNSUPPORTED"
  | "INTERNAL";

/**
 * The one error type of the gateway: a gRPC status code, a stable reason and
 * a human message. `toGrpcStatus()` in api/errors.ts is the only place that
 * turns it into a wire status.
 */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  readonly code: status;
  readonly reason: ErrorReason;
  /**
   * The model server refused a whole batch in a way that one of its inputs may
   * have caused (Triton's INTERNAL from a Python-backend tokenizer, vLLM's 400):
   * until the batcher has isolated the cause by splitting the batch, it is not
   * counted against the endpoint (see `BackendEndpoint.reportFault`).
   */
  readonly inputRejection: boolean;

  constructor(
    code: status,
    reason: ErrorReason,
    message: string,
    options?: { cause?: unknown; inputRejection?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = reason;
    this.inputRejection = options?.inputRejection ?? false;
  }

  /** Wraps anything thrown into a GatewayError (an unknown error becomes INTERNAL). */
  static from(err: unknown): GatewayError {
    if (err instanceof GatewayError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new GatewayError(status.INTERNAL, "INTERNAL", message, { cause: err });
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}
