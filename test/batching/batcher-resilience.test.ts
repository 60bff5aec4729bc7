import { status } from "@grpc/grpc-js";
import t from "tap";
import { RetryBudget } from "../../src/backends/resilience/retry-budget.js";
import { Batcher, type BatcherOptions, type ScoredItems } from "../../src/batching/batcher.js";
import { noopObserver } from "../../src/batching/observer.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

function setup(endpoints: ManualEndpoint[], overrides: Partial<BatcherOptions> = {}) {
  const clock = new FakeClock();
  const rejected: string[] = [];
  const retried: string[] = [];
  const batcher = new Batcher({
    backend: "student",
    maxBatchSize: 4,
    maxQueueDelayMs: 0,
    preferredBatchSizes: [],
    maxQueueItems: 1000,
    maxConcurrentBatches: 1,
    endpoints: () => endpoints,
    clock,
    retryBudget: new RetryBudget({ percent: 20, minRetries: 2, windowMs: 10_000 }, clock),
    observer: {
      ...noopObserver,
      rejected: (r) => rejected.push(r),
      retried: (e) => retried.push(e),
    },
    ...overrides,
  });
  return { clock, batcher, rejected, retried };
}

function track(p: Promise<ScoredItems>) {
  const s: { value?: ScoredItems; error?: GatewayError; settled: number } = { settled: 0 };
  p.then(
    (v) => {
      s.value = v;
      s.settled++;
    },
    (e: GatewayError) => {
      s.error = e;
      s.settled++;
    },
  );
  return s;
}

const opts = { requestId: "r", priority: "interactive" as const };
const unavailable = () => new GatewayError("BACKEND_UNAVAILABLE", "connection refused");

t.test("a batch that fails UNAVAILABLE is retried once on another endpoint", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  const { batcher, retried } = setup([a, b]);
  const r = track(batcher.submit("q", docs("x", 0, 3), opts));
  await settle();
  const first = a.calls.length === 1 ? a : b;
  const other = first === a ? b : a;
  first.calls[0]!.fail(unavailable());
  await settle();
  t.equal(other.calls.length, 1, "sent to the other endpoint");
  t.same(other.calls[0]!.batch.documents, ["x#0", "x#1", "x#2"]);
  t.same(retried, [first.id]);
  other.calls[0]!.fail(unavailable());
  await settle();
  t.equal(r.error?.code, status.UNAVAILABLE, "a second failure is not retried again");
  t.equal(first.calls.length + other.calls.length, 2);
});

t.test(
  "never retried: INVALID_ARGUMENT-like rejections, deadlines, or without another endpoint",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const { batcher } = setup([a, b], { maxConcurrentBatches: 2 });
    const r1 = track(batcher.submit("q", docs("x", 0, 1), opts));
    await settle();
    const ep1 = a.calls.length ? a : b;
    ep1.calls[0]!.fail(new GatewayError("BACKEND_REJECTED", "bad request"));
    await settle();
    t.equal(r1.error?.reason, "BACKEND_REJECTED", "a rejected request is not retried");
    t.equal(a.calls.length + b.calls.length, 1);

    const solo = new ManualEndpoint("solo");
    const s = setup([solo]);
    const r2 = track(s.batcher.submit("q", docs("y", 0, 1), opts));
    await settle();
    solo.calls[0]!.fail(unavailable());
    await settle();
    t.equal(r2.error?.code, status.UNAVAILABLE, "no other endpoint: the error is the answer");
    t.equal(solo.calls.length, 1);
  },
);

t.test("the retry budget bounds retries", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  const { batcher, retried } = setup([a, b], { maxConcurrentBatches: 10 });
  const results = [0, 1, 2, 3, 4, 5].map((i) => track(batcher.submit("q", docs(`r${i}`, 0, 4), opts)));
  await settle();
  for (const ep of [a, b]) for (const c of ep.calls.splice(0)) c.fail(unavailable());
  await settle();
  // 6 calls: minRetries 2 + 20% of 6 = 3.2 → 3 retries.
  t.equal(retried.length, 3, "3 of 6 failed batches retried");
  for (const ep of [a, b]) for (const c of ep.calls.splice(0)) c.answer();
  await settle();
  t.equal(results.filter((r) => r.value).length, 3);
  t.equal(results.filter((r) => r.error?.code === status.UNAVAILABLE).length, 3);
});

t.test(
  "the backend call timeout bounds a batch without deadlines, marked as the backend's limit",
  async (t) => {
    const a = new ManualEndpoint("a");
    const { batcher, clock } = setup([a], { callTimeoutMs: 250 });
    track(batcher.submit("q", docs("x", 0, 1), opts));
    await settle();
    t.equal(a.calls[0]!.ctx.timeoutMs, 250);
    t.equal(a.calls[0]!.ctx.timeoutIsBackendLimit, true);
    track(batcher.submit("q", docs("y", 0, 1), { ...opts, deadlineMs: clock.now() + 100 }));
    a.calls[0]!.answer();
    await settle();
    t.equal(a.calls[1]!.ctx.timeoutMs, 100, "a nearer deadline wins");
    t.equal(a.calls[1]!.ctx.timeoutIsBackendLimit, false);
  },
);

