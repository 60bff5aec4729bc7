import t from "tap";
import { PropagatedContext } from "../../src/tracing/request-trace.js";
import { acceptTraceHeaders, MAX_TRACESTATE_LENGTH } from "../../src/tracing/trace-headers.js";
import { createTracing, disabledTracing } from "../../src/tracing/tracing.js";
import { KIND, startOtlpReceiver } from "./otlp-receiver.js";
import { clientSpan, env, parseTraceparent, tracingOptions } from "./trace-helpers.js";

const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

t.test("acceptTraceHeaders keeps a valid context exactly as sent", async (t) => {
  t.same(acceptTraceHeaders(VALID, undefined), { traceparent: VALID, tracestate: undefined });
  t.same(acceptTraceHeaders(VALID, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"), {
    traceparent: VALID,
    tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
  });
  // A later version may append fields; its first four are read as version 00's.
  const future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
  t.same(acceptTraceHeaders(future, undefined), { traceparent: future, tracestate: undefined });
});

t.test("acceptTraceHeaders refuses what W3C calls invalid", async (t) => {
  const invalid: [string, string][] = [
    ["empty", ""],
    ["garbage", "not a traceparent"],
    ["upper-case hex", VALID.toUpperCase()],
    ["version ff", `ff${VALID.slice(2)}`],
    ["all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["all-zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["version 00 with extra fields", `${VALID}-extra`],
    ["short trace id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"],
    ["missing flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"],
  ];
  for (const [what, traceparent] of invalid) {
    t.equal(acceptTraceHeaders(traceparent, "a=b"), undefined, what);
  }
});

t.test("an unusable tracestate is dropped, the traceparent kept", async (t) => {
  const long = `a=${"x".repeat(MAX_TRACESTATE_LENGTH)}`;
  t.same(acceptTraceHeaders(VALID, long), { traceparent: VALID, tracestate: undefined }, "too long");
  t.same(
    acceptTraceHeaders(VALID, "a=b\u0007"),
    { traceparent: VALID, tracestate: undefined },
    "control char",
  );
});

t.test("tracing off: the client's context is passed on unchanged, or nothing", async (t) => {
  t.equal(disabledTracing.enabled, false);
  t.equal(disabledTracing.startRequest(undefined), undefined, "no context, no handle");
  const incoming = { traceparent: VALID, tracestate: "k=v" };
  const trace = disabledTracing.startRequest(incoming);
  t.ok(trace instanceof PropagatedContext);
  t.equal(trace?.recording, false);
  const call = trace?.startBatch("student", 3, "delay").startCall("ep", 0, 3);
  t.equal(call?.headers, incoming, "the very headers received");
  t.equal(
    createTracing(tracingOptions({ enabled: false }), env()),
    disabledTracing,
    "off is the shared no-op",
  );
});

t.test("tracing on: extraction and injection through the SDK", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const tracing = createTracing(tracingOptions({ otlpEndpoint: receiver.url }), env());
  const before = tracing.startRequest({ traceparent: VALID });
  t.ok(before instanceof PropagatedContext, "before start(), requests are treated as with tracing off");
  await tracing.start();

  const end = { requestId: "r", documents: 1, route: "bulk", backend: "student", code: 0 };
  const callOf = (trace: ReturnType<typeof tracing.startRequest>) => {
    const batch = trace!.startBatch("student", 1, "delay");
    batch.addRequest(trace);
    const call = batch.startCall("127.0.0.1:8001", 0, 1);
    call.end(undefined);
    batch.end(undefined);
    trace!.end(end);
    return call.headers;
  };

  // A valid, sampled context: the request joins the client's trace.
  const client = clientSpan();
  const joined = tracing.startRequest({ traceparent: client.traceparent, tracestate: "vendor=abc" });
  t.equal(joined?.recording, true);
  const sent = callOf(joined);
  const tp = parseTraceparent(sent.traceparent);
  t.equal(tp.traceId, client.traceId, "the model server gets the client's trace id");
  t.not(tp.spanId, client.spanId, "…with the gateway's call span as parent");
  t.equal(tp.flags, "01", "sampled");
  t.equal(sent.tracestate, "vendor=abc", "tracestate carried on");

  // No context, or an invalid one: a new trace, rooted at the gateway.
  const rootA = parseTraceparent(callOf(tracing.startRequest(undefined)).traceparent);
  const invalid = "00-zz-not-valid";
  const rootB = parseTraceparent(
    callOf(tracing.startRequest({ traceparent: invalid, tracestate: "x=y" })).traceparent,
  );
  t.not(rootA.traceId, rootB.traceId, "two new traces");

  // An unsampled client context is followed: nothing recorded, the decision passed on.
  const unsampled = clientSpan(false);
  const quiet = tracing.startRequest({ traceparent: unsampled.traceparent });
  t.equal(quiet?.recording, false);
  const quietTp = parseTraceparent(callOf(quiet).traceparent);
  t.equal(quietTp.traceId, unsampled.traceId);
  t.equal(quietTp.flags, "00", "not sampled downstream either");

  await tracing.shutdown();
  await receiver.waitFor((spans) => spans.some((s) => s.traceId === rootB.traceId && s.name === "batch"));
  const score = receiver.spans.find((s) => s.traceId === client.traceId && s.kind === KIND.server);
  t.equal(score?.parentSpanId, client.spanId, "the Score span's parent is the client's span");
  const call = receiver.spans.find((s) => s.traceId === client.traceId && s.kind === KIND.client);
  t.equal(call?.spanId, tp.spanId, "the traceparent sent names the backend-call span");
  for (const id of [rootA.traceId, rootB.traceId]) {
    const root = receiver.spans.find((s) => s.traceId === id && s.kind === KIND.server);
    t.equal(root?.parentSpanId, "", "a new trace starts at the Score span");
  }
  t.notOk(
    receiver.spans.some((s) => s.traceId === unsampled.traceId),
    "nothing exported for an unsampled trace",
  );
  t.equal(receiver.spans.find((s) => s.kind === KIND.server)?.serviceName, "relevance-gateway-test");
});

