import t from "tap";
import { RetryBudget } from "../../src/backends/resilience/retry-budget.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

const unavailable = () => new GatewayError("BACKEND_UNAVAILABLE", "connection refused");

t.test("reconfigure: preferred sizes given out of order are used in ascending order", async (t) => {
  const { batcher, ep, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 100, preferredBatchSizes: [] });
  batcher.reconfigure({ ...batcher.limits, preferredBatchSizes: [8, 4] });
  track(batcher.submit("q", docs("a", 0, 5), opts));
  await settle();
  t.same(ep.sizes, [4], "the largest preferred size the 5 queued items fill leaves at once");
  t.same(rec.dispatched, [{ items: 4, trigger: "preferred" }]);
});

t.test("the batch size target and wait are reported when they change, not at every flush", async (t) => {
  const { batcher, ep, clock, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  for (let i = 0; i < 3; i++) {
    track(batcher.submit("q", docs(`r${i}`, 0, 1), { ...opts, requestId: `r${i}` }));
    await clock.advance(2);
    ep.calls.shift()!.answer();
    await settle();
  }
  t.equal(rec.dispatched.length, 3, "three batches formed");
  t.same(rec.targets, [[8, 2]], "one report for the unchanged limits");
  batcher.reconfigure({ ...batcher.limits, maxBatchSize: 4 });
  track(batcher.submit("q", docs("s", 0, 1), opts));
  await settle();
  t.same(rec.targets, [
    [8, 2],
    [4, 2],
  ]);
});

t.test("a cancelled request at the head of the queue does not hurry the requests behind it", async (t) => {
  const { batcher, ep, clock, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  const ac = new AbortController();
  const first = track(batcher.submit("q", docs("a", 0, 1), { ...opts, signal: ac.signal }));
  await clock.advance(1);
  ac.abort();
  await settle();
  t.equal(first.error?.reason, "CLIENT_CANCELLED");
  await clock.advance(0.5);
  const second = track(batcher.submit("q", docs("b", 0, 1), opts));
  await settle();
  t.equal(batcher.retainedSegments, 1, "the cancelled request's entry is gone");
  await clock.advance(1.9); // t = 3.4: the first request's delay would have run out at 2
  t.same(ep.sizes, [], "the second request waits out its own delay");
  await clock.advance(0.1); // t = 3.5
  t.same(ep.sizes, [1]);
  t.same(rec.dispatched, [{ items: 1, trigger: "delay" }]);
  t.same(rec.waits, [2]);
  ep.calls[0]!.answer();
  await settle();
  t.ok(second.value);
});

t.test("the batch waits for the oldest item of either priority", async (t) => {
  const { batcher, ep, clock, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  track(batcher.submit("q", docs("bulk", 0, 1), { ...opts, priority: "bulk" }));
  await clock.advance(1);
  track(batcher.submit("q", docs("int", 0, 1), opts));
  await clock.advance(0.9);
  t.same(ep.sizes, []);
  await clock.advance(0.1); // t = 2: the bulk item's delay is up
  t.same(ep.calls[0]?.batch.documents, ["int#0", "bulk#0"], "both leave, interactive first");
  t.same(rec.waits, [1, 2]);

  // And the other way round: an older interactive item sets the time.
  const s = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  track(s.batcher.submit("q", docs("int", 0, 1), opts));
  await s.clock.advance(1);
  track(s.batcher.submit("q", docs("bulk", 0, 1), { ...opts, priority: "bulk" }));
  await s.clock.advance(0.9);
  t.same(s.ep.sizes, []);
  await s.clock.advance(0.1);
  t.same(s.ep.calls[0]?.batch.documents, ["int#0", "bulk#0"]);
  t.same(s.rec.waits, [2, 1]);
});

t.test("a shorter queue delay set while a batch waits takes effect for that batch", async (t) => {
  const { batcher, ep, clock } = setup({ maxBatchSize: 8, maxQueueDelayMs: 10 });
  track(batcher.submit("q", docs("a", 0, 1), opts));
  await clock.advance(1);
  batcher.reconfigure({ ...batcher.limits, maxQueueDelayMs: 2 });
  await clock.advance(0.9);
  t.same(ep.sizes, []);
  await clock.advance(0.1); // t = 2, not 10
  t.same(ep.sizes, [1]);
});

t.test("each document of a batch is sent with its own request's query", async (t) => {
  const { batcher, ep, clock } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  track(batcher.submit("first query", docs("a", 0, 2), opts));
  track(batcher.submit("second query", docs("b", 0, 1), opts));
  await clock.advance(2);
  t.same(ep.calls[0]?.batch.documents, ["a#0", "a#1", "b#0"]);
  t.same(ep.calls[0]?.batch.queries, ["first query", "first query", "second query"]);
});

t.test(
  "an expired request at the head of a queue is answered as the batch forms and leaves the queue depth",
  async (t) => {
    const { batcher, ep, clock, rec, metric } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
    const live = track(batcher.submit("q", docs("live", 0, 1), opts));
    // Its deadline falls due exactly when the batch does (the batch's timer was armed first).
    const late = track(
      batcher.submit("q", docs("late", 0, 3), { ...opts, priority: "bulk", deadlineMs: clock.now() + 2 }),
    );
    await settle();
    t.equal(await metric("queue_depth_items"), 4);
    await clock.advance(2);
    t.equal(late.error?.reason, "DEADLINE_EXCEEDED");
    t.equal(
      late.error?.message,
      "deadline exceeded waiting for backend student (0 items in flight, 3 queued)",
    );
    t.same(rec.dropped, { deadline: 3 });
    t.same(ep.calls[0]?.batch.documents, ["live#0"]);
    t.same(rec.dispatched, [{ items: 1, trigger: "delay" }]);
    t.equal(batcher.queuedItems, 0);
    t.equal(await metric("queue_depth_items"), 0, "the gauge shows nothing queued");
    ep.calls[0]!.answer();
    await settle();
    t.ok(live.value);
  },
);

t.test(
  "an expired request behind the head is answered as the batch forms and leaves the queue depth",
  async (t) => {
    const { batcher, ep, clock, rec, metric } = setup({ maxBatchSize: 4, maxQueueDelayMs: 2 });
    const live = track(batcher.submit("q", docs("live", 0, 1), opts));
    const late = track(batcher.submit("q", docs("late", 0, 2), { ...opts, deadlineMs: clock.now() + 2 }));
    await settle();
    t.equal(await metric("queue_depth_items"), 3);
    await clock.advance(2);
    t.equal(late.error?.reason, "DEADLINE_EXCEEDED");
    t.same(rec.dropped, { deadline: 2 });
    t.same(ep.calls[0]?.batch.documents, ["live#0"]);
    t.equal(batcher.queuedItems, 0);
    t.equal(await metric("queue_depth_items"), 0, "the gauge shows nothing queued");
    ep.calls[0]!.answer();
    await settle();
    t.ok(live.value);
  },
);

t.test("the retry budget is a share of first attempts: retries do not earn more retries", async (t) => {
  const clock = new FakeClock();
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  // 1 retry, plus 40% of the batches sent.
  const retryBudget = new RetryBudget({ percent: 40, minRetries: 1, windowMs: 10_000 }, clock);
  const { batcher, rec } = setup({ clock, retryBudget, maxQueueDelayMs: 0 }, [a, b]);
  const failFirst = async () => {
    await settle();
    const ep = a.calls.length > 0 ? a : b;
    ep.calls.shift()!.fail(unavailable());
    await settle();
  };

  const first = track(batcher.submit("q", docs("x", 0, 1), { ...opts, requestId: "x" }));
  await failFirst();
  t.same(rec.retried.length, 1, "the first failure is retried (1 + 0.4 of 1 call)");
  for (const ep of [a, b]) for (const c of ep.calls.splice(0)) c.answer();
  await settle();
  t.ok(first.value, "answered by the retry");

  const second = track(batcher.submit("q", docs("y", 0, 1), { ...opts, requestId: "y" }));
  await failFirst();
  // 2 first attempts: 1 + 0.8 retries allowed, 1 taken: no room for a second.
  t.equal(second.error?.reason, "BACKEND_UNAVAILABLE", "the second failure is not retried");
  t.equal(rec.retried.length, 1);
  t.equal(a.received + b.received, 3);
});

t.test("a batch's call is bounded by the latest deadline of its requests", async (t) => {
  const { batcher, ep, clock } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  track(batcher.submit("q", docs("near", 0, 1), { ...opts, deadlineMs: clock.now() + 50 }));
  track(batcher.submit("q", docs("far", 0, 1), { ...opts, deadlineMs: clock.now() + 500 }));
  await clock.advance(2);
  t.same(ep.calls[0]?.batch.documents, ["near#0", "far#0"]);
  t.equal(ep.calls[0]?.ctx.timeoutMs, 498, "the farther deadline, 498 ms after the batch left");
});

t.test("a request cancelled while queued leaves the queue-depth gauge at once", async (t) => {
  // One slot, taken: the second request waits in the queue until it is cancelled.
  const { batcher, ep, clock, metric } = setup({
    maxBatchSize: 2,
    maxQueueDelayMs: 1,
    maxConcurrentBatches: 1,
  });
  const first = track(batcher.submit("q", docs("a", 0, 2), opts));
  await clock.advance(1);
  t.equal(ep.calls.length, 1, "the first batch holds the only slot");
  const ac = new AbortController();
  const waiting = track(batcher.submit("q", docs("b", 0, 3), { ...opts, signal: ac.signal }));
  await settle();
  t.equal(await metric("queue_depth_items"), 3);
  ac.abort();
  await settle();
  t.equal(waiting.error?.reason, "CLIENT_CANCELLED", "the cancel was answered");
  t.equal(batcher.queuedItems, 0);
  t.equal(await metric("queue_depth_items"), 0, "the gauge shows nothing queued without waiting for a pump");
  ep.calls[0]!.answer();
  await settle();
  t.ok(first.value);
});

t.test("under a backlog, batches that finished together leave spread over the batch time", async (t) => {
  const { batcher, ep, clock, rec } = setup({ maxBatchSize: 8, maxConcurrentBatches: 2, maxQueueDelayMs: 2 });
  for (let i = 0; i < 6; i++)
    track(batcher.submit("q", docs(`r${i}`, 0, 8), { ...opts, requestId: `r${i}` }));
  await settle();
  t.equal(ep.received, 2, "both slots filled at once: no batch time measured yet");
  await clock.advance(10);
  ep.calls.shift()!.answer();
  ep.calls.shift()!.answer();
  await settle();
  // Both took 10 ms: the batch time is 10 ms, a slot should free every 10 ÷ 2 slots = 5 ms, and
  // the second batch leaves 0.9 × 5 = 4.5 ms after the first (32 items queued: a backlog).
  t.equal(ep.received, 3, "the first freed slot takes a batch at once");
  t.equal(batcher.queuedItems, 24);
  await clock.advance(4.4);
  t.equal(ep.received, 3, "the second waits to be spread from the first");
  await clock.advance(0.1);
  t.equal(ep.received, 4, "and leaves 4.5 ms after it");
  t.same(
    rec.dispatched.map((d) => d.trigger),
    ["full", "full", "full", "full"],
  );
});

t.test("without a backlog behind it, a full batch leaves at once", async (t) => {
  const { batcher, ep, clock } = setup({ maxBatchSize: 8, maxConcurrentBatches: 2, maxQueueDelayMs: 2 });
  for (let i = 0; i < 4; i++)
    track(batcher.submit("q", docs(`r${i}`, 0, 8), { ...opts, requestId: `r${i}` }));
  await settle();
  await clock.advance(10);
  ep.calls.shift()!.answer();
  ep.calls.shift()!.answer();
  await settle();
  // 16 items were queued: the first batch leaves 8, less than a full batch behind the second.
  t.equal(ep.received, 4, "both freed slots take a batch at once");
  t.equal(batcher.queuedItems, 0);
});
