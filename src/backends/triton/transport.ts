/**
 * A gRPC unary client over `node:http2`, for the one hot RPC (ModelInfer).
 *
 * grpc-js's client stack (channel, resolving, load-balancing and subchannel
 * calls, interceptors, filters, metadata objects) costs about as much CPU per
 * call as everything else the gateway does for a request, and a backend call
 * needs none of it: the gateway resolves and balances endpoints itself, one
 * connection per endpoint. This client frames one message, sends it with the
 * gRPC headers, and reads one message and the status back, with the same
 * statuses grpc-js gives for the same events (refused streams and dropped
 * connections UNAVAILABLE, size limits RESOURCE_EXHAUSTED, undecodable
 * answers INTERNAL "Response message parsing error") so that error mapping
 * does not care which client made the call. The cold RPCs (readiness,
 * metadata, config) stay on grpc-js.
 *
 * One HTTP/2 session per endpoint, opened on first use and replaced after a
 * GOAWAY, an error or a close (calls in flight on a replaced session finish on
 * it). After a failed connect, calls fail at once with the connect error for a
 * backoff (100 ms doubling to 5 s, reset by a successful connect) instead of
 * each dialling again, as grpc-js does in TRANSIENT_FAILURE.
 */

import type { SecureClientSessionOptions } from "node:http2";
import http2 from "node:http2";
import { status } from "@grpc/grpc-js";
import {
  decodeAnswer,
  decodeGrpcMessage,
  headerString,
  httpStatusToGrpc,
  UnaryCallError,
} from "./grpc-wire.js";

const {
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_AUTHORITY,
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_TE,
  HTTP2_HEADER_USER_AGENT,
  NGHTTP2_CANCEL,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_INADEQUATE_SECURITY,
} = http2.constants;

export interface H2UnaryTls {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  /** The name the server's certificate must carry (SNI and verification). */
  readonly servername?: string | undefined;
}

export interface H2UnaryOptions {
  /** "host:port" to dial. */
  readonly target: string;
  /** The :authority header; default the target. */
  readonly authority?: string | undefined;
  /** TLS (https) instead of plaintext h2c. */
  readonly tls?: H2UnaryTls | undefined;
  /** Largest message sent or received. */
  readonly maxMessageBytes: number;
  readonly userAgent: string;
  /**
   * Told when a connection that was established goes away (GOAWAY, close,
   * error) while the channel is open: the server may have been restarted,
   * with another model, so what was read of it may no longer hold.
   */
  readonly onConnectionLost?: (() => void) | undefined;
}

export type UnaryCallback<Res> = (err: UnaryCallError | null, res: Res | undefined) => void;

export interface UnaryCallHandle {
  /** Resets the stream (RST_STREAM CANCEL); the callback runs with CANCELLED unless it already ran. */
  cancel(): void;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** Receive window of the connection: many batches' answers in flight without WINDOW_UPDATE round trips. */
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

export class H2UnaryChannel {
  readonly #opts: H2UnaryOptions;
  readonly #url: string;
  readonly #authority: string;
  #session: http2.ClientHttp2Session | undefined;
  #closed = false;
  #backoffMs = MIN_BACKOFF_MS;
  #failedUntilMs = 0;
  #connectError = "";

  constructor(opts: H2UnaryOptions) {
    this.#opts = opts;
    this.#url = `${opts.tls === undefined ? "http" : "https"}://${opts.target}`;
    this.#authority = opts.authority ?? opts.target;
  }

  /**
   * Starts one unary call. `callback` runs exactly once, asynchronously, with
   * the decoded answer or a UnaryCallError; `timeoutMs` bounds the whole call
   * (sent to the server as grpc-timeout, enforced here by a timer).
   */
  call<Req, Res>(
    path: string,
    serialize: (req: Req) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    request: Req,
    extraHeaders: Readonly<Record<string, string>> | undefined,
    timeoutMs: number,
    callback: UnaryCallback<Res>,
  ): UnaryCallHandle {
    let done = false;
    let stream: http2.ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: UnaryCallError | null, res?: Res): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      callback(err, res);
    };
    const fail = (code: status, details: string): void => {
      // Errors found synchronously still answer asynchronously, as every other outcome does.
      if (stream === undefined) process.nextTick(finish, new UnaryCallError(code, details));
      else finish(new UnaryCallError(code, details));
    };

