import t from "tap";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs } from "../helpers/manual-endpoint.js";

/**
 * A backlogged client's request waits not only for the other clients' items
 * queued when it arrives, but for those they keep sending: fair sharing
 * gives them their share of every batch for as long as it waits.
 *
 * One endpoint, one call at a time, 8 items per 10 ms (0.8 items/ms). The
 * heavy client has a long queue; the light one sends 8 items every 20 ms
 * (0.4 items/ms, its half exactly), so every 20 ms the backend serves 8 of
 * each.
 */
function stack() {
  const s = setup({
    maxBatchSize: 8,
    maxConcurrentBatches: 1,
    maxQueueDelayMs: 0,
    maxQueueItems: 100_000,
    shedUnreachableDeadlines: true,
  });
  let n = 0;
  /** 20 ms: the light client sends 8 items, the backend answers two batches of 10 ms. */
  const step = async () => {
    track(s.batcher.submit("q", docs(`l${n++}`, 0, 8), { ...opts, requestId: "light", client: "light" }));
    for (let k = 0; k < 2; k++) {
      const call = s.ep.calls.shift()!;
      await s.clock.advance(10);
      call.answer();
      await settle();
    }
  };
  return { ...s, step };
}

t.test("shedding: a request's predicted wait counts what other clients keep sending", async (t) => {
  const { batcher, clock, step } = stack();
  for (let i = 0; i < 600; i++) {
    track(batcher.submit("q", docs(`h${i}`, 0, 8), { ...opts, requestId: `h${i}`, client: "heavy" }));
  }
  await settle();
  // 10 s of it: 500 light requests, the last 20 ms ago; the heavy client's queue down to 792 items.
  for (let i = 0; i < 500; i++) await step();
  t.equal(batcher.queuedItems, 792, "all of it the heavy client's");
  t.equal(batcher.inFlightBatches, 1);
  // The light client's rate: 8 items every 20 ms, each fading by e per 2 s, read 20 ms after the
  // last over the 10 s it has been sending: 8·Σ e^(−0.01·k), k = 1…500, over 2000·(1 − e^(−5)),
  // which is 8·e^(−0.01) / (2000·(1 − e^(−0.01))) = 0.398 items/ms. A heavy request of 8 waits for
  // the 8 items in flight, its client's 792 and its own 8 (808) while the light client takes 0.398
  // of the 0.8 items/ms (its room, 800 items, fills only at 800 / 0.398 = 2010.04 ms):
  // 808 / (0.8 − 0.398) = 2009.97 ms. Leaving out what the light client keeps sending, it would be
  // 808 / 0.8 = 1010 ms: about half.
  const lightPerMs = (8 * Math.exp(-0.01)) / (1 - Math.exp(-0.01)) / 2000;
  const expectedMs = 808 / (0.8 - lightPerMs);
  t.ok(expectedMs < 800 / lightPerMs, "the light client's room is not full by then");
  t.equal(Math.round(expectedMs), 2010);
  const refused = track(
    batcher.submit("q", docs("r", 0, 8), {
      ...opts,
      requestId: "r",
      client: "heavy",
      deadlineMs: clock.now() + 1500,
    }),
  );
  await settle();
  t.equal(refused.error?.reason, "PREDICTED_DEADLINE_MISS", "a 1.5 s deadline is refused at once");
  t.match(refused.error?.message, /would take about 2010 ms, past the request's deadline in 1500 ms/);
  // And about 2 s is what it takes: one admitted with a 2.2 s deadline (room for 2010 ms and the 5%
  // margin kept before a deadline, 100.5 ms) is answered after 2.02 s.
  const admittedMs = clock.now();
  const admitted = track(
    batcher.submit("q", docs("a", 0, 8), {
      ...opts,
      requestId: "a",
      client: "heavy",
      deadlineMs: admittedMs + 2200,
    }),
  );
  let steps = 0;
  while (admitted.settled === 0 && steps++ < 150) await step();
  t.ok(admitted.value, "answered within its deadline");
  t.equal(
    clock.now() - admittedMs,
    2020,
    "the batch in flight, then light and heavy turn by turn: 101 rounds of 20 ms",
  );
});
