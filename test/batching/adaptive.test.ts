import t from "tap";
import { AdaptiveController } from "../../src/batching/adaptive.js";
import { BatchCostModel, maxBatchWithin, minBatchForRate } from "../../src/batching/cost-model.js";
import { mulberry32 } from "../../src/util/mulberry32.js";

const prng = mulberry32;

/** Sizes 1..64 in a fixed shuffled order. */
function sizes(count: number, seed = 1): number[] {
  const r = prng(seed);
  return Array.from({ length: count }, () => 1 + Math.floor(r() * 64));
}

t.test("cost model: converges to a known a + b·n", async (t) => {
  const exact = new BatchCostModel();
  for (const n of sizes(60)) exact.observe(n, 12 + 0.4 * n);
  t.ok(Math.abs(exact.fixedMs - 12) < 1e-6, `a = ${exact.fixedMs}`);
  t.ok(Math.abs(exact.perItemMs - 0.4) < 1e-9, `b = ${exact.perItemMs}`);
  t.equal(exact.samples, 60);
  t.ok(Math.abs(exact.predictMs(50) - 32) < 1e-6);

  const noisy = new BatchCostModel();
  const r = prng(7);
  for (const n of sizes(400, 3)) noisy.observe(n, (12 + 0.4 * n) * (0.9 + 0.2 * r()));
  t.ok(Math.abs(noisy.fixedMs - 12) < 1.5, `±10% noise: a = ${noisy.fixedMs.toFixed(2)}`);
  t.ok(Math.abs(noisy.perItemMs - 0.4) < 0.04, `±10% noise: b = ${noisy.perItemMs.toFixed(3)}`);
});

t.test("cost model: follows a backend that slows down, forgetting the old cost", async (t) => {
  const m = new BatchCostModel();
  for (const n of sizes(100)) m.observe(n, 10 + 0.2 * n);
  for (const n of sizes(300, 2)) m.observe(n, 20 + 0.5 * n);
  t.ok(Math.abs(m.fixedMs - 20) < 0.05, `a = ${m.fixedMs}`);
  t.ok(Math.abs(m.perItemMs - 0.5) < 0.005, `b = ${m.perItemMs}`);
});

t.test(
  "cost model: batches all of one size keep the last slope; none known yet counts as fixed",
  async (t) => {
    const m = new BatchCostModel();
    for (let i = 0; i < 10; i++) m.observe(32, 40);
    t.notOk(m.slopeKnown);
    t.equal(m.perItemMs, 0, "no slope can be measured from one size: all fixed cost");
    t.equal(m.fixedMs, 40);
    for (const n of sizes(50)) m.observe(n, 8 + 1 * n);
    t.ok(m.slopeKnown);
    for (let i = 0; i < 400; i++) m.observe(64, 8 + 1 * 64);
    t.ok(Math.abs(m.perItemMs - 1) < 1e-6, `a long run at one size keeps the slope: ${m.perItemMs}`);
    for (let i = 0; i < 400; i++) m.observe(64, 8 + 1 * 64 + 10); // the backend got 10 ms slower, always at 64
    t.ok(
      Math.abs(m.predictMs(64) - 82) < 0.5,
      `the prediction at that size follows a drift: ${m.predictMs(64)}`,
    );
    t.ok(Math.abs(m.perItemMs - 1) < 1e-6, `the slope is not re-read from one size: ${m.perItemMs}`);
  },
);

t.test("cost model: a and b are never negative; bad samples are ignored", async (t) => {
  const m = new BatchCostModel();
  for (const n of [1, 10, 20, 30, 40]) m.observe(n, 50 - n); // faster for larger batches
  t.equal(m.perItemMs, 0);
  t.ok(m.fixedMs > 0);
  const o = new BatchCostModel();
  for (const n of [10, 20, 30, 40]) o.observe(n, 2 * n - 15); // negative intercept
  t.equal(o.fixedMs, 0);
  t.ok(o.perItemMs > 0);
  t.notOk(o.observe(Number.NaN, 1));
  t.notOk(o.observe(0, 1));
  t.notOk(o.observe(5, -1));
  t.notOk(o.observe(5, Number.POSITIVE_INFINITY));
  t.equal(o.samples, 4);
  t.throws(() => new BatchCostModel(1), RangeError);
});

