/**
 * The gRPC port under malformed traffic, sent with node:http2 (and raw TCP)
 * rather than a gRPC library, so that nothing on the client side tidies the
 * input: bad length prefixes, truncated and extra messages, compression
 * flags, garbage protobuf, wrong content types, a missing `te`, oversized
 * messages (40 MB, and a declared 4 GB), huge headers, and broken HTTP/2.
 *
 * Each gets the status observed here, which is also what docs/security-testing.md
 * lists; after each, a normal Score on a new connection still succeeds.
 */

import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { encodeScoreRequest } from "../../src/codec/index.js";
import { doc, ScoreClient } from "../helpers/grpc-client.js";
import { type Stack, useGateway } from "../helpers/use-gateway.js";

const SCORE_PATH = "/relevance.v1.RelevanceService/Score";
const MiB = 1024 * 1024;
const { NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

const VALID = encodeScoreRequest({
  requestId: "",
  query: { text: "sofa", locale: "" },
  documents: [doc("a")],
  routingKey: "",
  experiment: "",
  priority: 0,
  modelPreference: 0,
});

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length (default: the payload's), payload. */
function frame(payload: Buffer, opts: { compressed?: number; length?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header[0] = opts.compressed ?? 0;
  header.writeUInt32BE((opts.length ?? payload.length) >>> 0, 1);
  return Buffer.concat([header, payload]);
}

interface Outcome {
  readonly httpStatus: number | undefined;
  /** From the trailers, or from the headers of a trailers-only answer. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly rstCode: number | undefined;
}

/**
 * One HTTP/2 request on its own connection. The body is written in 64 KiB
 * chunks, respecting flow control; `polite` stops writing (and cancels the
 * stream) once the server has answered, as a gRPC client does.
 */
function rawCall(
  target: string,
  body: readonly Buffer[],
  opts: { headers?: http2.OutgoingHttpHeaders; polite?: boolean } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://${target}`);
    session.on("error", () => {});
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": SCORE_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      ...opts.headers,
    };
    for (const [k, v] of Object.entries(headers)) if (v === undefined) delete headers[k];
    const req = session.request(headers);
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let grpcMessage = "";
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        grpcStatus = Number(h["grpc-status"]);
        grpcMessage = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    };
    let answered = false;
    const onAnswer = new Promise<void>((r) => {
      req.once("response", () => r());
      req.once("close", () => r());
    });
    void onAnswer.then(() => {
      answered = true;
    });
    req.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      readStatus(h);
    });
    req.on("trailers", readStatus);
    req.on("data", () => {});
    req.on("error", () => {});
    req.on("close", () => {
      session.close();
      resolve({ httpStatus, grpcStatus, grpcMessage, rstCode: req.rstCode });
    });
    void (async () => {
      for (const b of body) {
        for (let off = 0; off < b.length; off += 64 * 1024) {
          if (req.destroyed || req.closed) return;
          if (opts.polite && answered) {
            req.close(http2.constants.NGHTTP2_CANCEL);
            return;
          }
          if (!req.write(b.subarray(off, off + 64 * 1024))) {
            await Promise.race([new Promise((r) => req.once("drain", r)), onAnswer]);
          }
        }
      }
      if (!req.destroyed && !req.closed) req.end();
    })();
  });
}

/** A normal Score on a new connection succeeds: the process survived and still serves. */
async function stillServes(t: Test, stack: Stack, after: string): Promise<void> {
  const client = new ScoreClient(stack.target);
  const out = await client.score({ query: { text: "sofa", locale: "" }, documents: [doc("a")] });
  client.close();
  t.ok(out.ok, `after ${after}: a normal Score on a new connection succeeds`);
}

type Expected =
  | { grpc: grpc.status; message: RegExp }
  | { http: number }
  | { rst: number }
  | { oneOf: readonly ({ grpc: grpc.status } | { rst: number })[] };

interface Case {
  readonly name: string;
  readonly body: readonly Buffer[];
  readonly headers?: http2.OutgoingHttpHeaders;
  readonly polite?: boolean;
  readonly expected: Expected;
}

const FORTY_MB = Buffer.alloc(40 * MiB, 0x61);