    let body: Buffer;
    try {
      body = serialize(request);
    } catch (err) {
      fail(status.INTERNAL, `Request message serialization failure: ${(err as Error).message}`);
      return { cancel() {} };
    }
    const max = this.#opts.maxMessageBytes;
    if (body.length > max) {
      fail(status.RESOURCE_EXHAUSTED, `Sent message larger than max (${body.length} vs. ${max})`);
      return { cancel() {} };
    }
    let session: http2.ClientHttp2Session;
    try {
      session = this.#sessionForCall();
    } catch (err) {
      const e = err as UnaryCallError;
      fail(e.code, e.details);
      return { cancel() {} };
    }
    const headers: http2.OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: "POST",
      [HTTP2_HEADER_PATH]: path,
      [HTTP2_HEADER_AUTHORITY]: this.#authority,
      [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
      [HTTP2_HEADER_TE]: "trailers",
      [HTTP2_HEADER_USER_AGENT]: this.#opts.userAgent,
      "grpc-timeout": `${Math.min(99_999_999, Math.max(1, Math.ceil(timeoutMs)))}m`,
      ...extraHeaders,
    };
    let s: http2.ClientHttp2Stream;
    try {
      s = session.request(headers);
    } catch (err) {
      // The session closed or went away between the check and the request.
      this.#drop(session, !session.connecting);
      fail(status.UNAVAILABLE, `Connection dropped: ${(err as Error).message}`);
      return { cancel() {} };
    }
    stream = s;

    let httpStatus = 0;
    /** A 200 answer with a gRPC content type: its body is gRPC messages. */
    let grpcBody = false;
    let grpcStatus: number | undefined;
    let grpcMessage = "";
    let streamError: Error | undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    let expected = -1; // the answer's length from its prefix, once 5 bytes are in

    const readStatus = (h: http2.IncomingHttpHeaders): void => {
      const code = headerString(h["grpc-status"]);
      if (code === undefined) return;
      const n = Number(code);
      grpcStatus = Number.isInteger(n) && n >= 0 && n <= 16 ? n : status.UNKNOWN;
      grpcMessage = decodeGrpcMessage(h["grpc-message"]);
    };
    s.on("response", (h) => {
      httpStatus = Number(h[HTTP2_HEADER_STATUS]) || 0;
      const contentType = headerString(h[HTTP2_HEADER_CONTENT_TYPE]) ?? "";
      grpcBody = httpStatus === 200 && contentType.startsWith("application/grpc");
      readStatus(h); // a trailers-only answer carries the status in its headers
    });
    s.on("trailers", readStatus);
    s.on("data", (chunk: Buffer) => {
      if (!grpcBody) return; // an error page, read only for its status
      chunks.push(chunk);
      received += chunk.length;
      if (expected < 0 && received >= 5) {
        const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        expected = head.readUInt32BE(1);
        if (expected > max) {
          s.close(NGHTTP2_CANCEL);
          finish(
            new UnaryCallError(
              status.RESOURCE_EXHAUSTED,
              `Received message larger than max (${expected} vs. ${max})`,
            ),
          );
        }
      }
    });
    s.on("error", (err) => {
      streamError = err;
    });
    s.on("close", () => {
      if (done) return;
      // After any "error" event emitted with the close.
      process.nextTick(() => {
        if (done) return;
        const rst = s.rstCode;
        if (grpcStatus === undefined || (httpStatus !== 200 && httpStatus !== 0)) {
          finish(this.#closedWithoutStatus(rst, httpStatus, streamError));
          return;
        }
        if (!grpcBody && grpcStatus === status.OK) {
          finish(new UnaryCallError(status.UNKNOWN, "Received a non-gRPC content type with status OK"));
          return;
        }
        if (grpcStatus !== status.OK) {
          finish(new UnaryCallError(grpcStatus, grpcMessage));
          return;
        }
        finish(...decodeAnswer(chunks, received, deserialize));
      });
    });

    timer = setTimeout(() => {
      s.close(NGHTTP2_CANCEL);
      finish(new UnaryCallError(status.DEADLINE_EXCEEDED, "Deadline exceeded"));
    }, timeoutMs);

    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(body.length, 1);
    s.write(prefix);
    s.end(body);

    return {
      cancel: () => {
        if (done) return;
        s.close(NGHTTP2_CANCEL);
        finish(new UnaryCallError(status.CANCELLED, "Call cancelled"));
      },
    };
  }

