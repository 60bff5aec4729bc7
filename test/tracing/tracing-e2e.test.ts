import { pino } from "pino";
import t, { type Test } from "tap";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { KIND, type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./otlp-receiver.js";
import { clientSpan, parseTraceparent, scoreWithMetadata } from "./trace-helpers.js";

const SCORE = "relevance.v1.RelevanceService/Score";
const docs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => doc(`${prefix}${i}`));

function tracingConfig(receiver: OtlpReceiver) {
  return { enabled: true, otlpEndpoint: receiver.url, exportIntervalMs: 20 };
}

const inTrace = (spans: readonly ReceivedSpan[], traceId: string) =>
  spans.filter((s) => s.traceId === traceId);
const named = (spans: readonly ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

/** The one span of `spans` named `name`, failing the test when there is not exactly one. */
function one(t: Test, spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const found = named(spans, name);
  t.equal(found.length, 1, `one ${name} span`);
  return found[0]!;
}

t.test("a Score request is followed from the client's span to Triton", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const { client, sim } = await useGateway(t, { config: { tracing: tracingConfig(receiver) } });
  const caller = clientSpan();
  const out = await scoreWithMetadata(
    client.client,
    { requestId: "traced-1", documents: docs("d", 3) },
    { traceparent: caller.traceparent, tracestate: "vendor=1" },
  );
  t.ok(out.ok, "answered");
  await receiver.waitFor((spans) => inTrace(spans, caller.traceId).length >= 4);
  const spans = inTrace(receiver.spans, caller.traceId);

  const score = one(t, spans, SCORE);
  t.equal(score.kind, KIND.server);
  t.equal(score.parentSpanId, caller.spanId, "the Score span is a child of the client's span");
  t.equal(score.serviceName, "relevance-gateway");
  t.match(score.attributes, {
    "relevance.request_id": "traced-1",
    "relevance.documents": 3,
    "relevance.route": "bulk",
    "relevance.backend": "student",
    "rpc.grpc.status_code": 0,
  });
  t.equal(score.traceState, "vendor=1", "the client's tracestate is kept");

  const queue = one(t, spans, "queue wait");
  t.equal(queue.parentSpanId, score.spanId);
  t.match(queue.attributes, { "relevance.backend": "student", "relevance.items": 3 });

  const batch = one(t, spans, "batch");
  t.equal(batch.parentSpanId, score.spanId);
  t.match(batch.attributes, {
    "relevance.batch.size": 3,
    "relevance.batch.requests": 1,
    "relevance.outcome": "ok",
  });

  const call = one(t, spans, "backend call");
  t.equal(call.kind, KIND.client);
  t.equal(call.parentSpanId, batch.spanId);
  t.match(call.attributes, {
    "relevance.backend": "student",
    "relevance.endpoint": sim.address,
    "relevance.batch.size": 3,
    "relevance.batch.trigger": "delay",
    "relevance.batch.attempt": 0,
    "relevance.outcome": "ok",
  });

  const received = sim.receivedTraces().map((r) => ({ ...r, ...parseTraceparent(r.traceparent) }));
  const atTriton = received.filter((r) => r.traceId === caller.traceId);
  t.equal(atTriton.length, 1, "Triton received the client's trace id");
  t.equal(atTriton[0]?.spanId, call.spanId, "…with the backend-call span as parent");
  t.equal(atTriton[0]?.flags, "01");
  t.equal(atTriton[0]?.tracestate, "vendor=1");
});

