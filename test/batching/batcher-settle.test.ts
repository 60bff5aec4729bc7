import { status } from "@grpc/grpc-js";
import t from "tap";
import type { BatchController } from "../../src/batching/controller.js";
import type { CancelSignal } from "../../src/util/cancel-signal.js";
import { expectRows, opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs } from "../helpers/manual-endpoint.js";

t.test("a deadline reached with items out and items queued says how many of each", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 3, maxQueueDelayMs: 2 });
  const x = track(batcher.submit("q", docs("x", 0, 5), { ...opts, deadlineMs: clock.now() + 10 }));
  await settle();
  t.same(ep.sizes, [3], "three items out, two waiting for the slot");
  await clock.advance(10);
  t.equal(x.error?.code, status.DEADLINE_EXCEEDED);
  t.equal(
    x.error?.message,
    "deadline exceeded waiting for backend student (3 items in flight, 2 queued)",
    "the message counts both",
  );
  t.same(rec.dropped, { deadline: 2 }, "the two queued items are dropped");
  t.equal(batcher.queuedItems, 0);
});

t.test("a request past its deadline with every item out drops nothing from the queue", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
  const x = track(batcher.submit("q", docs("x", 0, 3), { ...opts, deadlineMs: clock.now() + 10 }));
  await clock.advance(1);
  t.same(ep.sizes, [3]);
  await clock.advance(9);
  t.equal(x.error?.reason, "DEADLINE_EXCEEDED");
  t.match(x.error?.message, /\(3 items in flight, 0 queued\)$/);
  t.same(rec.dropped, {}, "no drop reported, not even of zero items");
});

t.test(
  "a request failed by its batch while the rest of it waits: the rest is not counted dropped",
  async (t) => {
    const { batcher, ep, rec } = setup({ maxBatchSize: 3, maxQueueDelayMs: 2 });
    const x = track(batcher.submit("q", docs("x", 0, 5), opts));
    await settle();
    t.same(ep.sizes, [3]);
    ep.calls.shift()!.fail(new Error("boom"));
    await settle();
    t.equal(x.error?.reason, "INTERNAL");
    t.equal(batcher.queuedItems, 0, "its queued items leave the queue");
    t.equal(ep.received, 1, "and are never sent");
    t.same(rec.dropped, {}, "a backend failure is no deadline, cancellation or shutdown");
  },
);

t.test("a batch is aborted only when every request in it has gone, and says why", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
  const acx = new AbortController();
  const acy = new AbortController();
  track(batcher.submit("q", docs("x", 0, 2), { ...opts, requestId: "x", signal: acx.signal }));
  const y = track(batcher.submit("q", docs("y", 0, 2), { ...opts, requestId: "y", signal: acy.signal }));
  await clock.advance(1);
  const call = ep.calls[0]!;
  acx.abort();
  await settle();
  t.notOk(call.ctx.signal.aborted, "y still waits for it");
  acy.abort();
  await settle();
  t.equal(y.error?.reason, "CLIENT_CANCELLED");
  t.ok(call.ctx.signal.aborted, "aborted once both have gone");
  const reason = call.ctx.signal.reason as { code?: number; reason?: string; message?: string };
  t.same(
    [reason.code, reason.reason, reason.message],
    [status.CANCELLED, "CLIENT_CANCELLED", "every request of the batch has gone"],
  );
});

/** A cancellation signal that records the listeners added and removed. */
class RecordingSignal implements CancelSignal {
  aborted = false;
  readonly added: [string, () => void][] = [];
  readonly removed: [string, () => void][] = [];
  addEventListener(type: "abort", listener: () => void): void {
    this.added.push([type, listener]);
  }
  removeEventListener(type: "abort", listener: () => void): void {
    this.removed.push([type, listener]);
  }
}

t.test("an answered request stops listening to its cancellation signal", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
  const ok = new RecordingSignal();
  const late = new RecordingSignal();
  const x = track(batcher.submit("q", docs("x", 0, 2), { ...opts, requestId: "x", signal: ok }));
  const y = track(
    batcher.submit("q", docs("y", 0, 2), {
      ...opts,
      requestId: "y",
      signal: late,
      deadlineMs: clock.now() + 5,
    }),
  );
  await clock.advance(1);
  ep.calls.shift()!.answer();
  await settle();
  expectRows(t, x.value, docs("x", 0, 2));
  t.same(ok.added.length, 1);
  t.same(ok.removed, ok.added, "the listener added is removed, for the abort event");
  await clock.advance(5);
  t.equal(y.error, undefined, "answered with the batch");
  t.same(late.removed, late.added);
});

t.test("a drain of an idle batcher is over at once", async (t) => {
  const { batcher } = setup();
  const drained = track(batcher.drain());
  await settle();
  t.equal(drained.settled, 1);
});

t.test("a drain is not over while a batch is out, even when the queue empties", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 2, maxQueueDelayMs: 1 });
  const ac = new AbortController();
  const x = track(batcher.submit("q", docs("x", 0, 2), { ...opts, requestId: "x" }));
  const y = track(batcher.submit("q", docs("y", 0, 1), { ...opts, requestId: "y", signal: ac.signal }));
  await clock.advance(1);
  t.same(ep.sizes, [2], "x out, y waiting for the only slot");
  const drained = track(batcher.drain());
  ac.abort();
  await settle();
  t.equal(y.error?.reason, "CLIENT_CANCELLED");
  t.equal(batcher.queuedItems, 0);
  t.equal(drained.settled, 0, "x is still out");
  ep.calls.shift()!.answer();
  await settle();
  expectRows(t, x.value, docs("x", 0, 2));
  t.equal(drained.settled, 1);
});

