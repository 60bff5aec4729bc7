import { status } from "@grpc/grpc-js";
import t from "tap";
import type { BatchController } from "../../src/batching/controller.js";
import { CallCancellation } from "../../src/util/cancel-signal.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

/** Sends one full batch of 8 through `ep` and answers it after `ms`: the batcher learns a batch time of `ms`. */
async function learnBatchTime(s: ReturnType<typeof setup>, ep: ManualEndpoint, ms: number): Promise<void> {
  const warm = track(s.batcher.submit("q", docs("warm", 0, 8), { ...opts, requestId: "warm" }));
  await settle();
  const call = ep.calls.shift()!;
  await s.clock.advance(ms);
  call.answer();
  await settle();
  if (warm.value === undefined) throw new Error("the warm-up request was not answered");
}

t.test("after abortAll, new requests are refused UNAVAILABLE as during shutdown", async (t) => {
  const { batcher, ep } = setup({ maxQueueDelayMs: 0 });
  batcher.abortAll(new GatewayError("SHUTTING_DOWN", "bye"));
  const refused = track(batcher.submit("q", docs("late", 0, 1), opts));
  await settle();
  t.equal(refused.error?.code, status.UNAVAILABLE);
  t.equal(refused.error?.reason, "SHUTTING_DOWN");
  t.equal(refused.error?.message, "backend student: gateway is shutting down");
  t.equal(ep.received, 0, "nothing sent");
});

t.test("abortAll counts the queued items it drops as dropped for shutdown", async (t) => {
  const { batcher, ep, rec, metric } = setup({ maxQueueDelayMs: 0, maxBatchSize: 2 });
  const inflight = track(batcher.submit("q", docs("a", 0, 2), { ...opts, requestId: "inflight" }));
  const queued = track(batcher.submit("q", docs("b", 0, 3), { ...opts, requestId: "queued" }));
  await settle();
  t.same(ep.sizes, [2], "one batch in flight, three items queued");
  batcher.abortAll(new GatewayError("SHUTTING_DOWN", "bye"));
  await settle();
  t.equal(inflight.error?.reason, "SHUTTING_DOWN");
  t.equal(queued.error?.reason, "SHUTTING_DOWN");
  t.same(rec.dropped, { shutdown: 3 }, "only the unsent items count as dropped");
  t.equal(await metric("items_dropped_total", { reason: "shutdown" }), 3);
});

for (const kind of ["AbortController", "CallCancellation"] as const) {
  t.test(`a request whose signal (${kind}) is already aborted is refused CANCELLED at once`, async (t) => {
    const { batcher, ep, clock, rec } = setup({ maxQueueDelayMs: 0 });
    const ac = kind === "AbortController" ? new AbortController() : new CallCancellation();
    ac.abort();
    const signal = ac instanceof AbortController ? ac.signal : ac;
    const r = track(batcher.submit("q", docs("a", 0, 2), { ...opts, signal }));
    await clock.advance(10);
    t.equal(r.error?.code, status.CANCELLED);
    t.equal(r.error?.reason, "CLIENT_CANCELLED");
    t.equal(r.error?.message, "request cancelled by the client");
    t.equal(ep.received, 0, "nothing sent");
    t.equal(batcher.queuedItems, 0);
    t.same(rec.dropped, {}, "never queued, so nothing dropped");
  });
}

t.test("a request cancelled while queued is answered CLIENT_CANCELLED", async (t) => {
  const { batcher, ep } = setup({ maxQueueDelayMs: 100 });
  const ac = new AbortController();
  const r = track(batcher.submit("q", docs("a", 0, 2), { ...opts, signal: ac.signal }));
  await settle();
  ac.abort();
  await settle();
  t.equal(r.error?.code, status.CANCELLED);
  t.equal(r.error?.reason, "CLIENT_CANCELLED");
  t.equal(r.error?.message, "request cancelled by the client");
  t.equal(ep.received, 0);
});

t.test("a deadline already reached at submit is refused before queueing", async (t) => {
  const { batcher, ep, clock, rec } = setup({ maxQueueDelayMs: 0 });
  const r = track(batcher.submit("q", docs("a", 0, 3), { ...opts, deadlineMs: clock.now() }));
  await settle();
  t.equal(r.error?.code, status.DEADLINE_EXCEEDED);
  t.equal(r.error?.reason, "DEADLINE_EXCEEDED");
  t.equal(r.error?.message, "deadline exceeded before queueing");
  t.same(rec.dropped, { deadline: 3 });
  t.equal(ep.received, 0);
});

