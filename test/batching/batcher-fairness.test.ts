import t from "tap";
import { expectRows, opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs } from "../helpers/manual-endpoint.js";

/** Which requests' documents a batch carries, with counts ("big:56 small:8"). */
function composition(documents: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const d of documents) {
    const who = d.slice(0, d.indexOf("#"));
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  return [...counts].map(([who, n]) => `${who}:${n}`).join(" ");
}

/** One 1,000-document request, then one of 8 from someone else; one endpoint, one batch at a time. */
async function bigThenSmall(bigClient: string | undefined, smallClient: string | undefined) {
  const { batcher, ep } = setup({ maxBatchSize: 64, maxQueueDelayMs: 0, maxConcurrentBatches: 1 });
  const big = track(
    batcher.submit("q", docs("big", 0, 1000), { ...opts, requestId: "big", client: bigClient }),
  );
  await settle();
  const small = track(
    batcher.submit("q", docs("small", 0, 8), { ...opts, requestId: "small", client: smallClient }),
  );
  await settle();
  const batches: string[] = [];
  // Answer batch after batch until the small request is answered.
  while (small.settled === 0) {
    const call = ep.calls.shift()!;
    batches.push(composition(call.batch.documents));
    call.answer();
    await settle();
  }
  return { batches, big, small };
}

t.test("another client's small request waits at most one batch behind a huge one", async (t) => {
  const { batches, big, small } = await bigThenSmall("indexer", "search");
  // The first batch had left before it arrived; the next one is shared turn by turn:
  // big 16, small 8 (all of it), then big alone fills the batch.
  t.same(batches, ["big:64", "big:56 small:8"]);
  expectRows(t, small.value, docs("small", 0, 8));
  t.equal(big.settled, 0, "the huge request is still being served");
});

t.test("from the same client, requests are first come, first served", async (t) => {
  const { batches, small } = await bigThenSmall(undefined, undefined);
  // ⌈1000 / 64⌉ = 16 batches: the small request rides in the last one, with big's last 40.
  t.equal(batches.length, 16);
  t.equal(batches.at(-1), "big:40 small:8");
  expectRows(t, small.value, docs("small", 0, 8));
});

t.test("background work waits for interactive and bulk work", async (t) => {
  const { batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 0, maxConcurrentBatches: 1 });
  track(batcher.submit("q", docs("first", 0, 8), { ...opts, requestId: "first" }));
  await settle();
  track(batcher.submit("q", docs("bg", 0, 4), { ...opts, requestId: "bg", priority: "background" }));
  track(batcher.submit("q", docs("bulk", 0, 4), { ...opts, requestId: "bulk", priority: "bulk" }));
  track(batcher.submit("q", docs("int", 0, 2), { ...opts, requestId: "int" }));
  await settle();
  ep.calls.shift()!.answer();
  await settle();
  t.equal(composition(ep.calls[0]!.batch.documents), "int:2 bulk:4 bg:2");
});

t.test("a backend's band shares are live: reconfigure gives background its share at once", async (t) => {
  const { batcher, ep } = setup({ maxBatchSize: 10, maxQueueDelayMs: 0, maxConcurrentBatches: 1 });
  track(batcher.submit("q", docs("first", 0, 10), { ...opts, requestId: "first" }));
  await settle();
  track(batcher.submit("q", docs("bg", 0, 100), { ...opts, requestId: "bg", priority: "background" }));
  track(batcher.submit("q", docs("int", 0, 100), { ...opts, requestId: "int" }));
  batcher.reconfigure({ ...batcher.limits, bandMinShare: { bulk: 0, background: 0.2 } });
  ep.calls.shift()!.answer();
  await settle();
  t.equal(composition(ep.calls[0]!.batch.documents), "bg:2 int:8");
});

