import t from "tap";
import type { CallContext, InferBatch, InferResult } from "../../src/backends/backend-client.js";
import { RetryBudget } from "../../src/backends/resilience/retry-budget.js";
import type { BatcherOptions } from "../../src/batching/batcher.js";
import { type ErrorReason, GatewayError } from "../../src/util/gateway-error.js";
import { expectRows, opts, setup, track } from "../helpers/batcher-harness.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

const unavailable = () => new GatewayError("BACKEND_UNAVAILABLE", "connection refused");

/** A batcher over endpoints a and b with a retry budget that never runs out in these tests. */
function twoEndpoints(overrides: Partial<BatcherOptions> = {}) {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  const clock = new FakeClock();
  const h = setup(
    {
      maxBatchSize: 8,
      maxQueueDelayMs: 1,
      clock,
      retryBudget: new RetryBudget({ percent: 100, minRetries: 10, windowMs: 10_000 }, clock),
      ...overrides,
    },
    [a, b],
  );
  return { ...h, a, b };
}

t.test("a retry carries only the requests still waiting, with their own texts", async (t) => {
  const { clock, batcher, a, b, rec } = twoEndpoints();
  const ac = new AbortController();
  const x = track(batcher.submit("qx", docs("x", 0, 2), { ...opts, requestId: "x" }));
  const y = track(batcher.submit("qy", docs("y", 0, 2), { ...opts, requestId: "y", signal: ac.signal }));
  await clock.advance(1);
  t.same([a.sizes, b.sizes], [[4], []], "one batch, to a");
  ac.abort();
  await settle();
  t.equal(y.error?.reason, "CLIENT_CANCELLED");
  a.calls.shift()!.fail(unavailable());
  await settle();
  t.same(rec.retried, ["a"]);
  t.same(b.calls[0]?.batch.documents, ["x#0", "x#1"], "the cancelled request is not sent again");
  t.same(b.calls[0]?.batch.queries, ["qx", "qx"], "one query per document, nothing else");
  b.calls.shift()!.answer();
  await settle();
  expectRows(t, x.value, docs("x", 0, 2));
});

t.test("a batch failing at its only request's deadline is not retried past it", async (t) => {
  const { clock, batcher, a, b, rec } = twoEndpoints();
  // Armed before the request's own deadline timer, due at the same time: the failure
  // arrives first, at the very moment the deadline is reached.
  clock.setTimeout(() => a.calls.shift()!.fail(unavailable()), 10);
  const x = track(batcher.submit("q", docs("x", 0, 2), { ...opts, deadlineMs: clock.now() + 10 }));
  await clock.advance(1);
  t.same(a.sizes, [2]);
  await clock.advance(9);
  t.equal(x.error?.reason, "BACKEND_UNAVAILABLE", "answered with the failure, at once");
  t.equal(b.received, 0, "nothing sent to the other endpoint");
  t.same(rec.retried, []);
  t.equal(batcher.inFlightBatches, 0);
});

t.test("the first call of a retried batch is not aborted when its request goes later", async (t) => {
  const { clock, batcher, a, b } = twoEndpoints();
  const ac = new AbortController();
  const x = track(batcher.submit("q", docs("x", 0, 2), { ...opts, signal: ac.signal }));
  await clock.advance(1);
  const first = a.calls.shift()!;
  first.fail(unavailable());
  await settle();
  const retry = b.calls.shift()!;
  ac.abort();
  await settle();
  t.equal(x.error?.reason, "CLIENT_CANCELLED");
  t.ok(retry.ctx.signal.aborted, "the retry, still out, is aborted");
  t.notOk(first.ctx.signal.aborted, "the failed first call is left alone");
});

t.test("an answered batch is not aborted when its request later fails in another batch", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
  const ac = new AbortController();
  const x = track(batcher.submit("q", docs("x", 0, 9), { ...opts, signal: ac.signal }));
  await clock.advance(1);
  const first = ep.calls.shift()!;
  t.equal(first.batch.documents.length, 8);
  first.answer();
  await clock.advance(1);
  const second = ep.calls.shift()!;
  t.same(second.batch.documents, ["x#8"]);
  ac.abort();
  await settle();
  t.equal(x.error?.reason, "CLIENT_CANCELLED");
  t.ok(second.ctx.signal.aborted, "the batch still out is aborted");
  t.notOk(first.ctx.signal.aborted, "the answered one is left alone");
});

