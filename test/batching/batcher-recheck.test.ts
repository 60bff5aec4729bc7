import t from "tap";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs } from "../helpers/manual-endpoint.js";

/**
 * A request admitted in time can be pushed past its deadline while it waits
 * (the backend slows down, work arrives in a band above): with
 * shedUnreachableDeadlines the batcher checks the queued requests' predicted
 * waits against their deadlines while work waits for the backend, and sheds
 * those that can no longer make it at once, with retry advice, instead of
 * holding them until their deadline.
 *
 * One endpoint, one call at a time, batches of 8, one bulk client "c" (its
 * own arrivals never get ahead of it, so no arrival rate enters the waits).
 * A first batch of 10 ms sets the recent batch time: 8 items per 10 ms.
 */
async function slowingBackend(shedUnreachableDeadlines: boolean) {
  const s = setup({ maxBatchSize: 8, maxQueueDelayMs: 0, maxConcurrentBatches: 1, shedUnreachableDeadlines });
  const bulk = (id: string, n: number, deadlineMs?: number) =>
    track(
      s.batcher.submit("q", docs(id, 0, n), {
        ...opts,
        requestId: id,
        client: "c",
        priority: "bulk",
        deadlineMs,
      }),
    );
  bulk("warm", 8);
  await settle();
  await s.clock.advance(10);
  s.ep.calls.shift()!.answer();
  await settle();
  const t0 = s.clock.now();
  bulk("busy", 8);
  bulk("c0", 80);
  // Admitted: 8 in flight, 80 ahead and its own 8 at 0.8 items/ms is 120 ms, and the 10 ms margin, within 150.
  const tight = bulk("c1", 8, t0 + 150);
  // 8 + 88 + 8 items: 130 ms, well within 1,000.
  const loose = bulk("c2", 8, t0 + 1000);
  await settle();
  // The backend slows down: the busy batch takes 100 ms. The recent batch time becomes
  // 0.8 · 10 + 0.2 · 100 = 28 ms, so 8 items per 28 ms; the next batch takes 8 of c0's items.
  await s.clock.advance(100);
  s.ep.calls.shift()!.answer();
  await settle();
  return { ...s, t0, tight, loose };
}

t.test("a queued request whose predicted wait grows past its deadline is shed at once", async (t) => {
  const { t0, tight, loose, clock, ep, rec, metric } = await slowingBackend(true);
  // c1 now waits for 8 items in flight, c0's 72 left and its own 8: 88 items at 8 per 28 ms,
  // 308 ms, past its deadline 50 ms away. c2, behind it, would wait the same 308 ms (c1 gone),
  // within its 900 ms.
  t.equal(tight.error?.reason, "PREDICTED_DEADLINE_MISS", "answered now, not at its deadline");
  t.equal(clock.now(), t0 + 100);
  t.equal(tight.error?.code, 8, "RESOURCE_EXHAUSTED");
  t.match(
    tight.error?.message,
    /would now wait about 308 ms more for the work ahead of it, past its deadline in 50 ms/,
  );
  t.equal(tight.error?.retryAfterMs, 258, "when the wait would fit: 308 − 50 ms");
  t.same(rec.shed, ["c/bulk unreachable"]);
  t.same(rec.dropped, { unreachable: 8 });
  t.equal(await metric("client_requests_shed_total", { client: "c", band: "bulk", how: "unreachable" }), 1);
  t.equal(await metric("items_dropped_total", { reason: "unreachable" }), 8);
  t.equal(loose.settled, 0, "the request that can still make it waits");
  // And it does make it: the batch in flight, c0's 72 items and c2's 8, eleven batches of 28 ms,
  // 308 ms as predicted.
  while (loose.settled === 0) {
    await clock.advance(28);
    ep.calls.shift()!.answer();
    await settle();
  }
  t.ok(loose.value, "answered");
  t.equal(clock.now(), t0 + 100 + 308);
  t.same(rec.shed, ["c/bulk unreachable"], "nothing else was shed");
});

t.test("without shedUnreachableDeadlines the request waits until its deadline", async (t) => {
  const { t0, tight, clock, rec } = await slowingBackend(false);
  t.equal(tight.settled, 0, "still queued at t0 + 100");
  await clock.advance(50);
  await settle();
  t.equal(tight.error?.reason, "DEADLINE_EXCEEDED");
  t.equal(clock.now(), t0 + 150);
  t.same(rec.shed, []);
  t.same(rec.dropped, { deadline: 8 });
});
