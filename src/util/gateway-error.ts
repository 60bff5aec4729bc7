import { ERROR_CATALOGUE, type ErrorReason, type GrpcCode } from "./error-catalogue.js";

export type { ErrorReason } from "./error-catalogue.js";

/** What a failure carries besides its reason and message. */
export interface GatewayErrorOptions {
  readonly cause?: unknown;
  /**
   * The model server refused a whole batch in a way that one of its inputs may
   * have caused (Triton's INTERNAL from a Python-backend tokenizer, vLLM's 400):
   * until the batcher has isolated the cause by splitting the batch, it is not
   * counted against the endpoint (see `BackendEndpoint.reportFault`).
   */
  readonly inputRejection?: boolean;
  /** When the client may try again, in ms: sent as `retry-after-ms` and as gRPC RetryInfo. */
  readonly retryAfterMs?: number;
}

/**
 * The one error type of the gateway: a stable reason and a human message. The
 * status code and how the gateway treats the failure (retried, counted
 * against the endpoint, answered by a fallback) come from the reason's entry
 * in `ERROR_CATALOGUE`; `toGrpcStatus()` in api/errors.ts is the only place
 * that turns it into a wire status.
 */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  readonly reason: ErrorReason;
  /** The gRPC status the client receives: the catalogue's for this reason. */
  readonly code: GrpcCode;
  /** See `GatewayErrorOptions.inputRejection`. */
  readonly inputRejection: boolean;
  /** See `GatewayErrorOptions.retryAfterMs`. */
  readonly retryAfterMs: number | undefined;

  constructor(reason: ErrorReason, message: string, options?: GatewayErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.code = ERROR_CATALOGUE[reason].code;
    this.inputRejection = options?.inputRejection ?? false;
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** The endpoint, not the request, failed: another endpoint may answer. */
  get retriable(): boolean {
    return ERROR_CATALOGUE[this.reason].retriable;
  }

  /** Counts against the endpoint's health. */
  get endpointFault(): boolean {
    return ERROR_CATALOGUE[this.reason].endpointFault;
  }

  /** The backend cannot serve now: a route's fallback backend may answer instead. */
  get fallback(): boolean {
    return ERROR_CATALOGUE[this.reason].fallback;
  }

  /** Wraps anything thrown into a GatewayError (an unknown error becomes INTERNAL). */
  static from(err: unknown): GatewayError {
    if (err instanceof GatewayError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new GatewayError("INTERNAL", message, { cause: err });
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}
