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