t.test("sizing arithmetic", async (t) => {
  // 10 + 0.5·n: throughput n / (10 + 0.5 n) reaches 1 item/ms at n = 20.
  t.equal(minBatchForRate(10, 0.5, 1), 20);
  t.equal(minBatchForRate(10, 0.5, 2), Number.POSITIVE_INFINITY, "per-item cost alone too slow");
  t.equal(minBatchForRate(10, 0.5, 0), 0);
  t.equal(maxBatchWithin(10, 0.5, 30), 40);
  t.equal(maxBatchWithin(10, 0, 30), Number.POSITIVE_INFINITY);
  t.equal(maxBatchWithin(10, 0.5, 5), 0);
});

/** Feeds `ms` of arrivals: one request of `items` every `everyMs`, from `fromMs`. */
function arrive(c: AdaptiveController, fromMs: number, ms: number, items: number, everyMs: number): number {
  let now = fromMs;
  for (; now < fromMs + ms; now += everyMs) c.itemsAdmitted(items, now);
  return now;
}

/** A controller that has learned batch time = 10 + 0.5·n ms. */
function trained(targetLatencyMs: number, onModel?: (a: number, b: number) => void) {
  const c = new AdaptiveController({ targetLatencyMs, onModel });
  let now = 0;
  for (const n of sizes(30)) {
    now += 20;
    c.batchCompleted(n, 10 + 0.5 * n, now);
  }
  return { c, now };
}

t.test("before any batch: up to the cap, no wait", async (t) => {
  const c = new AdaptiveController({ targetLatencyMs: 50 });
  c.itemsAdmitted(8, 0);
  for (let i = 0; i < 4; i++) c.batchCompleted(8, 20, i);
  t.equal(c.batchSize(256), 256, "four batches seen: still the cap");
  t.equal(c.queueDelayMs(20), 0);
  t.equal(c.snapshot().batchSize, 256);
  c.batchCompleted(16, 24, 5);
  t.ok(c.batchSize(256) < 256, "the fifth batch: the model is used");
});

t.test("learns the backend's cost and reports it through onModel", async (t) => {
  const reported: [number, number][] = [];
  const { c } = trained(1000, (a, b) => reported.push([a, b]));
  const s = c.snapshot();
  t.ok(
    Math.abs(s.fixedMs - 10) < 1e-6 && Math.abs(s.perItemMs - 0.5) < 1e-9,
    `${s.fixedMs} + ${s.perItemMs}·n`,
  );
  t.equal(s.samples, 30);
  t.ok(reported.length >= 1, "reported once learned");
  const last = reported.at(-1)!;
  t.ok(Math.abs(last[0] - 10) < 0.1 && Math.abs(last[1] - 0.5) < 0.005, `last report ${last}`);
  t.ok(reported.length < 30, `only on material changes (${reported.length} reports for 30 batches)`);
});

t.test("batch size grows with the arrival rate to keep the backend under 75% busy", async (t) => {
  // Target 60 ms: a batch may take 30 ms, i.e. at most 40 items at 10 + 0.5·n.
  const { c, now } = trained(60);
  let at = arrive(c, now, 3000, 4, 8); // 0.5 items/ms: the floor is 10 items
  const low = c.batchSize(256);
  t.equal(low, 40, "low load: the latency bound (2 × (10 + 0.5·40) = 60 ms)");
  at = arrive(c, at, 3000, 6, 5); // 1.2 items/ms → 1.6 at 75% busy: 16 / (1 − 0.8) = 80 items
  const mid = c.batchSize(256);
  t.ok(mid >= 78 && mid <= 84, `medium load: the keep-up floor, about 80 (got ${mid})`);
  arrive(c, at, 3000, 8, 4); // 2 items/ms: no size keeps up at 75% busy
  t.equal(c.batchSize(256), 256, "high load: the cap");
  t.equal(c.batchSize(100), 100, "…whatever the cap is");
  t.ok(c.snapshot().arrivalItemsPerS > 1900 && c.snapshot().arrivalItemsPerS < 2100);
});

