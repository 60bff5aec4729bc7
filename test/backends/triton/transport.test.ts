/**
 * The HTTP/2 unary client against small HTTP/2 servers on loopback that
 * answer as a gRPC server (or a broken one, or a proxy) would.
 */
import { once } from "node:events";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import type { Test } from "tap";
import t from "tap";
import type { UnaryCallError } from "../../../src/backends/triton/grpc-wire.js";
import { H2UnaryChannel } from "../../../src/backends/triton/transport.js";

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void;

interface TestServer {
  readonly target: string;
  /** Sessions (connections) accepted so far. */
  readonly sessions: () => number;
  readonly server: http2.Http2Server;
}

async function serve(t: Test, handler: Handler): Promise<TestServer> {
  const server = http2.createServer();
  let sessions = 0;
  const open = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions++;
    open.add(s);
    s.on("close", () => open.delete(s));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => handler(stream, headers, Buffer.concat(chunks)));
    stream.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  });
  const { port } = server.address() as AddressInfo;
  return { target: `127.0.0.1:${port}`, sessions: () => sessions, server };
}

function frame(message: Buffer, compressed = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Answers OK with `message` framed, then trailers. */
function answer(stream: http2.ServerHttp2Stream, data: Buffer): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(data);
}

const identity = (b: Buffer): Buffer => Buffer.from(b);
const text = (s: string): Buffer => Buffer.from(s);

function channel(t: Test, target: string, maxMessageBytes = 1024): H2UnaryChannel {
  const ch = new H2UnaryChannel({ target, maxMessageBytes, userAgent: "relevance-gateway/test" });
  t.teardown(() => ch.close());
  return ch;
}

function call(
  ch: H2UnaryChannel,
  request: string,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ err: UnaryCallError | null; res: string | undefined }> {
  return new Promise((resolve) => {
    ch.call(
      "/pkg.Svc/Method",
      text,
      (b) => b.toString(),
      request,
      opts.headers,
      opts.timeoutMs ?? 5_000,
      (err, res) => resolve({ err, res }),
    );
  });
}

t.test("sends one framed message with the gRPC headers and reads the answer", async (t) => {
  let seen: { headers: http2.IncomingHttpHeaders; body: Buffer } | undefined;
  const srv = await serve(t, (stream, headers, body) => {
    seen = { headers, body };
    answer(stream, frame(text(`echo ${body.subarray(5).toString()}`)));
  });
  const ch = channel(t, srv.target);
  const { err, res } = await call(ch, "hello", {
    headers: { traceparent: "00-abc-def-01" },
    timeoutMs: 1234.5,
  });
  t.equal(err, null);
  t.equal(res, "echo hello");
  t.same(seen?.body, frame(text("hello")), "a 5-byte prefix (uncompressed, length) and the message");
  t.match(seen?.headers, {
    ":method": "POST",
    ":path": "/pkg.Svc/Method",
    ":authority": srv.target,
    "content-type": "application/grpc",
    te: "trailers",
    "user-agent": "relevance-gateway/test",
    "grpc-timeout": "1235m",
    traceparent: "00-abc-def-01",
  });
  // Calls share the connection.
  await call(ch, "again");
  t.equal(srv.sessions(), 1, "one connection for both calls");
});

t.test(
  "an error status, in trailers or as a trailers-only answer, with its percent-encoded message",
  async (t) => {
    const srv = await serve(t, (stream, _h, body) => {
      const which = body.subarray(5).toString();
      if (which === "trailers-only") {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": String(status.INVALID_ARGUMENT),
            "grpc-message": "unexpected%20inference%20output%20%27LOGITS%27",
          },
          { endStream: true },
        );
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () =>
        stream.sendTrailers({ "grpc-status": String(status.UNAVAILABLE), "grpc-message": "queue%20full%" }),
      );
      stream.end();
    });
    const ch = channel(t, srv.target);
    const a = await call(ch, "trailers-only");
    t.match(a.err, { code: status.INVALID_ARGUMENT, details: "unexpected inference output 'LOGITS'" });
    const b = await call(ch, "trailers");
    t.match(
      b.err,
      { code: status.UNAVAILABLE, details: "queue full%" },
      "a malformed escape is kept as sent",
    );
  },
);