t.test(
  "shedding: the predicted wait counts the items in flight, the items queued ahead and a batch for its own",
  async (t) => {
    const s = setup({ maxBatchSize: 8, maxConcurrentBatches: 2, shedUnreachableDeadlines: true });
    const { batcher, ep, clock, rec } = s;
    await learnBatchTime(s, ep, 10);
    // Both slots busy (16 items in flight, just sent), 16 items (2 batches of 8) queued.
    for (const id of ["s1", "s2", "q1", "q2"]) track(batcher.submit("q", docs(id, 0, 8), opts));
    await settle();
    t.same(ep.sizes, [8, 8]);
    t.equal(batcher.queuedItems, 16);
    // No rate measured yet: 1 endpoint × 2 slots × 8 items per 10 ms = 1.6 items/ms. The 32 items
    // in flight and queued ahead take 20 ms, then its own batch one batch time: 30 ms; with the
    // 10 ms margin kept before a deadline (5% of 30 ms is less), a deadline 40 ms away is needed.
    const late = track(batcher.submit("q", docs("late", 0, 1), { ...opts, deadlineMs: clock.now() + 39 }));
    await settle();
    t.equal(late.error?.code, status.RESOURCE_EXHAUSTED);
    t.equal(late.error?.reason, "PREDICTED_DEADLINE_MISS");
    t.equal(
      late.error?.message,
      "backend student: overloaded; the 16 items queued ahead would take about 30 ms, " +
        "past the request's deadline in 39 ms (less 10 ms kept for the prediction's error)",
    );
    const justInTime = track(
      batcher.submit("q", docs("ok", 0, 1), { ...opts, requestId: "ok", deadlineMs: clock.now() + 40 }),
    );
    await settle();
    t.equal(justInTime.settled, 0, "a deadline exactly at the predicted answer and the margin is admitted");
    t.equal(batcher.queuedItems, 17);
    t.same(rec.rejected, ["deadline_unreachable"]);
    // And 30 ms is when it is answered: the batches in flight are answered at 10 ms, those queued
    // at 20 ms, and only then does its own batch leave, to be answered one batch time later.
    for (let round = 0; round < 2; round++) {
      await clock.advance(10);
      for (const call of ep.calls.splice(0)) call.answer();
      await settle();
    }
    t.same(
      ep.calls.map((c) => c.batch.documents),
      [["ok#0"]],
      "its batch leaves at 20 ms",
    );
    await clock.advance(9);
    ep.calls.shift()!.answer();
    await settle();
    t.ok(justInTime.value, "answered within its deadline");
  },
);

t.test("shedding: the predicted wait counts the slots of usable endpoints only", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  b.state = "ejected";
  const s = setup({ maxBatchSize: 8, maxConcurrentBatches: 1, shedUnreachableDeadlines: true }, [a, b]);
  const { batcher, clock } = s;
  await learnBatchTime(s, a, 10);
  for (const id of ["s1", "q1", "q2"]) track(batcher.submit("q", docs(id, 0, 8), opts));
  await settle();
  t.same(a.sizes, [8]);
  t.equal(b.received, 0);
  // The one slot of a: 8 items per 10 ms. 8 in flight and 16 queued: 30 ms, then its own batch: 40 ms.
  const r = track(batcher.submit("q", docs("late", 0, 1), { ...opts, deadlineMs: clock.now() + 35 }));
  await settle();
  t.equal(r.error?.reason, "PREDICTED_DEADLINE_MISS");
  t.match(r.error?.message, /about 40 ms, past the request's deadline in 35 ms/);
});

t.test("shedding: with nothing queued a request is admitted, however slow the backend", async (t) => {
  const s = setup({ maxBatchSize: 8, maxQueueDelayMs: 0, shedUnreachableDeadlines: true });
  const { batcher, ep, clock, rec } = s;
  await learnBatchTime(s, ep, 10);
  const r = track(batcher.submit("q", docs("a", 0, 1), { ...opts, deadlineMs: clock.now() + 5 }));
  await settle();
  t.equal(r.settled, 0, "admitted");
  t.same(ep.sizes, [1], "and sent");
  t.same(rec.rejected, []);
  ep.calls[0]!.answer();
  await settle();
  t.ok(r.value, "answered");
});

t.test("a controller proposing a batch size below 1 gets batches of one item", async (t) => {
  const controller: BatchController = {
    batchSize: () => 0.5,
    queueDelayMs: () => 0,
    itemsAdmitted: () => {},
    batchCompleted: () => {},
    requestCompleted: () => {},
  };
  const { batcher, ep, rec } = setup({ controller, maxConcurrentBatches: 3 });
  const r = track(batcher.submit("q", docs("a", 0, 3), opts));
  await settle();
  t.same(ep.sizes, [1, 1, 1]);
  t.same(rec.targets, [[1, 0]], "the target reported is one item");
  for (const call of ep.calls) call.answer();
  await settle();
  t.ok(r.value);
});

t.test(
  "no endpoint usable, some ejected: the error says the breakers are open and lists every endpoint",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    a.state = "ejected";
    b.state = "not-ready";
    const { batcher, rec } = setup({}, [a, b]);
    const r = track(batcher.submit("q", docs("x", 0, 1), opts));
    await settle();
    t.equal(r.error?.code, status.UNAVAILABLE);
    t.equal(r.error?.reason, "BACKEND_CIRCUIT_OPEN");
    t.equal(
      r.error?.message,
      "backend student: no endpoint available, circuit breakers open (a ejected, b not-ready)",
    );
    t.same(rec.rejected, ["circuit_open"]);
  },
);