/** Closes a latency window of 100 requests, `over` of them over the target. */
function window(c: AdaptiveController, targetMs: number, over: number, nowMs: number): void {
  for (let i = 0; i < 100; i++) c.requestCompleted(i < over ? targetMs * 1.5 : targetMs * 0.5, nowMs);
}

t.test(
  "AIMD: cut by 10% after a window over the target, grown back by cap/16 per window under it",
  async (t) => {
    const { c, now } = trained(60);
    arrive(c, now, 3000, 4, 8);
    t.equal(c.batchSize(256), 40);
    window(c, 60, 1, now + 3000);
    t.equal(c.batchSize(256), 40, "1% over the target is p99 on target: no change");
    window(c, 60, 2, now + 3000);
    t.equal(c.batchSize(256), 36, "2% over: p99 over target, −10%");
    t.ok(c.snapshot().overTarget);
    t.ok(c.snapshot().p99LatencyMs > 60);
    window(c, 60, 5, now + 3000);
    t.equal(c.batchSize(256), 32);
    window(c, 60, 5, now + 3000);
    t.equal(c.batchSize(256), 28);
    for (let i = 0; i < 10; i++) window(c, 60, 50, now + 3000);
    t.equal(c.batchSize(256), 10, "cuts stop at the keep-up floor (10 items at 0.5 items/ms)");
    window(c, 60, 0, now + 3000);
    t.equal(c.batchSize(256), 25, "under target: +256/16");
    t.notOk(c.snapshot().overTarget);
    window(c, 60, 0, now + 3000);
    t.equal(c.batchSize(256), 40, "…up to the latency bound, not past it");
    window(c, 60, 0, now + 3000);
    t.equal(c.batchSize(256), 40);
  },
);

t.test(
  "a window also closes on time, so a low rate still gets feedback; one outlier is not a trend",
  async (t) => {
    const { c, now } = trained(60);
    arrive(c, now, 3000, 4, 8);
    c.requestCompleted(90, now + 3000);
    c.requestCompleted(20, now + 3500);
    t.equal(c.batchSize(256), 40, "two answers in 500 ms: the window is still open");
    c.requestCompleted(20, now + 4001);
    t.equal(c.batchSize(256), 40, "closed after a second with one answer of three over target: no cut");
    t.notOk(c.snapshot().overTarget);
    c.requestCompleted(90, now + 4100);
    c.requestCompleted(90, now + 4500);
    c.requestCompleted(20, now + 5200);
    t.equal(c.batchSize(256), 36, "closed after a second with two of three over target: −10%");
    t.ok(c.snapshot().overTarget);
  },
);

t.test(
  "the wait: 0 when waiting cannot pay, else about a − s/λ, within the target and the cap",
  async (t) => {
    const { c, now } = trained(200);
    c.batchSize(256);
    let at = arrive(c, now, 3000, 8, 40); // 0.2 items/ms × 10 ms fixed cost = 2 items < one request of 8
    t.equal(c.queueDelayMs(20), 0, "fewer items arrive during one fixed cost than a request holds");
    // 1 item/ms: 10 items per fixed cost; waiting pays for 10 − 1/1 ms. Batches of about
    // 10 / (1 − 0.5) = 20 items take 20 ms: 3 × 20 ms + the wait is well under 200 ms.
    at = arrive(c, at, 3000, 1, 1);
    const wait = c.queueDelayMs(20);
    t.ok(wait > 8.5 && wait <= 9, `wait ≈ 9 ms (got ${wait})`);
    t.equal(c.queueDelayMs(4), 4, "never past maxQueueDelayMs");
    t.equal(Math.round(wait * 32), wait * 32, "a multiple of 1/32 ms");
    window(c, 200, 5, at);
    t.equal(c.queueDelayMs(20), 0, "no waiting after a window over the target");
    window(c, 200, 0, at);
    t.ok(c.queueDelayMs(20) > 8.5, "waiting again once under target");

    const { c: tight, now: n2 } = trained(60);
    tight.batchSize(256);
    arrive(tight, n2, 3000, 1, 1);
    t.equal(tight.queueDelayMs(20), 0, "target 60 ms: three expected 20 ms batches leave no room to wait");
  },
);