t.test("which failures are worth another endpoint", async (t) => {
  const cases: [ErrorReason, boolean][] = [
    ["BACKEND_UNAVAILABLE", true],
    ["BACKEND_ERROR", true],
    ["BACKEND_TIMEOUT", true],
    ["BACKEND_CIRCUIT_OPEN", true],
    ["NO_READY_ENDPOINT", false],
    ["SHUTTING_DOWN", false],
    ["BACKEND_MODEL_UNAVAILABLE", false],
    ["BACKEND_MALFORMED_RESPONSE", false],
    ["DEADLINE_EXCEEDED", false],
    ["BACKEND_REJECTED", false],
    ["INTERNAL", false],
  ];
  for (const [reason, retried] of cases) {
    const { clock, batcher, a, b, rec } = twoEndpoints();
    const x = track(batcher.submit("q", docs("x", 0, 2), opts));
    await clock.advance(1);
    a.calls.shift()!.fail(new GatewayError(reason, "failed"));
    await settle();
    const name = reason;
    if (retried) {
      t.same([rec.retried, b.sizes], [["a"], [2]], `${name}: retried on b`);
      b.calls.shift()!.answer();
      await settle();
      expectRows(t, x.value, docs("x", 0, 2));
    } else {
      t.same([rec.retried, b.received], [[], 0], `${name}: not retried`);
      t.equal(x.error?.reason, reason, `${name}: the request gets the failure`);
    }
  }
});

t.test(
  "a retry after a plain failure that the second endpoint rejects as bad input is not an agreement on the input",
  async (t) => {
    const { clock, batcher, a, b, rec } = twoEndpoints();
    const x = track(batcher.submit("q", docs("x", 0, 1), opts));
    await clock.advance(1);
    a.calls.shift()!.fail(unavailable());
    await settle();
    const rejection = new GatewayError("BACKEND_ERROR", "tokenizer failed", {
      inputRejection: true,
    });
    b.calls.shift()!.fail(rejection);
    await settle();
    t.equal(x.error?.reason, "BACKEND_ERROR", "a lone document rejected once: the endpoint's fault");
    t.same(b.faults, [rejection], "reported against b");
    t.same(rec.inputRejections, ["endpoint_fault"]);
    t.equal(rec.isolationCalls, 0);
  },
);

t.test("the call timeout: the backend's limit when it is the nearer one", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1, callTimeoutMs: 100 });
  track(batcher.submit("q", docs("far", 0, 1), { ...opts, deadlineMs: clock.now() + 501 }));
  await clock.advance(1);
  t.same(
    [ep.calls[0]?.ctx.timeoutMs, ep.calls[0]?.ctx.timeoutIsBackendLimit],
    [100, true],
    "deadline 500 ms away: the 100 ms backend limit",
  );
  ep.calls.shift()!.answer();
  await settle();
  track(batcher.submit("q", docs("near", 0, 1), { ...opts, deadlineMs: clock.now() + 101 }));
  await clock.advance(1);
  t.same(
    [ep.calls[0]?.ctx.timeoutMs, ep.calls[0]?.ctx.timeoutIsBackendLimit],
    [100, false],
    "deadline exactly 100 ms away: the request's deadline",
  );
});

/** An endpoint whose client throws instead of returning a rejected promise. */
class ThrowingEndpoint extends ManualEndpoint {
  override infer(_batch: InferBatch, _ctx: CallContext): Promise<InferResult> {
    this.received++;
    throw new GatewayError("BACKEND_UNAVAILABLE", "socket closed");
  }
}

t.test("an endpoint client that throws fails the batch like a rejected call", async (t) => {
  const { clock, batcher, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 }, [new ThrowingEndpoint()]);
  const x = track(batcher.submit("q", docs("x", 0, 2), { ...opts, requestId: "x" }));
  await clock.advance(1);
  t.ok(x.error instanceof GatewayError, "a gateway error");
  t.equal(x.error?.reason, "BACKEND_UNAVAILABLE");
  t.equal(x.error?.message, "socket closed");
  t.equal(batcher.inFlightBatches, 0, "the batch is over");
  t.same(Object.fromEntries(rec.answers), { x: 1 });
});
