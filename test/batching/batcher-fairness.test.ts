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