t.test("setTargetLatencyMs keeps the learned model and moves the choices", async (t) => {
  const { c, now } = trained(60);
  arrive(c, now, 3000, 4, 8);
  t.equal(c.batchSize(256), 40);
  const before = c.snapshot();
  c.setTargetLatencyMs(100);
  const after = c.snapshot();
  t.equal(after.targetLatencyMs, 100);
  t.equal(after.fixedMs, before.fixedMs);
  t.equal(after.perItemMs, before.perItemMs);
  t.equal(after.samples, before.samples);
  t.equal(c.batchSize(256), 80, "the latency bound follows: 2 × (10 + 0.5·80) = 100 ms");
  t.throws(() => c.setTargetLatencyMs(0), RangeError);
  t.throws(() => new AdaptiveController({ targetLatencyMs: Number.NaN }), RangeError);
});

t.test("whatever it observes, the choices stay within [1, cap] and [0, maxQueueDelayMs]", async (t) => {
  const r = prng(11);
  const c = new AdaptiveController({ targetLatencyMs: 25 });
  const odd = [Number.NaN, -1, 0, Number.POSITIVE_INFINITY, 1e9, 1e-9];
  let now = 0;
  let bad = 0;
  for (let i = 0; i < 20_000; i++) {
    now += r() * 5;
    const pick = () => (r() < 0.02 ? odd[Math.floor(r() * odd.length)]! : r() * 200);
    switch (Math.floor(r() * 3)) {
      case 0:
        c.itemsAdmitted(Math.ceil(pick()), now);
        break;
      case 1:
        c.batchCompleted(Math.ceil(pick()), pick(), now);
        break;
      default:
        c.requestCompleted(pick(), now);
    }
    const cap = 1 + Math.floor(r() * 128);
    const maxDelay = r() * 10;
    const size = c.batchSize(cap);
    const wait = c.queueDelayMs(maxDelay);
    if (!Number.isInteger(size) || size < 1 || size > cap || !(wait >= 0 && wait <= maxDelay)) bad++;
  }
  t.equal(bad, 0, "no choice outside the caps in 20 000 random observations");
  const s = c.snapshot();
  t.ok(Number.isFinite(s.fixedMs) && Number.isFinite(s.perItemMs) && s.fixedMs >= 0 && s.perItemMs >= 0);
});

/**
 * Answers `latencies` at `nowMs`. With a target of 64 ms the histogram's buckets start at
 * 64 / 64 = 1 ms and are 2^(1/8) wide: bucket k holds [2^(k/8), 2^((k+1)/8)) ms, k = 0..95,
 * the first also everything below 1 ms and the last everything from 2^(95/8) ms up.
 */
function answer(c: AdaptiveController, latencies: readonly number[], nowMs: number): void {
  for (const ms of latencies) c.requestCompleted(ms, nowMs);
}
const repeat = (n: number, ms: number): number[] => Array.from({ length: n }, () => ms);