t.test("no endpoint ready, none ejected: NO_READY_ENDPOINT", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  a.state = "not-ready";
  b.state = "not-ready";
  const { batcher, rec } = setup({}, [a, b]);
  const r = track(batcher.submit("q", docs("x", 0, 1), opts));
  await settle();
  t.equal(r.error?.code, status.UNAVAILABLE);
  t.equal(r.error?.reason, "NO_READY_ENDPOINT");
  t.equal(r.error?.message, "backend student: no ready endpoint (a not-ready, b not-ready)");
  t.same(rec.rejected, ["no_ready_endpoint"]);
});

t.test("no endpoints at all: the error says none are configured or resolved", async (t) => {
  const { batcher, rec } = setup({}, []);
  const r = track(batcher.submit("q", docs("x", 0, 1), opts));
  await settle();
  t.equal(r.error?.reason, "NO_READY_ENDPOINT");
  t.equal(
    r.error?.message,
    "backend student: no ready endpoint (no endpoints: none configured, or DNS names resolved to no address)",
  );
  t.same(rec.rejected, ["no_ready_endpoint"]);
});

t.test("half-open trial: only a trial that carries this batcher's own batch admits requests", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  b.state = "ejected";
  const { batcher, rec } = setup({ maxQueueDelayMs: 0 }, [a, b]);
  const trial = track(batcher.submit("q", docs("t", 0, 1), { ...opts, requestId: "trial" }));
  await settle();
  t.equal(a.received, 1, "this batcher's batch is at a");

  // a's breaker opened with our batch still in flight, but no trial: nothing certain to wake a queue.
  a.state = "ejected";
  const noTrial = track(batcher.submit("q", docs("n", 0, 1), { ...opts, requestId: "no-trial" }));
  await settle();
  t.equal(noTrial.error?.reason, "BACKEND_CIRCUIT_OPEN", "refused at once");
  t.same(rec.rejected, ["circuit_open"]);

  // a is on trial with our batch, b is simply open: the request waits for the trial.
  a.onTrial = true;
  const waits = track(batcher.submit("q", docs("w", 0, 1), { ...opts, requestId: "waits" }));
  await settle();
  t.equal(waits.settled, 0, "queued for the trial");
  t.equal(batcher.queuedItems, 1);

  // b goes on trial for another batcher (none of ours in flight there); a's trial fails.
  b.onTrial = true;
  a.onTrial = false;
  a.calls.shift()!.fail(new GatewayError("BACKEND_UNAVAILABLE", "trial failed"));
  await settle();
  t.equal(trial.error?.reason, "BACKEND_UNAVAILABLE");
  t.equal(waits.error?.reason, "BACKEND_CIRCUIT_OPEN", "the queued request fails with the breakers' state");
  t.same(rec.rejected, ["circuit_open"], "a queued request failing is not an admission rejection");

  // Another batcher's trial on b does not admit: nothing of ours would come back to pump the queue.
  const other = track(batcher.submit("q", docs("o", 0, 1), { ...opts, requestId: "other" }));
  await settle();
  t.equal(other.error?.reason, "BACKEND_CIRCUIT_OPEN");
  t.same(rec.rejected, ["circuit_open", "circuit_open"], "refused at admission, and counted");
  t.same(Object.fromEntries(rec.answers), { trial: 1, waits: 1 }, "the admitted requests answered once each");
});

t.test("refusalFor: the load refusal a request would meet, counted once, nothing evicted", async (t) => {
  const { batcher, ep, rec } = setup({ maxQueueDelayMs: 0, maxBatchSize: 4, maxQueueItems: 8 });
  track(batcher.submit("q", docs("flight", 0, 4), { ...opts, requestId: "flight" }));
  const bulk = track(
    batcher.submit("q", docs("bulk", 0, 6), { ...opts, requestId: "bulk", priority: "bulk" }),
  );
  track(batcher.submit("q", docs("i", 0, 2), { ...opts, requestId: "i" }));
  await settle();
  t.same(ep.sizes, [4], "one batch in flight; 8 items queued, 6 of them bulk");
  // 8 queued of 8: 3 more bulk items do not fit and have nothing below them to evict.
  const full = batcher.refusalFor(3, { ...opts, priority: "bulk" });
  t.equal(full?.reason, "BATCH_QUEUE_FULL");
  t.equal(full?.message, "backend student: queue full (8 of 8 items waiting; request has 3 documents)");
  t.same(rec.rejected, ["queue_full"], "counted as a submit's refusal is");
  t.same(rec.shed, ["/bulk refused"]);
  // 3 interactive items fit by evicting bulk work: not a refusal, and nothing is evicted yet.
  t.equal(batcher.refusalFor(3, opts), undefined);
  t.equal(bulk.settled, 0, "the bulk request is still queued");
  t.equal(batcher.queuedItems, 8);
  t.same(rec.rejected, ["queue_full"], "nothing more counted");
});

t.test("refusalFor leaves other verdicts to submit: a passed deadline is not a load refusal", async (t) => {
  const { batcher, clock, rec } = setup({ maxQueueDelayMs: 0 });
  t.equal(batcher.refusalFor(1, { ...opts, deadlineMs: clock.now() - 1 }), undefined);
  t.same(rec.rejected, []);
  t.same(rec.dropped, {});
});