  /** Refuses new calls; the calls in flight finish (the session closes once they have). */
  close(): void {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    session?.close();
  }

  #closedWithoutStatus(rst: number, httpStatus: number, err: Error | undefined): UnaryCallError {
    if (httpStatus !== 0 && httpStatus !== 200) {
      return new UnaryCallError(httpStatusToGrpc(httpStatus), `Received HTTP status code ${httpStatus}`);
    }
    switch (rst) {
      case NGHTTP2_REFUSED_STREAM:
        return new UnaryCallError(status.UNAVAILABLE, "Stream refused by server");
      case NGHTTP2_ENHANCE_YOUR_CALM:
        return new UnaryCallError(status.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
      case NGHTTP2_INADEQUATE_SECURITY:
        return new UnaryCallError(status.PERMISSION_DENIED, "Protocol not secure enough");
      case NGHTTP2_NO_ERROR:
        if (err === undefined)
          return new UnaryCallError(
            status.INTERNAL,
            `Received RST_STREAM with code ${rst} (Call ended without gRPC status)`,
          );
        break;
    }
    // A dropped connection surfaces as CANCEL or INTERNAL_ERROR with the session's error.
    const why = err === undefined ? "" : `: ${err.message}`;
    return new UnaryCallError(status.UNAVAILABLE, `Connection dropped (RST_STREAM code ${rst})${why}`);
  }

  #sessionForCall(): http2.ClientHttp2Session {
    if (this.#closed) throw new UnaryCallError(status.UNAVAILABLE, "Channel closed");
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    if (Date.now() < this.#failedUntilMs) {
      throw new UnaryCallError(
        status.UNAVAILABLE,
        `No connection established. Last error: ${this.#connectError}`,
      );
    }
    return this.#connect();
  }

  #connect(): http2.ClientHttp2Session {
    const tls = this.#opts.tls;
    const options: SecureClientSessionOptions = {
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
      // Node's default of 10 MB makes it refuse streams under a burst of large batches.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      ...(tls === undefined
        ? {}
        : {
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            ALPNProtocols: ["h2"],
          }),
    };
    const session = http2.connect(this.#url, options);
    this.#session = session;
    let connected = false;
    session.unref();
    session.once("connect", () => {
      connected = true;
      this.#backoffMs = MIN_BACKOFF_MS;
      this.#failedUntilMs = 0;
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // A session destroyed in the meantime; its streams fail on their own.
      }
    });
    session.on("error", (err: Error) => {
      if (!connected) {
        this.#connectError = err.message;
        this.#failedUntilMs = Date.now() + this.#backoffMs;
        this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
      }
      this.#drop(session, connected);
    });
    session.on("goaway", () => this.#drop(session, connected));
    session.on("close", () => this.#drop(session, connected));
    return session;
  }

  #drop(session: http2.ClientHttp2Session, wasConnected: boolean): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    if (wasConnected && !this.#closed) this.#opts.onConnectionLost?.();
  }
}