t.test("p99 of a window: the upper edge of the bucket holding its 99th percentile", async (t) => {
  const c = new AdaptiveController({ targetLatencyMs: 64 });
  answer(c, repeat(100, 10), 5000);
  // log2(10) = 3.32, so 10 ms is in bucket 26: [2^(26/8), 2^(27/8)) = [9.51, 10.37) ms.
  t.equal(c.snapshot().p99LatencyMs, 2 ** (27 / 8), "100 answers of 10 ms");
  answer(c, [...repeat(99, 10), 1000], 5000);
  t.equal(c.snapshot().p99LatencyMs, 2 ** (27 / 8), "one answer in 100 above the rest is the 1% allowed");
  answer(c, [...repeat(98, 10), 1000, 1000], 5000);
  // log2(1000) = 9.97: bucket 79, up to 2^(80/8) = 1024 ms.
  t.equal(c.snapshot().p99LatencyMs, 1024, "two in 100 above: the p99 is theirs");
  answer(c, repeat(100, 0), 5000);
  t.equal(c.snapshot().p99LatencyMs, 2 ** (1 / 8), "0 ms counts in the lowest bucket");
  answer(c, repeat(100, 0.01), 5000);
  t.equal(c.snapshot().p99LatencyMs, 2 ** (1 / 8), "…as does anything under target / 64");
  answer(c, repeat(100, 4096), 5000);
  t.equal(c.snapshot().p99LatencyMs, 4096, "64 × target counts in the highest bucket, up to 2^(96/8) ms");
  answer(c, repeat(100, 1e6), 5000);
  t.equal(c.snapshot().p99LatencyMs, 4096, "…as does anything above it");

  c.setTargetLatencyMs(128); // buckets from 2 ms: 10 ms is in [2·2^(18/8), 2·2^(19/8))
  answer(c, repeat(100, 10), 5000);
  t.equal(c.snapshot().p99LatencyMs, 2 * 2 ** (19 / 8), "a new target moves the buckets with it");
});

t.test("a latency exactly at the target is not over it", async (t) => {
  const c = new AdaptiveController({ targetLatencyMs: 64 });
  answer(c, [...repeat(95, 10), ...repeat(5, 64)], 5000);
  t.equal(c.snapshot().p99LatencyMs, 2 ** (49 / 8), "the window closed (64 ms is in bucket 48)");
  t.notOk(c.snapshot().overTarget);
  answer(c, [...repeat(95, 10), ...repeat(5, 64.5)], 5000);
  t.ok(c.snapshot().overTarget, "just over it is");
});

t.test("answers that cannot be latencies are ignored", async (t) => {
  const c = new AdaptiveController({ targetLatencyMs: 64 });
  answer(c, [...repeat(98, 10), 0], 5000);
  for (const [ms, now] of [
    [Number.NaN, 5000],
    [-1, 5000],
    [Number.POSITIVE_INFINITY, 5000],
    [10, Number.NaN],
    [10, Number.POSITIVE_INFINITY],
  ] as const) {
    c.requestCompleted(ms, now);
  }
  t.equal(c.snapshot().p99LatencyMs, 0, "99 answers: the window is still open");
  c.requestCompleted(10, 5000);
  t.equal(c.snapshot().p99LatencyMs, 2 ** (27 / 8), "the hundredth valid answer closes it");
});

t.test("a window closes on time from the admission of its first request", async (t) => {
  // Target 60 ms: a window lasts max(1000 ms, 10 × 60 ms) = 1000 ms.
  const c = new AdaptiveController({ targetLatencyMs: 60 });
  c.requestCompleted(400, 1000); // admitted at 600
  c.requestCompleted(0, 1599);
  t.equal(c.snapshot().p99LatencyMs, 0, "999 ms after the first admission: open");
  c.requestCompleted(0, 1600);
  t.ok(c.snapshot().p99LatencyMs > 0, "1000 ms after it: closed");

  // Target 200 ms: max(1000 ms, 10 × 200 ms) = 2000 ms.
  const slow = new AdaptiveController({ targetLatencyMs: 200 });
  slow.requestCompleted(0, 1000);
  slow.requestCompleted(0, 2999);
  t.equal(slow.snapshot().p99LatencyMs, 0, "1999 ms: open");
  slow.requestCompleted(0, 3000);
  t.ok(slow.snapshot().p99LatencyMs > 0, "2000 ms: closed");
});

t.test("a new target clears the verdict of the last window", async (t) => {
  const { c, now } = trained(200);
  c.batchSize(256);
  const at = arrive(c, now, 3000, 1, 1);
  window(c, 200, 5, at);
  t.ok(c.snapshot().overTarget);
  t.equal(c.queueDelayMs(20), 0);
  c.setTargetLatencyMs(300);
  t.notOk(c.snapshot().overTarget, "not over a target it was never measured against");
  t.ok(c.queueDelayMs(20) > 8.5, "so it may wait again");
});

