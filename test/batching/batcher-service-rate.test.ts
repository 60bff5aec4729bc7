import { status } from "@grpc/grpc-js";
import t from "tap";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

t.test(
  "shedding: the predicted wait follows the service rate measured while work waited, not the batch size configured",
  async (t) => {
    // The batcher may send 16 items a batch, but the endpoint takes 8 (its own cap), one call at a time.
    const ep = new ManualEndpoint("a", 8);
    const s = setup(
      { maxBatchSize: 16, maxConcurrentBatches: 1, maxQueueDelayMs: 0, shedUnreachableDeadlines: true },
      [ep],
    );
    const { batcher, clock, rec } = s;
    for (let i = 0; i < 40; i++) track(batcher.submit("q", docs(`r${i}`, 0, 8), opts));
    await settle();
    // 27 calls of 10 ms with work waiting: the first marks, the next 26 count 208 items in 260 ms.
    for (let i = 0; i < 27; i++) {
      const call = ep.calls.shift()!;
      await clock.advance(10);
      call.answer();
      await settle();
    }
    t.same(ep.sizes, [8], "the 28th batch in flight");
    t.equal(batcher.queuedItems, 96);
    // Measured: 0.8 items/ms (16 per 10 ms by the configured size would say 1.6). The 8 items in
    // flight and the 96 queued take 130 ms, then its own batch one batch time: 140 ms; with the
    // 10 ms margin kept before a deadline (5% of 140 ms is 7 ms), a deadline 150 ms away is needed.
    const late = track(batcher.submit("q", docs("late", 0, 1), { ...opts, deadlineMs: clock.now() + 149 }));
    await settle();
    t.equal(late.error?.code, status.RESOURCE_EXHAUSTED);
    t.equal(
      late.error?.message,
      "backend student: overloaded; the 96 items queued ahead would take about 140 ms, " +
        "past the request's deadline in 149 ms (less 10 ms kept for the prediction's error)",
    );
    t.same(rec.rejected, ["deadline_unreachable"]);
    const ok = track(
      batcher.submit("q", docs("ok", 0, 1), { ...opts, requestId: "ok", deadlineMs: clock.now() + 150 }),
    );
    await settle();
    t.equal(ok.settled, 0, "admitted at exactly the predicted wait and the margin");
    // And that is when its batch is answered: 13 calls of 8 before it, then its own.
    for (let i = 0; i < 13; i++) {
      const call = ep.calls.shift()!;
      await clock.advance(10);
      call.answer();
      await settle();
    }
    t.same(
      ep.calls.map((c) => c.batch.documents),
      [["ok#0"]],
      "its batch leaves 130 ms after it was admitted",
    );
    await clock.advance(9);
    ep.calls.shift()!.answer();
    await settle();
    t.ok(ok.value, "answered within its deadline");
  },
);
