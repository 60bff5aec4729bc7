import t from "tap";
import { createBackend } from "../../../src/backends/create-backend.js";
import { validateConfig } from "../../../src/config/index.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { createTritonSim } from "../../../src/tools/sim/triton/server.js";
import { backendBatchCap, planSweep, type TunePoint } from "../../../src/tools/tune/grid.js";
import { recommend } from "../../../src/tools/tune/recommend.js";
import { runSweep } from "../../../src/tools/tune/sweep.js";
import { systemClock } from "../../../src/util/clock.js";

/*
 * The acceptance test of `tune`: against the Triton simulator with a known
 * cost model, the recommendation for a p99 target is the batch size the cost
 * model's arithmetic says is best, within one grid step.
 *
 * The simulator runs a batch of n items in T(n) = BASE + PER_ITEM·n ms on one
 * instance. The backend is configured with one batch in flight, so every
 * batch also pays one round trip (RT), and no batch hides behind another. The
 * load is closed: C workers, each with one request of DOCS documents
 * outstanding, so N = C·DOCS items are always in the system. The queue delay
 * is longer than any batch takes, so a partial batch always waits until the
 * items of the batch ahead come back: this makes the steady state independent
 * of scheduling noise (with a short delay, a worker preempted for a few ms
 * splits a batch, and the split persists). In the steady state, for batch cap B:
 *
 *  - N = B: every request is answered by the same full batch, and all come
 *    back together: items/s = N / (T(N) + RT), p99 ≈ T(N) + RT.
 *  - N ≥ 2B (the grid has powers of two, so B divides N): full batches, one
 *    after the other: items/s = B / (T(B) + RT); a request waits for all N/B
 *    batches in the system: p99 ≈ (N/B)·(T(B) + RT).
 *  - N < B: the batch never fills, so every cycle also waits the delay:
 *    items/s = N / (T(N) + DELAY + RT), p99 ≈ T(N) + DELAY + RT.
 *
 * Items/s grows with the batch (BASE is paid once per batch), so the best
 * setting for a target P is the largest grid B with T(B) + RT ≤ P, at N = B.
 * With BASE 40 ms and PER_ITEM 1.5 ms, T(32) = 88, T(64) = 136, T(128) = 232,
 * T(256) = 424:
 *
 *  - a 225 ms target gives 64: B 64 at N = 64 makes 64 / 141 ms ≈ 454
 *    items/s with p99 ≈ 141 ms; the runner-up, B 32 (at N = 32 or 64), makes
 *    32 / 93 ms ≈ 344; no setting with batches of 128 answers within 225 ms
 *    (p99 ≥ T(128) = 232);
 *  - a 420 ms target gives 128: B 128 at N = 128 makes 128 / 237 ms ≈ 540
 *    items/s with p99 ≈ 237 ms, ahead of B 64 (454 items/s); B 256 never
 *    fills at these loads, so it waits the delay and misses the target.
 *
 * The margins are wide on purpose, so that a loaded two-core machine (tap runs
 * test files in parallel) does not change the answer by more than a step:
 * each winner's p99 is 80 ms or more under its target and its throughput
 * 15% or more above the runner-up's (which covers the gateway's and the
 * simulator's own per-item work, left out above); nothing with a larger batch
 * can meet the target at all, because the simulator's batch times (or the
 * delay), which no scheduling noise can shorten, exceed it. A stall that
 * pushes the winner over its target makes the answer one step smaller; two
 * steps would need every setting of two batch sizes to fail.
 */
const BASE_MS = 40;
const PER_ITEM_MS = 1.5;
const DOCS = 8;
const DELAY_MS = 300;
const RT_MS = 5;
const BATCH_SIZES = [16, 32, 64, 128, 256];
const CONCURRENCY = [4, 8, 16];
const TOLERANCE_PERCENT = 3;
const batchMs = (n: number) => BASE_MS + PER_ITEM_MS * n;

/** The steady state above, for one grid point. */
function predict(p: TunePoint): { itemsPerS: number; p99Ms: number } {
  const n = p.concurrency * DOCS;
  const b = p.maxBatchSize;
  if (n >= 2 * b)
    return { itemsPerS: (b / (batchMs(b) + RT_MS)) * 1000, p99Ms: (n / b) * (batchMs(b) + RT_MS) };
  const cycleMs = batchMs(n) + (n < b ? p.maxQueueDelayMs : 0) + RT_MS;
  return { itemsPerS: (n / cycleMs) * 1000, p99Ms: cycleMs };
}

/** The recommendation rule applied to the predictions instead of measurements. */
function arithmeticBest(points: readonly TunePoint[], targetMs: number): number {
  const ok = points.map((p) => ({ p, ...predict(p) })).filter((x) => x.p99Ms <= targetMs);
  const best = Math.max(...ok.map((x) => x.itemsPerS));
  const near = ok.filter((x) => x.itemsPerS >= best * (1 - TOLERANCE_PERCENT / 100));
  return Math.min(...near.map((x) => x.p.maxBatchSize));
}