t.test("the arrival rate: measured in items per second, also over a short history", async (t) => {
  const fresh = new AdaptiveController({ targetLatencyMs: 60 });
  t.equal(fresh.snapshot().arrivalItemsPerS, 0, "nothing admitted: 0");
  t.equal(fresh.snapshot().batchSize, 0, "no cap passed yet: 0");
  t.equal(fresh.snapshot().queueDelayMs, 0);

  // One item per ms (1000 items/s), from t = 1000, for 100 ms and for 3 s.
  const c = new AdaptiveController({ targetLatencyMs: 60 });
  const at = arrive(c, 1000, 101, 1, 1);
  const short = c.snapshot().arrivalItemsPerS;
  t.ok(short > 980 && short < 1020, `100 ms of history: ${short}`);
  arrive(c, at, 2900, 1, 1);
  const long = c.snapshot().arrivalItemsPerS;
  t.ok(long > 980 && long < 1020, `3 s of history: ${long}`);
});

t.test("admissions that cannot be counted are ignored", async (t) => {
  const clean = new AdaptiveController({ targetLatencyMs: 60 });
  const dirty = new AdaptiveController({ targetLatencyMs: 60 });
  for (const [items, now] of [
    [0, 0],
    [-3, 0],
    [Number.NaN, 0],
    [5, Number.NaN],
    [5, Number.POSITIVE_INFINITY],
    [Number.POSITIVE_INFINITY, 10],
  ] as const) {
    dirty.itemsAdmitted(items, now);
  }
  t.equal(dirty.snapshot().arrivalItemsPerS, 0);
  arrive(clean, 1000, 101, 1, 1);
  arrive(dirty, 1000, 101, 1, 1);
  t.equal(dirty.snapshot().arrivalItemsPerS, clean.snapshot().arrivalItemsPerS);
});

t.test("a completed batch moves the clock the rate is measured on; a bad time does not", async (t) => {
  const { c, now } = trained(60);
  const at = arrive(c, now, 3000, 4, 8);
  const busy = c.snapshot().arrivalItemsPerS;
  t.ok(busy > 450 && busy < 550, `0.5 items/ms: ${busy}`);
  c.batchCompleted(20, 20, at + 5000);
  const quiet = c.snapshot().arrivalItemsPerS;
  t.ok(quiet < 5, `5 s (10 time constants) without arrivals: ${quiet}`);
  c.batchCompleted(20, 20, Number.NaN);
  t.equal(c.snapshot().arrivalItemsPerS, quiet, "a batch with no valid time leaves the clock alone");
});

t.test(
  "the model is reported from the fifth batch, then only when a or b moves by more than 1%",
  async (t) => {
    const reports: { batch: number; a: number; b: number }[] = [];
    let batch = 0;
    const c = new AdaptiveController({
      targetLatencyMs: 1000,
      onModel: (a, b) => reports.push({ batch, a, b }),
    });
    for (const n of sizes(30)) {
      batch++;
      c.batchCompleted(n, 10 + 0.5 * n, batch * 20);
    }
    t.equal(reports.length, 1, `one report for a model that does not change: ${JSON.stringify(reports)}`);
    t.equal(reports[0]?.batch, 5, "at the fifth batch");
    t.ok(Math.abs(reports[0]!.a - 10) < 1e-6 && Math.abs(reports[0]!.b - 0.5) < 1e-9);

    for (const n of sizes(100, 5)) c.batchCompleted(n, 10.05 + 0.5 * n, ++batch * 20);
    const s = c.snapshot();
    t.ok(s.fixedMs > 10.03 && s.fixedMs < 10.05, `a moved by about 0.5%: ${s.fixedMs}`);
    t.equal(reports.length, 1, "a move of 0.5% is not reported");

    // All batches at one size: b stays as it was measured, a alone follows the batch time.
    for (let i = 0; i < 400; i++) c.batchCompleted(64, 10.05 + 0.5 * 64, ++batch * 20);
    const before = reports.length;
    const slope = c.snapshot().perItemMs;
    for (let i = 0; i < 100; i++) c.batchCompleted(64, 20.05 + 0.5 * 64, ++batch * 20);
    t.ok(reports.length > before, "a move of a alone is reported");
    const last = reports.at(-1)!;
    t.equal(last.b, slope, "b did not move");
    t.ok(last.a > 15, `a followed: ${last.a}`);
  },
);