t.test("two requests in one batch: the batch joins one trace and links the other", async (t) => {
  const receiver = await startOtlpReceiver(t);
  // 3 + 3 items fill a batch of 6 long before the delay runs out.
  const { client, sim } = await useGateway(t, {
    batching: { maxBatchSize: 6, maxQueueDelayMs: 2000 },
    config: { tracing: tracingConfig(receiver) },
  });
  const a = clientSpan();
  const b = clientSpan();
  const [outA, outB] = await Promise.all([
    scoreWithMetadata(
      client.client,
      { requestId: "a", documents: docs("a", 3) },
      { traceparent: a.traceparent },
    ),
    scoreWithMetadata(
      client.client,
      { requestId: "b", documents: docs("b", 3) },
      { traceparent: b.traceparent },
    ),
  ]);
  t.ok(outA.ok && outB.ok, "both answered");
  await receiver.waitFor(
    (spans) =>
      named(spans, SCORE).length >= 2 &&
      named(spans, "batch").length >= 1 &&
      named(spans, "queue wait").length >= 2,
  );
  const batch = one(t, receiver.spans, "batch");
  t.match(batch.attributes, {
    "relevance.batch.size": 6,
    "relevance.batch.trigger": "full",
    "relevance.batch.requests": 2,
  });
  const [lead, other] = batch.traceId === a.traceId ? [a, b] : [b, a];
  t.equal(batch.traceId, lead.traceId, "the batch is in one of the two traces");
  const leadScore = one(t, inTrace(receiver.spans, lead.traceId), SCORE);
  const otherScore = one(t, inTrace(receiver.spans, other.traceId), SCORE);
  t.equal(batch.parentSpanId, leadScore.spanId, "…under that request's Score span");
  t.same(batch.links, [{ traceId: other.traceId, spanId: otherScore.spanId }], "linked to the other request");
  t.same(
    otherScore.links,
    [{ traceId: batch.traceId, spanId: batch.spanId }],
    "…which links back to the batch",
  );
  for (const c of [a, b]) {
    t.equal(named(inTrace(receiver.spans, c.traceId), "queue wait").length, 1, "each request's queue wait");
  }
  const call = one(t, receiver.spans, "backend call");
  t.equal(call.parentSpanId, batch.spanId);
  const sent = sim.receivedTraces().map((r) => parseTraceparent(r.traceparent));
  t.same(
    sent,
    [{ version: "00", traceId: batch.traceId, spanId: call.spanId, flags: "01" }],
    "one call, one context",
  );
});

t.test("the teacher (vLLM) gets the backend-call span as traceparent header", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const { client, teacherSim } = await useGateway(t, {
    teacher: {},
    config: {
      routing: { default: "student", experiments: [{ name: "teacher-eval", backend: "teacher" }] },
      tracing: tracingConfig(receiver),
    },
  });
  const caller = clientSpan();
  const out = await scoreWithMetadata(
    client.client,
    { documents: docs("t", 2), experiment: "teacher-eval" },
    { traceparent: caller.traceparent },
  );
  t.ok(out.ok && out.response.model?.backend === "teacher", "answered by the teacher");
  await receiver.waitFor((spans) => inTrace(spans, caller.traceId).length >= 4);
  const spans = inTrace(receiver.spans, caller.traceId);
  const score = one(t, spans, SCORE);
  t.match(score.attributes, { "relevance.route": "experiment:teacher-eval", "relevance.backend": "teacher" });
  const call = one(t, spans, "backend call");
  t.match(call.attributes, { "relevance.backend": "teacher", "relevance.endpoint": teacherSim!.url });
  const atVllm = teacherSim!
    .receivedTraces()
    .map((r) => parseTraceparent(r.traceparent))
    .filter((r) => r.traceId === caller.traceId);
  t.equal(atVllm.length, 1, "vLLM received the client's trace id");
  t.equal(atVllm[0]?.spanId, call.spanId, "…with the backend-call span as parent");
});

