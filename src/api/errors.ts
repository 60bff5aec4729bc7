import { Metadata, type StatusObject, type status } from "@grpc/grpc-js";
import { GatewayError } from "../util/gateway-error.js";

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
 * The only place a failure becomes a wire status. The stable reason travels
 * as `relevance-error-reason` trailing metadata so clients can branch on it
 * without parsing messages.
 */
export function toGrpcStatus(err: unknown): Partial<StatusObject> & { code: status; details: string } {
  const e = GatewayError.from(err);
  const metadata = new Metadata();
  metadata.set("relevance-error-reason", e.reason);
  return { code: e.code, details: wireDetails(e.message), metadata };
}