t.test("queued requests failed when the last endpoint goes are not counted as refused", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 8, maxQueueDelayMs: 5 });
  const x = track(batcher.submit("q", docs("x", 0, 2), opts));
  await clock.advance(1);
  t.equal(ep.received, 0, "waiting for the batch to fill");
  ep.state = "not-ready";
  await clock.advance(4);
  t.equal(x.error?.reason, "NO_READY_ENDPOINT");
  t.same(rec.rejected, [], "an admitted request is not a refusal at the door");
});

t.test("dead queue entries are dropped once they outnumber the live ones by more than 64", async (t) => {
  const { batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueItems: 100_000 });
  const cancellable = (tag: string, n: number) =>
    Array.from({ length: n }, (_, k) => {
      const ac = new AbortController();
      const state = track(batcher.submit("q", docs(`${tag}${k}`, 0, 1), { ...opts, signal: ac.signal }));
      return { ac, state };
    });
  // Ten requests die behind a busy slot; they leave the queue when it moves on.
  track(batcher.submit("q", docs("busy", 0, 8), opts));
  const early = cancellable("e", 10);
  for (const e of early) e.ac.abort();
  await settle();
  t.equal(batcher.retainedSegments, 10, "ten dead entries kept: within the slack");
  ep.calls.shift()!.answer();
  await settle();
  t.equal(batcher.retainedSegments, 0, "passed over once the slot is free");
  const busy = track(batcher.submit("q", docs("busy2", 0, 8), opts));
  await settle();
  t.same(ep.sizes, [8]);

  // One live head and 69 others: 70 entries. Compaction once dead > live + 64, i.e. at 68 dead.
  const head = track(batcher.submit("q", docs("head", 0, 1), opts));
  const rest = cancellable("r", 69);
  t.equal(batcher.retainedSegments, 70);
  for (const r of rest.slice(0, 67)) r.ac.abort();
  await settle();
  t.equal(batcher.retainedSegments, 70, "67 dead, 3 live: kept");
  rest[67]!.ac.abort();
  await settle();
  t.equal(batcher.retainedSegments, 2, "68 dead, 2 live: the dead are dropped");
  ep.calls.shift()!.answer();
  await settle();
  t.ok(busy.value);
  t.same(ep.sizes, [2], "the live ones are sent");
  ep.calls.shift()!.answer();
  await settle();
  expectRows(t, head.value, docs("head", 0, 1));
  expectRows(t, rest[68]!.state.value, docs("r68", 0, 1));
});

t.test("the recent batch time is a moving average: 4/5 of the old, 1/5 of the new", async (t) => {
  const { clock, batcher, ep } = setup({
    maxBatchSize: 8,
    maxQueueDelayMs: 0,
    shedUnreachableDeadlines: true,
  });
  for (const [k, ms] of [10, 60].entries()) {
    track(batcher.submit("q", docs(`w${k}`, 0, 8), opts));
    await clock.advance(ms);
    ep.calls.shift()!.answer();
    await settle();
  }
  // 0.8 × 10 + 0.2 × 60 = 20 ms. One batch out, one queued, then its own: answered in 3 × 20 ms,
  // which with the 10 ms margin kept before a deadline needs a deadline 70 ms away.
  track(batcher.submit("q", docs("out", 0, 8), opts));
  track(batcher.submit("q", docs("queued", 0, 8), opts));
  await settle();
  t.equal(batcher.queuedItems, 8);
  const tooSoon = track(batcher.submit("q", docs("a", 0, 1), { ...opts, deadlineMs: clock.now() + 69 }));
  const inTime = track(batcher.submit("q", docs("b", 0, 1), { ...opts, deadlineMs: clock.now() + 70 }));
  await settle();
  t.equal(tooSoon.error?.reason, "PREDICTED_DEADLINE_MISS");
  t.match(
    tooSoon.error?.message,
    /would take about 60 ms, past the request's deadline in 69 ms \(less 10 ms kept for the prediction's error\)$/,
  );
  t.equal(inTime.settled, 0, "a deadline 70 ms away is admitted");
});

t.test("the controller is told each batch's size, duration and end time", async (t) => {
  const completed: [number, number, number][] = [];
  const controller: BatchController = {
    batchSize: (cap) => cap,
    queueDelayMs: (max) => max,
    itemsAdmitted: () => {},
    batchCompleted: (items, durationMs, nowMs) => completed.push([items, durationMs, nowMs]),
    requestCompleted: () => {},
  };
  const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1, controller });
  const x = track(batcher.submit("q", docs("x", 0, 3), opts));
  await clock.advance(1);
  const sentMs = clock.now();
  await clock.advance(25);
  ep.calls.shift()!.answer();
  await settle();
  t.ok(x.value);
  t.same(completed, [[3, 25, sentMs + 25]]);
});

t.test(
  "a drain is over only after every request failed with the last endpoint's loss is answered",
  async (t) => {
    const { clock, batcher, ep } = setup({ maxBatchSize: 2, maxQueueDelayMs: 1 });
    const order: string[] = [];
    const watch = (name: string, p: Promise<unknown>) => {
      p.then(
        () => order.push(name),
        () => order.push(name),
      );
    };
    watch("x", batcher.submit("q", docs("x", 0, 2), { ...opts, requestId: "x" }));
    watch("y1", batcher.submit("q", docs("y", 0, 1), { ...opts, requestId: "y1" }));
    watch("y2", batcher.submit("q", docs("y", 1, 1), { ...opts, requestId: "y2" }));
    await clock.advance(1);
    t.same(ep.sizes, [2], "x out, y1 and y2 waiting for the only slot");
    watch("drain", batcher.drain());
    await settle();
    ep.state = "ejected";
    ep.calls.shift()!.fail(new Error("connection reset"));
    await settle();
    t.same(order, ["x", "y1", "y2", "drain"]);
  },
);