const CASES: readonly Case[] = [
  { name: "a valid call", body: [frame(VALID)], expected: { grpc: grpc.status.OK, message: /^(OK)?$/ } },
  {
    name: "garbage protobuf",
    body: [frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]))],
    expected: {
      grpc: grpc.status.INVALID_ARGUMENT,
      message: /^request: not a valid relevance\.v1\.ScoreRequest/,
    },
  },
  {
    name: "a length prefix shorter than the message (the protobuf is cut)",
    body: [frame(VALID, { length: VALID.length - 3 })],
    expected: {
      grpc: grpc.status.INVALID_ARGUMENT,
      message: /^request: not a valid .*exceeds the remaining input/,
    },
  },
  {
    name: "a length prefix longer than what is sent (truncated message)",
    body: [frame(VALID, { length: VALID.length + 100 })],
    expected: { grpc: grpc.status.UNIMPLEMENTED, message: /Received no request message/ },
  },
  {
    name: "a cut length prefix (3 of 5 bytes)",
    body: [Buffer.from([0, 0, 0])],
    expected: { grpc: grpc.status.UNIMPLEMENTED, message: /Received no request message/ },
  },
  {
    name: "no message at all",
    body: [],
    expected: { grpc: grpc.status.UNIMPLEMENTED, message: /Received no request message/ },
  },
  {
    name: "two messages in a unary call",
    body: [frame(VALID), frame(VALID)],
    expected: { grpc: grpc.status.UNIMPLEMENTED, message: /Received a second request message/ },
  },
  {
    // grpc-js reads the flag under the identity encoding as "not compressed".
    name: "the compressed flag without grpc-encoding",
    body: [frame(VALID, { compressed: 1 })],
    expected: { grpc: grpc.status.OK, message: /^(OK)?$/ },
  },
  {
    name: "the compressed flag, grpc-encoding gzip, bytes that are not gzip",
    headers: { "grpc-encoding": "gzip" },
    body: [frame(VALID, { compressed: 1 })],
    expected: { grpc: grpc.status.INTERNAL, message: /Failed to decompress message/ },
  },
  {
    name: "an unsupported grpc-encoding",
    headers: { "grpc-encoding": "snappy" },
    body: [frame(VALID, { compressed: 1 })],
    expected: { grpc: grpc.status.UNIMPLEMENTED, message: /unsupported encoding "snappy"/ },
  },
  {
    name: "content-type text/plain",
    headers: { "content-type": "text/plain" },
    body: [frame(VALID)],
    expected: { http: 415 },
  },
  {
    name: "content-type application/json",
    headers: { "content-type": "application/json" },
    body: [Buffer.from("{}")],
    expected: { http: 415 },
  },
  {
    name: "no content-type",
    headers: { "content-type": undefined },
    body: [frame(VALID)],
    expected: { http: 415 },
  },
  // grpc-js does not require `te: trailers`; the call is served.
  {
    name: "no te header",
    headers: { te: undefined },
    body: [frame(VALID)],
    expected: { grpc: grpc.status.OK, message: /^(OK)?$/ },
  },
  {
    name: "an unknown method",
    headers: { ":path": "/relevance.v1.RelevanceService/Drop" },
    body: [frame(VALID)],
    expected: { grpc: grpc.status.UNIMPLEMENTED, message: /does not implement the method/ },
  },
  {
    name: "a bad grpc-timeout",
    headers: { "grpc-timeout": "soon" },
    body: [frame(VALID)],
    expected: { grpc: grpc.status.INTERNAL, message: /Invalid grpc-timeout value/ },
  },
  {
    name: "a 100 KB header",
    headers: { "x-padding": "a".repeat(100_000) },
    body: [frame(VALID)],
    expected: { rst: NGHTTP2_REFUSED_STREAM },
  },
  {
    name: "a declared length of 4 GiB",
    body: [frame(Buffer.alloc(16), { length: 0xffffffff })],
    expected: { grpc: grpc.status.RESOURCE_EXHAUSTED, message: /larger than max \(4294967295 vs 16777216\)/ },
  },
  {
    name: "a 40 MB message, writing stopped at the answer",
    body: [frame(FORTY_MB)],
    polite: true,
    expected: { grpc: grpc.status.RESOURCE_EXHAUSTED, message: /larger than max \(41943040 vs 16777216\)/ },
  },
  {
    // The server answers after the first bytes; the rest of the 40 MB then arrives on a closed
    // stream, and Node's HTTP/2 server resets the stream rather than reading it all.
    name: "a 40 MB message, written in full regardless",
    body: [frame(FORTY_MB)],
    expected: { oneOf: [{ grpc: grpc.status.RESOURCE_EXHAUSTED }, { rst: NGHTTP2_ENHANCE_YOUR_CALM }] },
  },
];

function check(t: Test, c: Case, out: Outcome): void {
  const e = c.expected;
  const seen = `HTTP ${out.httpStatus} grpc-status ${out.grpcStatus} rst ${out.rstCode} ${out.grpcMessage}`;
  if ("grpc" in e) {
    t.equal(out.httpStatus, 200, `${c.name}: HTTP 200 (${seen})`);
    t.equal(out.grpcStatus, e.grpc, `${c.name}: ${grpc.status[e.grpc]}`);
    t.match(out.grpcMessage, e.message, `${c.name}: message`);
  } else if ("http" in e) {
    t.equal(out.httpStatus, e.http, `${c.name}: HTTP ${e.http} (${seen})`);
    t.equal(out.grpcStatus, undefined, `${c.name}: no gRPC status`);
  } else if ("rst" in e) {
    t.equal(out.rstCode, e.rst, `${c.name}: stream reset with code ${e.rst} (${seen})`);
  } else {
    const matches = e.oneOf.some((o) =>
      "grpc" in o ? out.grpcStatus === o.grpc : out.grpcStatus === undefined && out.rstCode === o.rst,
    );
    t.ok(matches, `${c.name}: one of ${JSON.stringify(e.oneOf)} (${seen})`);
  }
}