t.test("sampleRatio applies to new traces only", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const tracing = createTracing(tracingOptions({ otlpEndpoint: receiver.url, sampleRatio: 0 }), env());
  await tracing.start();
  t.teardown(() => tracing.shutdown());
  const fresh = tracing.startRequest(undefined);
  t.equal(fresh?.recording, false, "a new trace at ratio 0 is not recorded");
  const headers = fresh!.startBatch("student", 1, "delay").startCall("ep", 0, 1).headers;
  t.equal(parseTraceparent(headers.traceparent).flags, "00", "…but its context still goes to the backend");
  t.equal(
    tracing.startRequest({ traceparent: clientSpan().traceparent })?.recording,
    true,
    "a sampled parent wins",
  );
});

t.test("a request answered while queued ends its queue wait with the reason", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const tracing = createTracing(tracingOptions({ otlpEndpoint: receiver.url }), env());
  await tracing.start();
  const expired = clientSpan();
  const trace = tracing.startRequest({ traceparent: expired.traceparent });
  trace?.queueEntered("student", 4);
  const outcome = { requestId: "late", documents: 4, route: "bulk", backend: "student" };
  trace?.end({ ...outcome, code: 4, reason: "DEADLINE_EXCEEDED" });
  const invalid = clientSpan();
  tracing
    .startRequest({ traceparent: invalid.traceparent })
    ?.end({ ...outcome, code: 3, reason: "INVALID_REQUEST" });
  await tracing.shutdown();

  const spans = receiver.spans.filter((s) => s.traceId === expired.traceId);
  const queue = spans.find((s) => s.name === "queue wait");
  t.match(queue?.attributes, { "relevance.outcome": "DEADLINE_EXCEEDED", "relevance.items": 4 });
  const score = spans.find((s) => s.kind === KIND.server);
  t.equal(score?.statusCode, 2, "DEADLINE_EXCEEDED is the gateway's failure: span status error");
  t.match(score?.attributes, { "rpc.grpc.status_code": 4, "relevance.error.reason": "DEADLINE_EXCEEDED" });
  const bad = receiver.spans.find((s) => s.traceId === invalid.traceId);
  t.equal(bad?.statusCode, 0, "INVALID_ARGUMENT is the client's: status left unset");
  t.match(bad?.attributes, { "rpc.grpc.status_code": 3 });
});
