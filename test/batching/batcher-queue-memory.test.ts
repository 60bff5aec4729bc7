import t from "tap";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { docs } from "../helpers/manual-endpoint.js";

/** What compaction may leave on top of twice the live segments (see Batcher: dead ≤ live + this). */
const SLACK = 64;

t.test(
  "sustained interactive overload: expired bulk requests behind a live bulk head are not retained",
  async (t) => {
    const { clock, batcher, ep } = setup({ maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueItems: 100_000 });
    track(batcher.submit("q", docs("busy", 0, 4), opts)); // takes the only slot
    // A bulk request with no deadline: it stays live at the head of the bulk queue while
    // interactive work takes every batch.
    const head = track(batcher.submit("q", docs("head", 0, 2), { ...opts, priority: "bulk" }));
    const all: ReturnType<typeof track>[] = [head];
    t.equal(batcher.retainedSegments, 1, "the bulk head is queued");
    let worst = 0;
    for (let round = 0; round < 2000; round++) {
      // Interactive work arrives faster than it is served; bulk work expires behind the head.
      all.push(
        track(batcher.submit("q", docs(`i${round}`, 0, 3), { ...opts, deadlineMs: clock.now() + 20 })),
      );
      all.push(
        track(
          batcher.submit("q", docs(`b${round}`, 0, 5), {
            ...opts,
            priority: "bulk",
            deadlineMs: clock.now() + 20,
          }),
        ),
      );
      if (round % 3 === 0) for (const c of ep.calls.splice(0)) c.answer();
      await clock.advance(1);
      const live = all.filter((s) => s.settled === 0).length;
      const excess = batcher.retainedSegments - 2 * live;
      if (excess > worst) worst = excess;
    }
    const expired = all.filter((s) => s.error?.reason === "DEADLINE_EXCEEDED").length;
    t.ok(expired > 1000, `the overload expired requests (${expired})`);
    t.equal(head.settled, 0, "the bulk head is still live");
    t.ok(worst <= SLACK, `segments retained stay within 2 × live + ${SLACK} (worst excess ${worst})`);
  },
);
