import { Metadata, type StatusObject, type status } from "@grpc/grpc-js";
import { GatewayError } from "../util/gateway-error.js";

/**
 * The only place a failure becomes a wire status. The stable reason travels
 * as `relevance-error-reason` trailing metadata so clients can branch on it
 * without parsing messages.
 */
export function toGrpcStatus(err: unknown): Partial<StatusObject> & { code: status; details: string } {
  const e = GatewayError.from(err);
  const metadata = new Metadata();
  metadata.set("relevance-error-reason", e.reason);
  return { code: e.code, details: e.message, metadata };
}