t.test("the :authority header is the configured authority when one is given", async (t) => {
  let authority: string | undefined;
  const srv = await serve(t, (stream, headers) => {
    authority = headers[":authority"];
    answer(stream, frame(text("ok")));
  });
  const ch = new H2UnaryChannel({
    target: srv.target,
    authority: "triton.ml.svc:8001",
    maxMessageBytes: 1024,
    userAgent: "relevance-gateway/test",
  });
  t.teardown(() => ch.close());
  t.same(await call(ch, "x"), { err: null, res: "ok" });
  t.equal(authority, "triton.ml.svc:8001");
});

t.test("a non-gRPC HTTP answer maps by HTTP status", async (t) => {
  const srv = await serve(t, (stream) => {
    stream.respond({ ":status": 503, "content-type": "text/html" });
    stream.end("<h1>Service Unavailable</h1>");
  });
  const { err } = await call(channel(t, srv.target), "x");
  t.match(err, { code: status.UNAVAILABLE, details: "Received HTTP status code 503" });
});

t.test("size limits: a request or an answer above maxMessageBytes is RESOURCE_EXHAUSTED", async (t) => {
  const srv = await serve(t, (stream, _h, body) => {
    if (body.length > 0) answer(stream, frame(Buffer.alloc(2000, 1)));
  });
  const ch = channel(t, srv.target, 1024);
  const big = await call(ch, "y".repeat(1025));
  t.match(big.err, {
    code: status.RESOURCE_EXHAUSTED,
    details: "Sent message larger than max (1025 vs. 1024)",
  });
  t.equal(srv.sessions(), 0, "refused before connecting");
  const answerTooBig = await call(ch, "small");
  t.match(answerTooBig.err, {
    code: status.RESOURCE_EXHAUSTED,
    details: "Received message larger than max (2000 vs. 1024)",
  });
});

t.test("undecodable answers are INTERNAL 'Response message parsing error'", async (t) => {
  const cases: Record<string, Buffer> = {
    "no message": Buffer.alloc(0),
    "a truncated prefix": Buffer.from([0, 0, 0]),
    "a truncated message": frame(text("abcdef")).subarray(0, 8),
    "two messages": Buffer.concat([frame(text("a")), frame(text("b"))]),
    "a compressed message": frame(text("zz"), 1),
  };
  const srv = await serve(t, (stream, _h, body) =>
    answer(stream, cases[body.subarray(5).toString()] ?? frame(text("a well-formed message"))),
  );
  const ch = channel(t, srv.target);
  const expected: Record<string, RegExp> = {
    "no message": /no message received/,
    "a truncated prefix": /truncated frame/,
    "a truncated message": /truncated message/,
    "two messages": /more than one message/,
    "a compressed message": /compressed message/,
  };
  for (const name of Object.keys(cases)) {
    const { err } = await call(ch, name);
    t.equal(err?.code, status.INTERNAL, name);
    t.match(err?.details, /^Response message parsing error: /, name);
    t.match(err?.details, expected[name]!, name);
  }
  const throwing = await new Promise<UnaryCallError | null>((resolve) =>
    ch.call(
      "/pkg.Svc/Method",
      text,
      () => {
        throw new RangeError("index out of range: 9 + 10 > 12");
      },
      "x",
      undefined,
      5_000,
      (err) => resolve(err),
    ),
  );
  t.match(throwing, {
    code: status.INTERNAL,
    details: "Response message parsing error: index out of range: 9 + 10 > 12",
  });
});

t.test("a refused stream is UNAVAILABLE; a stream ended without status is INTERNAL", async (t) => {
  const srv = await serve(t, (stream, _h, body) => {
    if (body.subarray(5).toString() === "refuse") stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.end(frame(text("no trailers")));
    }
  });
  const ch = channel(t, srv.target);
  t.match((await call(ch, "refuse")).err, { code: status.UNAVAILABLE, details: "Stream refused by server" });
  t.match((await call(ch, "end")).err, { code: status.INTERNAL, details: /without gRPC status/ });
});

