import t from "tap";
import type { BatchLimits } from "../../src/batching/batcher.js";
import type { BatchController } from "../../src/batching/controller.js";
import { expectRows, opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs } from "../helpers/manual-endpoint.js";

const base: BatchLimits = {
  maxBatchSize: 8,
  maxQueueDelayMs: 2,
  preferredBatchSizes: [],
  maxQueueItems: 1000,
  maxConcurrentBatches: 1,
};

t.test(
  "a smaller maxBatchSize applies to the next batch; in-flight and queued work is kept in order",
  async (t) => {
    const { batcher, ep, rec } = setup(base);
    const first = docs("a", 0, 8);
    const queued = docs("b", 100, 12);
    const a = track(batcher.submit("q", first, opts));
    const b = track(batcher.submit("q", queued, opts));
    await settle();
    t.same(ep.sizes, [8], "the first batch is in flight; 12 items wait for the one slot");

    batcher.reconfigure({ ...base, maxBatchSize: 3 });
    t.same(rec.limits.at(-1), [3, 1000], "the observer hears the new cap");
    ep.calls[0]!.answer();
    await settle();
    t.same(ep.sizes, [8, 3], "the batch in flight kept its size; the next one has the new cap");
    for (let i = 1; i < 5; i++) {
      ep.calls[i]!.answer();
      await settle();
    }
    t.same(ep.sizes, [8, 3, 3, 3, 3], "the queue drained in batches of 3");
    t.same(
      ep.calls.slice(1).flatMap((c) => c.batch.documents),
      queued,
      "queued items left in their order",
    );
    t.equal(a.settled, 1);
    t.equal(b.settled, 1);
    expectRows(t, a.value, first);
    expectRows(t, b.value, queued);
    t.same(rec.dropped, {}, "nothing dropped");
  },
);

t.test("a larger maxBatchSize lets a queued backlog leave as one batch", async (t) => {
  const { clock, batcher, ep } = setup({ ...base, maxBatchSize: 2 });
  track(batcher.submit("q", docs("a", 0, 2), opts));
  const b = track(batcher.submit("q", docs("b", 0, 6), opts));
  await settle();
  t.same(ep.sizes, [2]);
  batcher.reconfigure({ ...base, maxBatchSize: 16 });
  await clock.advance(2);
  ep.calls[0]!.answer();
  await settle();
  t.same(ep.sizes, [2, 6], "the 6 waiting items went together");
  ep.calls[1]!.answer();
  await settle();
  t.equal(b.settled, 1);
});

t.test("a shorter queue delay releases a waiting partial batch at once", async (t) => {
  const { clock, batcher, ep, rec } = setup({ ...base, maxQueueDelayMs: 50 });
  track(batcher.submit("q", docs("a", 0, 2), opts));
  await clock.advance(10);
  t.same(ep.sizes, [], "waiting for the 50 ms delay");
  batcher.reconfigure({ ...base, maxQueueDelayMs: 5 });
  await settle();
  t.same(ep.sizes, [2], "already waited 10 ms ≥ the new 5 ms: sent");
  t.same(rec.targets.at(-1), [8, 5], "the observer hears the new wait");
});

t.test("a smaller queue bound refuses new work but keeps what is queued", async (t) => {
  const { clock, batcher, ep, rec } = setup(base);
  track(batcher.submit("q", docs("a", 0, 8), opts));
  const queued = track(batcher.submit("q", docs("b", 0, 10), opts));
  await settle();
  batcher.reconfigure({ ...base, maxQueueItems: 5 });
  const refused = track(batcher.submit("q", docs("c", 0, 1), opts));
  await settle();
  t.equal(refused.error?.reason, "BATCH_QUEUE_FULL");
  t.match(refused.error?.message, /10 of 5 items waiting/);
  for (let i = 0; i < 3; i++) {
    await clock.advance(2);
    ep.calls[i]?.answer();
    await settle();
  }
  t.same(ep.sizes, [8, 8, 2], "the 10 queued items left as 8, then 2");
  t.equal(queued.settled, 1);
  t.ok(queued.value, "the queued request was answered");
  t.same(rec.rejected, ["queue_full"]);
});

/** A controller with fixed choices that records what the batcher tells it. */
function recordingController(size: number, delayMs: number) {
  const seen = { admitted: [] as number[], batches: [] as [number, number][], requests: [] as number[] };
  const controller: BatchController = {
    batchSize: (cap) => Math.min(size, cap),
    queueDelayMs: (max) => Math.min(delayMs, max),
    itemsAdmitted: (n) => seen.admitted.push(n),
    batchCompleted: (items, durationMs) => seen.batches.push([items, durationMs]),
    requestCompleted: (latencyMs) => seen.requests.push(latencyMs),
  };
  return { controller, seen };
}

t.test(
  "a controller chooses the batch size and wait within the caps and learns from every batch",
  async (t) => {
    const { controller, seen } = recordingController(3, 1);
    const { clock, batcher, ep, rec } = setup({ ...base, maxQueueDelayMs: 4, controller });
    const r = track(batcher.submit("q", docs("a", 0, 6), opts));
    await settle();
    t.same(ep.sizes, [3], "full at the controller's 3, not the cap of 8");
    t.same(rec.targets.at(-1), [3, 1]);
    await clock.advance(6);
    ep.calls[0]!.answer();
    await settle();
    t.same(ep.sizes, [3, 3]);
    ep.calls[1]!.answer();
    await settle();
    t.equal(r.settled, 1);
    t.same(seen.requests, [6], "the request was answered 6 ms after admission");
    const lone = track(batcher.submit("q", docs("b", 0, 1), opts));
    await clock.advance(0.5);
    t.same(ep.sizes, [3, 3], "a lone item waits for the controller's 1 ms, not the cap's 4 ms");
    await clock.advance(0.5);
    t.same(ep.sizes, [3, 3, 1]);
    ep.calls[2]!.answer();
    await settle();
    t.equal(lone.settled, 1);
    t.same(seen.admitted, [6, 1]);
    t.same(
      seen.batches.map(([items]) => items),
      [3, 3, 1],
    );
    t.equal(seen.batches[0]![1], 6, "the first batch took 6 ms on the clock");
  },
);

t.test(
  "a controller asking beyond the cap is held to the cap; switching it off restores the cap",
  async (t) => {
    const { controller } = recordingController(100, 0);
    const { batcher, ep } = setup({ ...base, maxBatchSize: 4, maxQueueDelayMs: 0, controller });
    track(batcher.submit("q", docs("a", 0, 9), opts));
    await settle();
    t.same(ep.sizes, [4]);
    batcher.reconfigure({ ...base, maxBatchSize: 4, maxQueueDelayMs: 0, controller: undefined });
    ep.calls[0]!.answer();
    await settle();
    t.same(ep.sizes, [4, 4]);
    t.equal(batcher.limits.controller, undefined);
  },
);