t.test("the recommended batch size is the cost model's best for the p99 target", async (t) => {
  const sim = await createTritonSim({
    port: 0,
    models: [{ name: "relevance_student", maxBatchSize: 256 }],
    cost: { baseMs: BASE_MS, perItemMs: PER_ITEM_MS, instances: 1 },
  });
  t.teardown(() => sim.close());
  // Built from a config exactly as the gateway and the CLI build it.
  const cfg = validateConfig({
    backends: {
      student: {
        kind: "triton",
        endpoints: [sim.address],
        model: "relevance_student",
        batching: { maxConcurrentBatches: 1 },
      },
    },
    routing: { default: "student" },
  });
  const backendCfg = cfg.backends.student!;
  const client = createBackend("student", backendCfg, { clock: systemClock, logger: silentLogger() });
  t.teardown(() => client[Symbol.asyncDispose]());
  await client.start();
  t.ok(client.isReady(), "the simulator is ready");
  t.equal(backendBatchCap(client.endpoints()), 256, "the simulator's max_batch_size is learnt");

  const plan = planSweep(
    { batchSizes: BATCH_SIZES, delaysMs: [DELAY_MS], concurrency: CONCURRENCY },
    backendBatchCap(client.endpoints()),
  );
  t.equal(plan.points.length, 15);
  t.equal(plan.capped, undefined, "no grid size is above the cap");
  // The arithmetic itself, spelled out: these are the answers the measurements must reproduce.
  t.equal(arithmeticBest(plan.points, 225), 64);
  t.equal(arithmeticBest(plan.points, 420), 128);

  const started = performance.now();
  const sweep = await runSweep({
    backend: "student",
    endpoints: () => client.endpoints(),
    points: plan.points,
    docsPerRequest: DOCS,
    warmupMs: 250,
    durationMs: 800,
    maxConcurrentBatches: backendCfg.batching.maxConcurrentBatches,
    maxQueueItems: backendCfg.batching.maxQueueItems,
    callTimeoutMs: backendCfg.timeoutMs,
  });
  t.comment(`sweep of ${sweep.points.length} points took ${Math.round(performance.now() - started)} ms`);
  t.equal(sweep.interrupted, false);
  t.equal(sweep.points.length, 15);
  for (const p of sweep.points) {
    const predicted = predict(p);
    t.comment(
      `batch ${p.maxBatchSize} conc ${p.concurrency}: ${Math.round(p.itemsPerS)} items/s ` +
        `(predicted ${Math.round(predicted.itemsPerS)}), p99 ${p.latency.p99Ms.toFixed(1)} ms ` +
        `(predicted ${predicted.p99Ms.toFixed(0)}), mean batch ${p.meanBatchItems.toFixed(1)}`,
    );
    t.equal(p.errors, 0, `batch ${p.maxBatchSize} conc ${p.concurrency}: no errors`);
    t.ok(p.requests > 0, "requests were answered in the window");
    // Physical bounds no noise can break: a batch never exceeds the cap or the load, a request
    // takes at least its own batch's time, and no setting beats the instance's rate for the
    // largest batch it can form.
    const largest = Math.min(p.maxBatchSize, p.concurrency * DOCS);
    t.ok(p.meanBatchItems <= largest, "batches never exceed the cap or the load");
    t.ok(p.latency.p99Ms >= batchMs(largest) - 1, `p99 ${p.latency.p99Ms} ms ≥ T(${largest})`);
    t.ok(
      p.itemsPerS <= (largest / batchMs(largest)) * 1000 * 1.05,
      `${Math.round(p.itemsPerS)} items/s within the instance's capacity`,
    );
  }
  for (const [target, expected] of [
    [225, 64],
    [420, 128],
  ] as const) {
    const rec = recommend(sweep.points, { p99TargetMs: target, tolerancePercent: TOLERANCE_PERCENT });
    if (rec.kind !== "within-target") {
      t.fail(`p99 ≤ ${target} ms: nothing qualified`);
      continue;
    }
    const got = rec.point.maxBatchSize;
    t.comment(
      `p99 ≤ ${target} ms: recommended batch ${got} at concurrency ${rec.point.concurrency}; arithmetic ${expected}`,
    );
    const steps = Math.abs(BATCH_SIZES.indexOf(got) - BATCH_SIZES.indexOf(expected));
    t.ok(steps <= 1, `p99 ≤ ${target} ms: batch ${got} is within one grid step of ${expected}`);
    t.ok(rec.point.latency.p99Ms <= target, "the recommended point meets the target");
  }
});
