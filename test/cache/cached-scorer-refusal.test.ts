import t from "tap";
import { createCachedScorer } from "../../src/cache/cached-scorer.js";
import { ScoreStore } from "../../src/cache/score-store.js";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs } from "../helpers/manual-endpoint.js";

/** A batcher whose queue (8 items at most) is full, behind the score cache on (`maxBytes` > 0) or off. */
async function fullQueue(maxBytes: number) {
  const s = setup({ maxQueueDelayMs: 0, maxBatchSize: 4, maxQueueItems: 8 });
  track(s.batcher.submit("q", docs("flight", 0, 4), { ...opts, requestId: "flight" }));
  track(s.batcher.submit("q", docs("queued", 0, 8), { ...opts, requestId: "queued" }));
  await settle();
  const scorer = createCachedScorer({
    backend: "student",
    batcher: s.batcher,
    store: new ScoreStore({ maxBytes, ttlMs: 0 }, { clock: s.clock }),
    identity: () => ({ name: "m", version: "1" }),
    configDigest: "digest",
    clock: s.clock,
  });
  return { ...s, scorer };
}

t.test("the score cache off: the batcher's load refusal is told before the texts", async (t) => {
  const { scorer, rec } = await fullQueue(0);
  t.equal(scorer.refusalFor?.(3, opts)?.reason, "BATCH_QUEUE_FULL");
  t.same(rec.rejected, ["queue_full"]);
});

t.test("the score cache on: cached documents need no backend, so nothing is told early", async (t) => {
  const { scorer, rec } = await fullQueue(1 << 20);
  t.equal(scorer.refusalFor?.(3, opts), undefined, "the cache may answer them");
  t.same(rec.rejected, [], "nothing counted");
  // Bypassing the cache, every document goes to the backend: told early again.
  t.equal(scorer.refusalFor?.(3, { ...opts, cachePolicy: "bypass" })?.reason, "BATCH_QUEUE_FULL");
  t.same(rec.rejected, ["queue_full"]);
});
