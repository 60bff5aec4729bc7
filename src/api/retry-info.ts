/**
 * The standard gRPC rich-error trailer, `grpc-status-details-bin`: a
 * google.rpc.Status whose one detail is a google.rpc.RetryInfo. Clients
 * with the googleapis error model read the retry delay from it; others use
 * the plain `retry-after-ms` trailer. Hand-encoded: two tiny messages do not
 * warrant a protobuf runtime on the request path.
 *
 *   google.rpc.Status    { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
 *   google.protobuf.Any  { string type_url = 1; bytes value = 2; }
 *   google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }
 *   google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; }
 */

export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";
export const RETRY_AFTER_TRAILER = "retry-after-ms";
export const RETRY_INFO_TYPE_URL = "type.googleapis.com/google.rpc.RetryInfo";

/** The `grpc-status-details-bin` value: Status{code, message, details: [Any(RetryInfo{retry_delay})]}. */
export function encodeRetryStatus(code: number, message: string, retryDelayMs: number): Buffer {
  const delayMs = Math.max(0, Math.round(retryDelayMs));
  const seconds = Math.floor(delayMs / 1000);
  const nanos = (delayMs % 1000) * 1_000_000;
  const duration = concat([
    seconds > 0 ? field(1, 0, varint(seconds)) : EMPTY,
    nanos > 0 ? field(2, 0, varint(nanos)) : EMPTY,
  ]);
  const retryInfo = lengthDelimited(1, duration);
  const any = concat([
    lengthDelimited(1, Buffer.from(RETRY_INFO_TYPE_URL, "utf8")),
    lengthDelimited(2, retryInfo),
  ]);
  return concat([
    code !== 0 ? field(1, 0, varint(code)) : EMPTY,
    message !== "" ? lengthDelimited(2, Buffer.from(message, "utf8")) : EMPTY,
    lengthDelimited(3, any),
  ]);
}

const EMPTY = Buffer.alloc(0);

function concat(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(parts);
}

/** A key (field number, wire type) followed by an already-encoded payload. */
function field(fieldNumber: number, wireType: 0 | 2, payload: Buffer): Buffer {
  return concat([varint(fieldNumber * 8 + wireType), payload]);
}

function lengthDelimited(fieldNumber: number, bytes: Buffer): Buffer {
  return field(fieldNumber, 2, concat([varint(bytes.length), bytes]));
}

/** A non-negative integer below 2^53 as a base-128 varint. */
function varint(value: number): Buffer {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}