t.test("a dropped connection is UNAVAILABLE, and the next call reconnects", async (t) => {
  const srv = await serve(t, (stream, _h, body) => {
    if (body.subarray(5).toString() === "drop") stream.session?.destroy();
    else answer(stream, frame(text("ok")));
  });
  const ch = channel(t, srv.target);
  const dropped = await call(ch, "drop");
  t.match(dropped.err, { code: status.UNAVAILABLE, details: /^Connection dropped/ });
  const next = await call(ch, "fine");
  t.same(next, { err: null, res: "ok" });
  t.equal(srv.sessions(), 2, "a new connection");
});

t.test("after GOAWAY, calls in flight finish and new calls use a new connection", async (t) => {
  const held: http2.ServerHttp2Stream[] = [];
  const srv = await serve(t, (stream, _h, body) => {
    if (body.subarray(5).toString() === "hold") {
      held.push(stream);
      stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id ?? 1);
      return;
    }
    answer(stream, frame(text("ok")));
  });
  const ch = channel(t, srv.target);
  const inFlight = call(ch, "hold");
  while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20)); // let the GOAWAY reach the client
  const fresh = await call(ch, "new");
  t.same(fresh, { err: null, res: "ok" });
  t.equal(srv.sessions(), 2, "the new call went on a new connection");
  answer(held[0]!, frame(text("finished")));
  t.same(await inFlight, { err: null, res: "finished" }, "the held call finished on the old one");
});

t.test(
  "the timeout ends a call that gets no answer with DEADLINE_EXCEEDED and resets its stream",
  async (t) => {
    const reset = new Promise<number>((resolve) => {
      void serve(t, (stream) => stream.on("close", () => resolve(stream.rstCode))).then((srv) => {
        void call(channel(t, srv.target), "hang", { timeoutMs: 50 }).then(({ err }) => {
          t.match(err, { code: status.DEADLINE_EXCEEDED });
        });
      });
    });
    t.equal(await reset, http2.constants.NGHTTP2_CANCEL, "the server saw RST_STREAM CANCEL");
  },
);

t.test("cancel() answers CANCELLED at once and resets the stream", async (t) => {
  let closed: Promise<number> | undefined;
  let arrived: () => void = () => {};
  const arrival = new Promise<void>((r) => {
    arrived = r;
  });
  const srv = await serve(t, (stream) => {
    closed = new Promise((r) => stream.on("close", () => r(stream.rstCode)));
    arrived();
  });
  const ch = channel(t, srv.target);
  const results: (UnaryCallError | null)[] = [];
  const handle = ch.call("/pkg.Svc/Method", text, identity, "x", undefined, 5_000, (err) =>
    results.push(err),
  );
  await arrival;
  handle.cancel();
  handle.cancel();
  t.equal(results.length, 1, "the callback ran once");
  t.match(results[0], { code: status.CANCELLED });
  t.equal(await closed, http2.constants.NGHTTP2_CANCEL);
});

t.test("connect failures fail fast during the backoff instead of dialling again", async (t) => {
  const srv = await serve(t, () => {});
  const { target } = srv;
  await new Promise((r) => srv.server.close(r));
  const ch = channel(t, target);
  const first = await call(ch, "x");
  t.match(first.err, { code: status.UNAVAILABLE, details: /ECONNREFUSED/ });
  const second = await call(ch, "x");
  t.match(second.err, {
    code: status.UNAVAILABLE,
    details: /^No connection established\. Last error: .*ECONNREFUSED/,
  });
});

t.test("close(): calls in flight finish, new calls are refused", async (t) => {
  let release: () => void = () => {};
  const srv = await serve(t, (stream) => {
    release = () => answer(stream, frame(text("late")));
  });
  const ch = channel(t, srv.target);
  const inFlight = call(ch, "x");
  while (srv.sessions() === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
  ch.close();
  t.match((await call(ch, "y")).err, { code: status.UNAVAILABLE, details: "Channel closed" });
  release();
  t.same(await inFlight, { err: null, res: "late" });
});

t.test("every callback runs asynchronously, even for errors found before sending", async (t) => {
  const ch = channel(t, "127.0.0.1:1", 4);
  let ran = false;
  ch.call("/p", text, identity, "too long", undefined, 1_000, () => {
    ran = true;
  });
  t.equal(ran, false, "not during call()");
  await new Promise((r) => setImmediate(r));
  t.equal(ran, true);
});