t.test("a retried batch: one backend-call span per attempt, each sent on", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const { client, sims } = await useGateway(t, {
    students: 2,
    batching: { maxConcurrentBatches: 1 },
    student: { outlierDetection: { consecutiveFailures: 1000 } },
    config: { tracing: tracingConfig(receiver) },
  });
  const [bad, good] = [sims[0]!, sims[1]!];
  bad.setFaults({ errorRate: 1 });
  let retried: ReceivedSpan | undefined;
  for (let i = 0; i < 10 && retried === undefined; i++) {
    const out = await scoreWithMetadata(
      client.client,
      { documents: docs(`r${i}`, 2) },
      { traceparent: clientSpan().traceparent },
    );
    t.ok(out.ok, `request ${i} answered (retried on the good endpoint if need be)`);
    await receiver.waitFor((spans) => named(spans, SCORE).length > i);
    retried = named(receiver.spans, "batch").find(
      (b) => receiver.spans.filter((s) => s.parentSpanId === b.spanId).length === 2,
    );
  }
  if (!retried) {
    t.fail("no batch was retried");
    return;
  }
  const calls = receiver.spans
    .filter((s) => s.parentSpanId === retried.spanId)
    .sort(
      (x, y) =>
        Number(x.attributes["relevance.batch.attempt"]) - Number(y.attributes["relevance.batch.attempt"]),
    );
  t.match(calls[0]?.attributes, {
    "relevance.batch.attempt": 0,
    "relevance.endpoint": bad.address,
    "relevance.outcome": "BACKEND_UNAVAILABLE",
  });
  t.equal(calls[0]?.statusCode, 2, "the failed attempt is an error");
  t.match(calls[1]?.attributes, {
    "relevance.batch.attempt": 1,
    "relevance.endpoint": good.address,
    "relevance.outcome": "ok",
  });
  t.match(retried.attributes, { "relevance.outcome": "ok" }, "the batch succeeded");
  t.ok(
    bad.receivedTraces().some((r) => parseTraceparent(r.traceparent).spanId === calls[0]?.spanId),
    "the failing endpoint got attempt 0's context",
  );
  t.ok(
    good.receivedTraces().some((r) => parseTraceparent(r.traceparent).spanId === calls[1]?.spanId),
    "the retry's endpoint got attempt 1's context",
  );
});

t.test("spans still queued at shutdown are exported before the gateway stops", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const { client, gateway } = await useGateway(t, {
    config: { tracing: { enabled: true, otlpEndpoint: receiver.url, exportIntervalMs: 600_000 } },
  });
  const caller = clientSpan();
  const out = await scoreWithMetadata(
    client.client,
    { documents: docs("s", 1) },
    { traceparent: caller.traceparent },
  );
  t.ok(out.ok);
  t.equal(receiver.spans.length, 0, "nothing exported yet (a 10-minute interval)");
  await gateway.shutdown();
  t.equal(inTrace(receiver.spans, caller.traceId).length, 4, "all four spans, flushed by shutdown");
  t.same(receiver.contentTypes, ["application/json"], "OTLP/HTTP with JSON bodies");
});

t.test("a collector that refuses spans costs no request; failures are logged once a minute", async (t) => {
  const receiver = await startOtlpReceiver(t);
  receiver.respondWith(400);
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const { client, metricsText } = await useGateway(t, {
    logger,
    config: { tracing: tracingConfig(receiver) },
  });
  for (let i = 0; i < 5; i++) {
    const out = await scoreWithMetadata(client.client, { documents: docs(`x${i}`, 2) }, {});
    t.ok(out.ok, `request ${i} answered`);
    await receiver.waitFor(() => receiver.contentTypes.length > i);
  }
  t.equal(receiver.spans.length, 0, "the collector took nothing");
  const failures = lines.filter((l) => l.msg === "trace export failed; its spans are dropped");
  t.equal(failures.length, 1, `one log line for ${receiver.contentTypes.length} failed exports`);
  t.match(failures[0], { component: "tracing", endpoint: receiver.url, failedExports: 1 });
  const text = await metricsText();
  const count = (name: string) =>
    Number(new RegExp(`^relevance_gateway_${name} (\\S+)$`, "m").exec(text)?.[1]);
  t.ok(count("trace_export_failures_total") >= 5, "every failed export is counted");
  t.ok(count("trace_spans_lost_total") >= 5, "and the spans lost with them");
  t.equal(count("trace_spans_exported_total"), 0);
});