t.test(
  "shedding: a request whose deadline the queue ahead makes unreachable is rejected at once",
  async (t) => {
    const a = new ManualEndpoint("a");
    const { batcher, clock, rejected } = setup([a], { shedUnreachableDeadlines: true });
    // Learn the batch time: 50 ms per batch.
    track(batcher.submit("q", docs("warm", 0, 4), opts));
    await settle();
    await clock.advance(50);
    a.calls[0]!.answer();
    await settle();
    // One batch in flight, 12 items (3 batches) queued ahead.
    track(batcher.submit("q", docs("busy", 0, 4), opts));
    for (let i = 0; i < 3; i++) track(batcher.submit("q", docs(`ahead${i}`, 0, 4), opts));
    await settle();
    t.equal(batcher.queuedItems, 12);
    const doomed = track(batcher.submit("q", docs("late", 0, 1), { ...opts, deadlineMs: clock.now() + 100 }));
    const fine = track(batcher.submit("q", docs("ok", 0, 1), { ...opts, deadlineMs: clock.now() + 1000 }));
    await settle();
    t.equal(doomed.error?.code, status.RESOURCE_EXHAUSTED);
    t.equal(doomed.error?.reason, "PREDICTED_DEADLINE_MISS");
    // 4 items per 50 ms: the 4 in flight and 12 queued take 200 ms, then its own batch, 50 ms.
    t.match(doomed.error?.message, /12 items queued ahead would take about 250 ms/);
    t.same(rejected, ["deadline_unreachable"]);
    t.equal(fine.settled, 0, "a reachable deadline is queued");
  },
);

t.test("every endpoint ejected: UNAVAILABLE saying the breakers are open", async (t) => {
  const a = new ManualEndpoint("a");
  a.state = "ejected";
  const { batcher, rejected } = setup([a]);
  const r = track(batcher.submit("q", docs("x", 0, 1), opts));
  await settle();
  t.equal(r.error?.code, status.UNAVAILABLE);
  t.equal(r.error?.reason, "BACKEND_CIRCUIT_OPEN");
  t.same(rejected, ["circuit_open"]);
});

t.test(
  "half-open trial: a request queues for this batcher's own trial, and is refused for another's",
  async (t) => {
    const { setup, track } = await import("../helpers/batcher-harness.js");
    const { batcher, ep, clock } = setup({ maxBatchSize: 2, maxQueueDelayMs: 0 });

    // Another batcher's trial (none of this batcher's batches in flight): nothing would wake a queued request.
    ep.state = "ejected";
    ep.onTrial = true;
    const refused = track(
      batcher.submit("q", docs("r", 0, 1), { requestId: "refused", priority: "interactive" }),
    );
    await settle();
    t.equal(refused.error?.reason, "BACKEND_CIRCUIT_OPEN", "refused at once, as while open");
    t.equal(ep.received, 0);

    // This batcher's own batch is the trial: a request arriving meanwhile waits for its outcome.
    ep.state = "ready";
    ep.onTrial = false;
    const trial = track(
      batcher.submit("q", docs("a", 0, 2), { requestId: "trial", priority: "interactive" }),
    );
    await settle();
    t.equal(ep.received, 1, "the trial batch is at the endpoint");
    ep.state = "ejected";
    ep.onTrial = true;
    const waiting = track(
      batcher.submit("q", docs("b", 0, 2), { requestId: "waiting", priority: "interactive" }),
    );
    await settle();
    t.equal(waiting.settled, 0, "admitted and queued while the trial is in flight");
    t.equal(batcher.queuedItems, 2);
    t.equal(ep.received, 1, "not sent to the endpoint on trial");

    // The trial succeeds: the breaker closes and the queued request goes.
    ep.state = "ready";
    ep.onTrial = false;
    ep.calls.shift()!.answer();
    await settle();
    t.ok(trial.value, "the trial's request answered");
    t.equal(ep.received, 2, "the waiting request sent after the trial");
    ep.calls.shift()!.answer();
    await settle();
    t.ok(waiting.value, "the waiting request answered");

    // A failed trial: the request that queued for it is answered at once, not left waiting.
    const trial2 = track(
      batcher.submit("q", docs("c", 0, 2), { requestId: "trial2", priority: "interactive" }),
    );
    await settle();
    ep.state = "ejected";
    ep.onTrial = true;
    const waiting2 = track(
      batcher.submit("q", docs("d", 0, 2), { requestId: "waiting2", priority: "interactive" }),
    );
    await settle();
    t.equal(waiting2.settled, 0);
    ep.onTrial = false; // the breaker opened again
    ep.calls.shift()!.fail(new GatewayError("BACKEND_UNAVAILABLE", "trial failed"));
    await settle();
    t.equal(trial2.error?.reason, "BACKEND_UNAVAILABLE");
    t.equal(
      waiting2.error?.reason,
      "BACKEND_CIRCUIT_OPEN",
      "the queued request fails with the breaker's state",
    );
    clock.advance(0);
  },
);