t.test("fewer than five batches: the cap and no wait, whatever the first ones suggest", async (t) => {
  const c = new AdaptiveController({ targetLatencyMs: 200 });
  // 16 + 0.5·n: the latency bound would be (100 − 16) / 0.5 = 168 items; at 0.1 items/ms
  // waiting would pay for about 16 − 1 / 0.1 = 6 ms.
  for (const [i, n] of [4, 8, 16, 32].entries()) c.batchCompleted(n, 16 + 0.5 * n, 10 * i);
  c.batchSize(256);
  const at = arrive(c, 100, 3000, 1, 10);
  t.equal(c.batchSize(256), 256);
  t.equal(c.queueDelayMs(20), 0);
  c.batchCompleted(64, 16 + 0.5 * 64, at);
  t.equal(c.batchSize(256), 168, "the fifth: the latency bound");
  const wait = c.queueDelayMs(20);
  t.ok(wait > 5 && wait < 7, `…and a wait of about 6 ms (${wait})`);
});

t.test("a cap under one still gives batches of one item", async (t) => {
  const c = new AdaptiveController({ targetLatencyMs: 50 });
  t.equal(c.batchSize(0), 1);
  t.equal(c.batchSize(0.5), 1);
  t.equal(c.batchSize(1), 1);
});

t.test("a negative wait is reported as none", async (t) => {
  const { c, now } = trained(200);
  c.batchSize(256);
  arrive(c, now, 3000, 8, 40); // waiting cannot pay
  t.equal(c.queueDelayMs(20), 0);
  t.equal(c.snapshot().queueDelayMs, 0);
  t.equal(c.snapshot().batchSize, 180, "the snapshot reports the size under the last cap: (100 − 10) / 0.5");
});

t.test("AIMD starts at the first cut, not at the cap in force before it", async (t) => {
  // Target 1000 ms: the latency bound is (500 − 10) / 0.5 = 980 items.
  const { c, now } = trained(1000);
  arrive(c, now, 3000, 4, 8);
  t.equal(c.batchSize(256), 256);
  window(c, 1000, 0, now + 3000);
  t.equal(
    c.batchSize(1024),
    980,
    "a window under target before any cut does not pin the size to the old cap",
  );
});

t.test("a cut while no size keeps up is not applied to an unbounded size", async (t) => {
  // Without a cap passed: 40 items (latency bound), cut to 36, then a load no size keeps up with.
  const { c, now } = trained(60);
  let at = arrive(c, now, 3000, 4, 8);
  window(c, 60, 5, at);
  t.equal(c.snapshot().batchSize, 36);
  at = arrive(c, at, 3000, 8, 4); // 2 items/ms: the floor is unbounded
  t.equal(c.snapshot().batchSize, 0, "no bound: the cap, whatever it will be");
  window(c, 60, 5, at);
  arrive(c, at, 5000, 4, 8); // back to 0.5 items/ms
  t.equal(c.batchSize(256), 36, "the AIMD size from before the overload, not unbounded");
});

t.test("an invalid target is refused, naming it and the value", async (t) => {
  t.throws(() => new AdaptiveController({ targetLatencyMs: 0 }), {
    name: "RangeError",
    message: "adaptive batching: targetLatencyMs must be a positive number, got 0",
  });
  const c = new AdaptiveController({ targetLatencyMs: 10 });
  t.throws(() => c.setTargetLatencyMs(Number.POSITIVE_INFINITY), {
    message: "adaptive batching: targetLatencyMs must be a positive number, got Infinity",
  });
});
