/**
 * Triton's gRPC statuses → GatewayError. The split that matters to callers:
 * UNAVAILABLE for "try elsewhere or later" (server down, model not loaded,
 * Triton's queue full), INTERNAL for "the gateway and the model disagree"
 * (Triton rejected a request the gateway built; retrying will not help).
 * Every message names the backend and the endpoint.
 */
import { type ServiceError, status } from "@grpc/grpc-js";
import { GatewayError } from "../../util/gateway-error.js";

export interface TritonCallSite {
  /** The backend's config name, e.g. "student". */
  readonly backend: string;
  /** The endpoint as configured, e.g. "127.0.0.1:8001". */
  readonly endpoint: string;
  readonly model: string;
}

const UNKNOWN_MODEL = "Request for unknown model";

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

/** Triton's wording for a model (or version) that is not loaded, in any of its releases' status codes. */
export function isModelUnavailable(code: status, details: string): boolean {
  if (code === status.NOT_FOUND) return true; // "'m' version N is not found", "... has no available versions"
  return (code === status.INVALID_ARGUMENT || code === status.UNAVAILABLE) && details.includes(UNKNOWN_MODEL);
}

/** A refused TLS handshake (grpc-js passes on OpenSSL's and Node's words) points at the tls block. */
function tlsHint(details: string, backend: string): string {
  return /certificate|altnames|ssl|tls/i.test(details) ? ` (check backends.${backend}.tls)` : "";
}

/** Maps a failed ModelInfer (or any Triton RPC) to the gateway's error. */
export function mapTritonError(err: unknown, site: TritonCallSite): GatewayError {
  if (err instanceof GatewayError) return err;
  const where = `backend ${site.backend}`;
  if (!isServiceError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return new GatewayError("INTERNAL", `${where}: call to ${site.endpoint} failed: ${message}`, {
      cause: err,
    });
  }
  const details = err.details || status[err.code] || String(err.code);
  const options = { cause: err };
  if (isModelUnavailable(err.code, details)) {
    return new GatewayError(
      "BACKEND_MODEL_UNAVAILABLE",
      `${where}: model '${site.model}' is not available on ${site.endpoint}: ${details}`,
      options,
    );
  }
  switch (err.code) {
    case status.INVALID_ARGUMENT:
      return new GatewayError(
        "BACKEND_REJECTED",
        `${where}: triton on ${site.endpoint} rejected the request for model '${site.model}': ${details}`,
        options,
      );
    case status.UNAVAILABLE:
      return new GatewayError(
        "BACKEND_UNAVAILABLE",
        `${where}: triton on ${site.endpoint} is unavailable: ${details}${tlsHint(details, site.backend)}`,
        options,
      );
    case status.DEADLINE_EXCEEDED:
      return new GatewayError(
        "DEADLINE_EXCEEDED",
        `${where}: call to ${site.endpoint} exceeded its deadline: ${details}`,
        options,
      );
    case status.RESOURCE_EXHAUSTED:
      // Triton never sends this status; grpc-js does when a message exceeds
      // maxMessageBytes. That is a gateway sizing problem, not the caller's.
      return new GatewayError(
        "BACKEND_REJECTED",
        `${where}: message to or from ${site.endpoint} exceeds the size limit (raise maxMessageBytes or lower the batch size): ${details}`,
        options,
      );
    case status.INTERNAL:
      if (details.startsWith("Response message parsing error")) {
        return new GatewayError(
          "BACKEND_MALFORMED_RESPONSE",
          `${where}: triton on ${site.endpoint} sent an undecodable response: ${details}`,
          options,
        );
      }
      // Anything else INTERNAL is what a Python backend raising on one input
      // (a tokenizer error) sends by default, but also what a sick GPU sends
      // for every call: the batcher splits the batch to tell which.
      return new GatewayError(
        "BACKEND_ERROR",
        `${where}: triton on ${site.endpoint} failed with INTERNAL: ${details}`,
        { cause: err, inputRejection: true },
      );
  }
  return new GatewayError(
    "BACKEND_ERROR",
    `${where}: triton on ${site.endpoint} failed with ${status[err.code] ?? err.code}: ${details}`,
    options,
  );
}