t.test(
  "a full queue: interactive work evicts queued background work, which is told when to retry",
  async (t) => {
    const { batcher, ep, rec } = setup({
      maxBatchSize: 8,
      maxQueueDelayMs: 0,
      maxConcurrentBatches: 1,
      maxQueueItems: 20,
    });
    track(batcher.submit("q", docs("first", 0, 8), { ...opts, requestId: "first" }));
    await settle();
    const older = track(
      batcher.submit("q", docs("g0", 0, 5), { ...opts, requestId: "g0", priority: "background" }),
    );
    const newer = track(
      batcher.submit("q", docs("g1", 0, 10), { ...opts, requestId: "g1", priority: "background" }),
    );
    t.equal(batcher.queuedItems, 15);
    const bulk = track(batcher.submit("q", docs("b", 0, 6), { ...opts, requestId: "b", priority: "bulk" }));
    await settle();
    t.equal(newer.error?.reason, "EVICTED_BY_PRIORITY", "the newest background request made room");
    t.equal(newer.error?.code, 8, "RESOURCE_EXHAUSTED");
    t.ok((newer.error?.retryAfterMs ?? 0) > 0, "with retry advice");
    t.equal(older.settled, 0, "the older one still waits");
    t.same(rec.dropped, { evicted: 10 });
    t.equal(batcher.queuedItems, 11);
    // Nothing below background: a background request finding the queue full is refused.
    const refused = track(
      batcher.submit("q", docs("g2", 0, 10), { ...opts, requestId: "g2", priority: "background" }),
    );
    await settle();
    t.equal(refused.error?.reason, "BATCH_QUEUE_FULL");
    ep.calls.shift()!.answer();
    await settle();
    t.equal(
      composition(ep.calls[0]!.batch.documents),
      "b:6 g0:2",
      "bulk first, then what background is left",
    );
    t.equal(bulk.settled, 0);
  },
);

t.test("the predicted wait counts only the work served before the request's band", async (t) => {
  const { batcher, ep, clock, rec } = setup({
    maxBatchSize: 8,
    maxQueueDelayMs: 0,
    maxConcurrentBatches: 1,
    shedUnreachableDeadlines: true,
  });
  // One batch of 10 ms sets the recent batch time.
  track(batcher.submit("q", docs("warm", 0, 8), { ...opts, requestId: "warm" }));
  await settle();
  await clock.advance(10);
  ep.calls.shift()!.answer();
  await settle();
  // A slot is busy; 400 background items wait: 50 batches of 8, 500 ms at 10 ms each.
  track(batcher.submit("q", docs("busy", 0, 8), { ...opts, requestId: "busy" }));
  track(batcher.submit("q", docs("g", 0, 400), { ...opts, requestId: "g", priority: "background" }));
  await settle();
  const deadlineMs = clock.now() + 100;
  const interactive = track(batcher.submit("q", docs("i", 0, 8), { ...opts, requestId: "i", deadlineMs }));
  const background = track(
    batcher.submit("q", docs("g2", 0, 8), { ...opts, requestId: "g2", priority: "background", deadlineMs }),
  );
  await settle();
  t.equal(interactive.settled, 0, "interactive is admitted: nothing is served before it");
  t.equal(background.error?.reason, "PREDICTED_DEADLINE_MISS", "background would wait behind 400 items");
  t.same(rec.rejected, ["deadline_unreachable"]);
  ep.calls.shift()!.answer();
  await settle();
  t.equal(composition(ep.calls[0]!.batch.documents), "i:8");
});

t.test("a client over maxQueueItemsPerClient is refused while another client is admitted", async (t) => {
  const { batcher, rec } = setup({
    maxBatchSize: 8,
    maxQueueDelayMs: 0,
    maxConcurrentBatches: 1,
    maxQueueItemsPerClient: 20,
  });
  track(batcher.submit("q", docs("first", 0, 8), { ...opts, requestId: "first", client: "a" }));
  await settle();
  track(batcher.submit("q", docs("a1", 0, 15), { ...opts, requestId: "a1", client: "a" }));
  const over = track(batcher.submit("q", docs("a2", 0, 6), { ...opts, requestId: "a2", client: "a" }));
  const other = track(batcher.submit("q", docs("b1", 0, 15), { ...opts, requestId: "b1", client: "b" }));
  await settle();
  t.equal(over.error?.reason, "BATCH_QUEUE_FULL");
  t.match(over.error?.message, /client a has 15 items queued, at most 20/);
  t.equal(other.settled, 0, "b is admitted");
  t.same(rec.rejected, ["client_queue_full"]);
});

