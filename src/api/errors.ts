import { Metadata, type StatusObject, type status } from "@grpc/grpc-js";
import { GatewayError } from "../util/gateway-error.js";
import { encodeRetryStatus, RETRY_AFTER_TRAILER, STATUS_DETAILS_TRAILER } from "./retry-info.js";

/**
 * A lone UTF-16 surrogate, as in a backend's error text cut in the middle of
 * a pair: grpc-js percent-encodes the message with `encodeURI`, which throws
 * on one, and the call would never be answered.
 */
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * Longest status message sent, in UTF-16 code units. Messages may echo client
 * input (an experiment name, an id); the message travels percent-encoded in a
 * trailer (up to 9 bytes per unit), and a client whose header limit it passes
 * (64 KiB in Node) drops the answer and waits for its deadline instead.
 */
const MAX_DETAILS_CHARS = 1024;

/** The message as it can travel: bounded, and well-formed for `encodeURI`. */
function wireDetails(message: string): string {
  const bounded = message.length > MAX_DETAILS_CHARS ? `${message.slice(0, MAX_DETAILS_CHARS)}…` : message;
  return bounded.replace(LONE_SURROGATE, "\uFFFD");
}

/**
 * The only place a failure becomes a wire status: the code is the catalogue's
 * for the error's reason (util/error-catalogue.ts). The stable reason travels
 * as `relevance-error-reason` trailing metadata so clients can branch on it
 * without parsing messages; an error that says when to retry (RATE_LIMITED)
 * adds `retry-after-ms` (integer ms) and the standard
 * `grpc-status-details-bin` (google.rpc.Status with a RetryInfo).
 */
export function toGrpcStatus(err: unknown): Partial<StatusObject> & { code: status; details: string } {
  const e = GatewayError.from(err);
  const code = e.code as number as status;
  const details = wireDetails(e.message);
  const metadata = new Metadata();
  metadata.set("relevance-error-reason", e.reason);
  if (e.retryAfterMs !== undefined) {
    metadata.set(RETRY_AFTER_TRAILER, String(e.retryAfterMs));
    metadata.set(STATUS_DETAILS_TRAILER, encodeRetryStatus(code, details, e.retryAfterMs));
  }
  return { code, details, metadata };
}
