/**
 * gRPC over HTTP/2 as the Triton transport reads it: the status of an answer
 * that is not gRPC, the percent-encoded grpc-message, one length-prefixed
 * message, and the error a failed call carries (shaped as grpc-js's
 * ServiceError, so that errors.ts maps both alike).
 */
import { status } from "@grpc/grpc-js";

/** A failed call, shaped as grpc-js's ServiceError (code, details) so that the same mapping applies. */
export class UnaryCallError extends Error {
  readonly code: status;
  readonly details: string;
  constructor(code: status, details: string) {
    super(`${code} ${status[code] ?? ""}: ${details}`);
    this.name = "UnaryCallError";
    this.code = code;
    this.details = details;
  }
}

/** gRPC's mapping of HTTP statuses for answers that are not gRPC (a proxy's error page, say). */
export function httpStatusToGrpc(httpStatus: number): status {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8; a malformed escape is kept as sent, as gRPC asks of clients. */
export function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
  if (!text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(text[i]!, "utf8")) bytes.push(b);
  }
  return Buffer.from(bytes).toString("utf8");
}

export function headerString(value: string | string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

/** One length-prefixed, uncompressed message, and nothing after it. */
export function decodeAnswer<Res>(
  chunks: Buffer[],
  received: number,
  deserialize: (bytes: Buffer) => Res,
): [UnaryCallError | null, Res?] {
  const parsing = (why: string): [UnaryCallError] => [
    new UnaryCallError(status.INTERNAL, `Response message parsing error: ${why}`),
  ];
  if (received < 5) return received === 0 ? parsing("no message received") : parsing("truncated frame");
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
  if (all[0] !== 0) return parsing("compressed message without a negotiated encoding");
  const length = all.readUInt32BE(1);
  if (5 + length !== received)
    return parsing(5 + length > received ? "truncated message" : "more than one message");
  try {
    return [null, deserialize(all.subarray(5))];
  } catch (err) {
    return parsing((err as Error).message);
  }
}