t.test(
  "flow metrics: items served, queue wait and queued items by client and band; shed requests",
  async (t) => {
    const { batcher, ep, clock, rec, metric } = setup({
      maxBatchSize: 8,
      maxQueueDelayMs: 0,
      maxConcurrentBatches: 1,
      maxQueueItems: 20,
    });
    track(batcher.submit("q", docs("first", 0, 8), { ...opts, requestId: "first", client: "a" }));
    await settle();
    track(
      batcher.submit("q", docs("g", 0, 12), { ...opts, requestId: "g", client: "b", priority: "background" }),
    );
    track(batcher.submit("q", docs("i", 0, 6), { ...opts, requestId: "i", client: "a" }));
    await settle();
    t.equal(
      await metric("client_queued_items", { client: "b", band: "background" }),
      12,
      "read at scrape time",
    );
    t.equal(await metric("client_queued_items", { client: "a", band: "interactive" }), 6);
    // Full: 18 queued of 20; 4 more interactive items evict b's request.
    track(batcher.submit("q", docs("i2", 0, 4), { ...opts, requestId: "i2", client: "a" }));
    // And a background request is refused: nothing below background to evict.
    track(
      batcher.submit("q", docs("g2", 0, 20), {
        ...opts,
        requestId: "g2",
        client: "b",
        priority: "background",
      }),
    );
    await settle();
    t.same(rec.shed, ["b/background evicted", "b/background refused"]);
    t.equal(
      await metric("client_requests_shed_total", { client: "b", band: "background", how: "evicted" }),
      1,
    );
    t.equal(
      await metric("client_requests_shed_total", { client: "b", band: "background", how: "refused" }),
      1,
    );
    t.equal(
      await metric("client_queued_items", { client: "b", band: "background" }),
      0,
      "series gone when empty",
    );
    await clock.advance(3);
    ep.calls.shift()!.answer();
    await settle();
    t.same(rec.served, { "a/interactive": 16 }, "8 at first, then i's 6 and 2 of i2's");
    t.equal(await metric("client_items_served_total", { client: "a", band: "interactive" }), 16);
    t.equal(await metric("client_queue_wait_seconds", { client: "a", band: "interactive" }, "count"), 3);
    t.equal(
      await metric("client_queue_wait_seconds", { client: "a", band: "interactive" }, "sum"),
      0.006,
      "two waits of 3 ms",
    );
  },
);

t.test("anonymous requests are one client, named anonymous in the metrics", async (t) => {
  const { batcher, metric } = setup({ maxBatchSize: 8, maxQueueDelayMs: 0, maxConcurrentBatches: 1 });
  track(batcher.submit("q", docs("x", 0, 8), { ...opts, requestId: "x" }));
  await settle();
  t.equal(await metric("client_items_served_total", { client: "anonymous", band: "interactive" }), 8);
});

t.test(
  "the predicted wait follows fair sharing: a flooding client is shed, a light one admitted",
  async (t) => {
    const { batcher, ep, clock } = setup({
      maxBatchSize: 8,
      maxQueueDelayMs: 0,
      maxConcurrentBatches: 1,
      shedUnreachableDeadlines: true,
    });
    track(batcher.submit("q", docs("warm", 0, 8), { ...opts, requestId: "warm" }));
    await settle();
    await clock.advance(10);
    ep.calls.shift()!.answer();
    await settle();
    // The flooder has 400 items queued (50 batches, 500 ms at 10 ms each) behind a busy slot.
    track(batcher.submit("q", docs("busy", 0, 8), { ...opts, requestId: "busy", client: "flood" }));
    track(batcher.submit("q", docs("f", 0, 400), { ...opts, requestId: "f", client: "flood" }));
    await settle();
    const deadlineMs = clock.now() + 100;
    const light = track(
      batcher.submit("q", docs("l", 0, 8), { ...opts, requestId: "l", client: "light", deadlineMs }),
    );
    const more = track(
      batcher.submit("q", docs("f2", 0, 8), { ...opts, requestId: "f2", client: "flood", deadlineMs }),
    );
    await settle();
    t.equal(light.settled, 0, "the light client's 8 items share the next batch: admitted");
    t.equal(more.error?.reason, "PREDICTED_DEADLINE_MISS", "the flooder's would wait behind its own 400");
    ep.calls.shift()!.answer();
    await settle();
    // The flooder's turn had 8 of its 16 items left (its first 8 went in the busy batch).
    t.equal(composition(ep.calls[0]!.batch.documents), "f:8", "the rest of the flooder's turn");
    ep.calls.shift()!.answer();
    await settle();
    t.equal(composition(ep.calls[0]!.batch.documents), "l:8", "then the light client's turn");
  },
);

t.test("each batch is sent with the highest band among its requests", async (t) => {
  const { batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 0, maxConcurrentBatches: 1 });
  const submit = (id: string, n: number, priority: "interactive" | "bulk" | "background") =>
    track(batcher.submit("q", docs(id, 0, n), { ...opts, requestId: id, priority }));
  submit("first", 8, "background");
  await settle();
  // Queued behind it: background 6, bulk 4, interactive 2. Bands are served in order, so the next
  // batch is interactive 2 + bulk 4 + background 2, and the last background's remaining 4.
  submit("bg", 6, "background");
  submit("bulk", 4, "bulk");
  submit("int", 2, "interactive");
  await settle();
  const sent: string[] = [];
  while (ep.calls.length > 0) {
    const call = ep.calls.shift()!;
    sent.push(`${composition(call.batch.documents)} → ${call.ctx.band}`);
    call.answer();
    await settle();
  }
  t.same(sent, ["first:8 → background", "int:2 bulk:4 bg:2 → interactive", "bg:4 → background"]);
});