t.test("malformed gRPC over raw HTTP/2: a clean status each, and the gateway lives", async (t) => {
  const stack = await useGateway(t);
  for (const c of CASES) {
    const out = await rawCall(stack.target, c.body, {
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.polite ? { polite: true } : {}),
    });
    check(t, c, out);
    await stillServes(t, stack, c.name);
  }
});

t.test("a grpc-js client sending 40 MB gets RESOURCE_EXHAUSTED", async (t) => {
  const stack = await useGateway(t);
  const out = await stack.client.score({
    query: { text: "sofa", locale: "" },
    documents: [doc("a", { description: "x".repeat(40 * MiB) })],
  });
  t.equal(out.ok ? "OK" : grpc.status[out.code], "RESOURCE_EXHAUSTED");
  if (!out.ok) t.match(out.details, /Received message larger than max \(\d+ vs 16777216\)/);
  await stillServes(t, stack, "40 MB from grpc-js");
});

t.test("server.grpc.maxReceiveMessageBytes is the limit enforced", async (t) => {
  const stack = await useGateway(t, {
    config: { server: { grpc: { host: "127.0.0.1", port: 0, maxReceiveMessageBytes: 64 * 1024 } } },
  });
  const request = (bytes: number) =>
    stack.client.score({
      query: { text: "sofa", locale: "" },
      documents: [doc("a", { description: "x".repeat(bytes) })],
    });
  const under = await request(60 * 1024);
  t.ok(under.ok, "a 60 KiB request is served");
  const over = await request(70 * 1024);
  t.equal(over.ok ? "OK" : grpc.status[over.code], "RESOURCE_EXHAUSTED", "a 70 KiB request is refused");
  if (!over.ok) t.match(over.details, /larger than max \(\d+ vs 65536\)/);
});

/** HTTP/2 frames in `bytes`: type and payload of each complete frame. */
function frames(bytes: Buffer): { type: number; payload: Buffer }[] {
  const out: { type: number; payload: Buffer }[] = [];
  for (let at = 0; at + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    out.push({ type: bytes[at + 3]!, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return out;
}

const GOAWAY = 0x7;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);

/** Sends `bytes` on a new TCP connection; resolves with the GOAWAY error code the server sends, if any. */
function sendRaw(port: number, bytes: Buffer): Promise<{ goAwayCode: number | undefined; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const goAway = frames(Buffer.concat(chunks)).find((f) => f.type === GOAWAY);
      resolve({ goAwayCode: goAway?.payload.readUInt32BE(4), closed });
    };
    // Node sends GOAWAY but may keep the socket open: stop waiting once it is in.
    const timer = setTimeout(() => finish(false), 5000);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (frames(Buffer.concat(chunks)).some((f) => f.type === GOAWAY)) finish(false);
    });
    socket.on("error", () => {});
    socket.on("close", () => finish(true));
  });
}

t.test("broken HTTP/2 on the gRPC port ends in GOAWAY, and the gateway lives", async (t) => {
  const stack = await useGateway(t);
  const port = Number(stack.target.split(":")[1]);
  const cases: { name: string; bytes: Buffer; code?: number }[] = [
    { name: "an HTTP/1.1 request", bytes: Buffer.from("GET / HTTP/1.1\r\nhost: gateway\r\n\r\n") },
    { name: "bytes that are not HTTP at all", bytes: Buffer.from("\u0000\u00ff garbage garbage garbage") },
    {
      // RFC 9113 §6.5: a SETTINGS length that is not a multiple of 6 is a FRAME_SIZE_ERROR (6).
      name: "a SETTINGS frame of 5 bytes",
      bytes: Buffer.concat([PREFACE, Buffer.from([0, 0, 5, 0x4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])]),
      code: 6,
    },
    {
      // RFC 9113 §6.1: DATA on stream 0 is a PROTOCOL_ERROR (1).
      name: "a DATA frame on stream 0",
      bytes: Buffer.concat([PREFACE, EMPTY_SETTINGS, Buffer.from([0, 0, 3, 0x0, 0, 0, 0, 0, 0, 1, 2, 3])]),
      code: 1,
    },
  ];
  for (const c of cases) {
    const out = await sendRaw(port, c.bytes);
    t.ok(
      out.goAwayCode !== undefined && out.goAwayCode !== 0,
      `${c.name}: GOAWAY with error ${out.goAwayCode}`,
    );
    if (c.code !== undefined) t.equal(out.goAwayCode, c.code, `${c.name}: error code ${c.code}`);
    await stillServes(t, stack, c.name);
  }
});
