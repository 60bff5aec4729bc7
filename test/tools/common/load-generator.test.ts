import t from "tap";
import { runClosedLoop } from "../../../src/tools/common/load-generator.js";
import { createWorkload, type TuneRequest } from "../../../src/tools/common/workload.js";
import { systemClock } from "../../../src/util/clock.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

t.test(
  "closed loop: never more than `concurrency` requests outstanding; throughput ≈ N / latency",
  async (t) => {
    let outstanding = 0;
    let most = 0;
    let sent = 0;
    const windows: boolean[] = [];
    const result = await runClosedLoop({
      concurrency: 4,
      warmupMs: 100,
      durationMs: 600,
      workload: createWorkload({ docsPerRequest: 5 }),
      send: async (r: TuneRequest) => {
        t.equal(r.documents.length, 5);
        sent++;
        outstanding++;
        most = Math.max(most, outstanding);
        await sleep(20);
        outstanding--;
      },
      clock: systemClock,
      onWindow: (open) => windows.push(open),
    });
    t.equal(most, 4, "exactly `concurrency` in flight at the peak");
    t.same(windows, [true, false], "the window opens after the warm-up and closes once");
    t.equal(result.errors, 0);
    t.equal(result.aborted, false);
    // The window's length is computed from clock readings: equal to 600 ms up to floating-point rounding.
    t.ok(Math.abs(result.measuredMs - 600) < 1e-6, `measured ${result.measuredMs} ms`);
    t.equal(result.items, result.requests * 5);
    t.ok(sent > result.requests, "warm-up requests are sent but not counted");
    // 4 workers × 5 items every ≥ 20 ms: at most 1000 items/s; timers only ever run late.
    const itemsPerS = result.windowItems / 0.6;
    t.ok(itemsPerS <= 1000 * 1.02, `${itemsPerS} items/s ≤ 1000`);
    t.ok(itemsPerS > 1000 * 0.4, `${itemsPerS} items/s is in the right range`);
    t.ok(result.latency.p50Ms >= 19.5, `p50 ${result.latency.p50Ms} ms ≥ the 20 ms service time`);
    // Little's law, which the pro-rated count follows closely: N = X · mean latency.
    const littles = (4 * 5) / (result.latency.meanMs / 1000);
    t.ok(Math.abs(itemsPerS - littles) / littles < 0.15, `${itemsPerS} ≈ ${littles} (Little's law)`);
  },
);

t.test("slow answers straddling the window are pro-rated, not counted whole", async (t) => {
  // One worker, 300 ms per request, a 450 ms window from 100 ms: it sees 1.5 requests' worth.
  const result = await runClosedLoop({
    concurrency: 1,
    warmupMs: 100,
    durationMs: 450,
    workload: createWorkload({ docsPerRequest: 10 }),
    send: () => sleep(300),
    clock: systemClock,
  });
  t.equal(result.requests, 1, "one request completes inside the window");
  t.ok(Math.abs(result.windowItems - 15) < 1.5, `${result.windowItems} ≈ 15 items`);
});

t.test("failures are counted with their messages, and the worker backs off", async (t) => {
  let calls = 0;
  const mixed = await runClosedLoop({
    concurrency: 2,
    warmupMs: 0,
    durationMs: 200,
    workload: createWorkload({ docsPerRequest: 1 }),
    send: async () => {
      calls++;
      if (calls % 2 === 0) throw new Error("backend student: queue full");
      await sleep(5);
    },
    clock: systemClock,
  });
  t.ok(mixed.errors > 0);
  t.same(mixed.errorSamples, ["backend student: queue full"], "distinct messages, once each");
  t.ok(mixed.requests > 0, "successes are still measured");

  // A backend that rejects at once: without the backoff this loop would spin on
  // microtasks, millions of times, and starve the timer that ends the run.
  const down = await runClosedLoop({
    concurrency: 2,
    warmupMs: 0,
    durationMs: 200,
    workload: createWorkload({ docsPerRequest: 1 }),
    send: () => Promise.reject(new Error("no ready endpoint")),
    clock: systemClock,
    errorBackoffMs: 10,
  });
  t.equal(down.requests, 0);
  t.equal(down.windowItems, 0);
  t.ok(down.errors >= 10 && down.errors <= 2 * (200 / 10 + 2), `${down.errors} errors: one per backoff`);
  t.same(down.errorSamples, ["no ready endpoint"]);
});

t.test("an abort ends the run early and says so", async (t) => {
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 150);
  const started = performance.now();
  const result = await runClosedLoop({
    concurrency: 3,
    warmupMs: 50,
    durationMs: 10_000,
    workload: createWorkload({ docsPerRequest: 2 }),
    send: () => sleep(10),
    clock: systemClock,
    signal: stop.signal,
  });
  t.ok(performance.now() - started < 2000, "returns soon after the abort");
  t.equal(result.aborted, true);
  t.ok(result.measuredMs < 500, `measured ${result.measuredMs} ms, up to the abort`);
});
