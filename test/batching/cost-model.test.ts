import t from "tap";
import { BatchCostModel, maxBatchWithin, minBatchForRate } from "../../src/batching/cost-model.js";

t.test("decay must be in (0, 1)", async (t) => {
  for (const decay of [0, -0.5, 1, 1.5, Number.NaN]) {
    t.throws(() => new BatchCostModel(decay), {
      name: "RangeError",
      message: `cost model: decay must be in (0, 1), got ${decay}`,
    });
  }
  t.doesNotThrow(() => new BatchCostModel(0.5));
});

t.test("a batch that took no measurable time is a sample", async (t) => {
  const m = new BatchCostModel();
  t.ok(m.observe(8, 0) || m.samples === 1, "counted");
  t.equal(m.samples, 1);
  t.equal(m.fixedMs, 0);
});

t.test("observe says whether the fit changed", async (t) => {
  const m = new BatchCostModel();
  t.equal(m.observe(32, 40), true, "the first sample sets a");
  t.equal(m.observe(32, 40), false, "the same again changes nothing");
  t.equal(m.observe(32, 50), true, "a alone moves (no slope known: b stays 0)");
  t.equal(m.perItemMs, 0);

  // Times under a line through the origin: a is held at 0, b alone moves.
  const o = new BatchCostModel();
  for (const n of [10, 20, 30, 40]) o.observe(n, 2 * n - 15);
  t.equal(o.fixedMs, 0);
  const b = o.perItemMs;
  t.equal(o.observe(25, 2 * 25 - 15), true, "b alone moved");
  t.equal(o.fixedMs, 0);
  t.not(o.perItemMs, b);
});

t.test("a negative intercept: the best line through the origin instead", async (t) => {
  const m = new BatchCostModel();
  for (const n of [10, 20, 30, 40]) m.observe(n, 2 * n - 15);
  t.equal(m.fixedMs, 0);
  // Unweighted, Σ n·t / Σ n² = (2·3000 − 15·100) / 3000 = 1.5; the decay weights move it a little.
  t.ok(m.perItemMs > 1.45 && m.perItemMs < 1.55, `b = ${m.perItemMs}`);
});

t.test("the slope is measured from the third batch, and only from sizes that differ enough", async (t) => {
  const m = new BatchCostModel();
  m.observe(4, 12);
  m.observe(12, 16);
  t.notOk(m.slopeKnown, "two batches do not tell a slope from noise");
  t.equal(m.perItemMs, 0);
  t.ok(
    m.fixedMs > 14 && m.fixedMs < 16,
    `all fixed cost: their mean time, weighted to the latest (${m.fixedMs})`,
  );
  m.observe(8, 14);
  t.ok(m.slopeKnown, "the third does");
  t.ok(Math.abs(m.perItemMs - 0.5) < 1e-9, `b = ${m.perItemMs}`);
  t.ok(Math.abs(m.fixedMs - 10) < 1e-9, `a = ${m.fixedMs}`);

  // Sizes within 10% of their mean (97..103 items) count as one size.
  const near = new BatchCostModel();
  for (let i = 0; i < 30; i++) {
    const n = 97 + (i % 7);
    near.observe(n, 10 + 0.5 * n + (i % 2 === 0 ? 1 : -1));
  }
  t.notOk(near.slopeKnown, "a 3% spread around 100 items");
  t.equal(near.perItemMs, 0);

  // Sizes that differ by less than one item count as one size.
  const small = new BatchCostModel();
  for (let i = 0; i < 30; i++) small.observe(1 + (i % 2), 10 + (i % 2));
  t.notOk(small.slopeKnown, "1 and 2 items");
});

t.test("a kept slope that would make a negative: a is 0 and the time is all per item", async (t) => {
  const m = new BatchCostModel();
  for (let i = 0; i < 60; i++) {
    const n = 1 + ((i * 37) % 64);
    m.observe(n, 10 + n);
  }
  t.ok(m.slopeKnown);
  // Then only batches of 64 items: the slope is kept (1 ms per item)…
  for (let i = 0; i < 400; i++) m.observe(64, 10 + 64);
  t.ok(Math.abs(m.perItemMs - 1) < 1e-6, `b = ${m.perItemMs}`);
  // …until they become faster than 1 ms per item alone: a would be negative.
  for (let i = 0; i < 400; i++) m.observe(64, 32);
  t.ok(m.fixedMs >= 0, `a = ${m.fixedMs}`);
  t.ok(
    Math.abs(m.predictMs(64) - 32) < 0.5,
    `the time predicted at 64 follows the batches: ${m.predictMs(64)}`,
  );
  t.ok(Math.abs(m.perItemMs - 0.5) < 0.01, `b = 32 / 64: ${m.perItemMs}`);
});

t.test("sizing arithmetic at its edges", async (t) => {
  t.equal(minBatchForRate(10, 0.5, Number.NaN), 0, "no rate measured: any size keeps up");
  t.equal(minBatchForRate(10, 0.5, -1), 0, "a negative rate: any size");
  t.equal(
    minBatchForRate(0, 0.5, 2),
    Number.POSITIVE_INFINITY,
    "r·b = 1: the per-item cost alone is too slow",
  );
  t.equal(minBatchForRate(10, 0.25, 4), Number.POSITIVE_INFINITY);
  t.equal(
    maxBatchWithin(10, 0, 10),
    Number.POSITIVE_INFINITY,
    "the fixed cost fits exactly, no per-item cost",
  );
  t.equal(maxBatchWithin(10, 0.5, 10), 0, "the fixed cost fits exactly, no room for an item");
  t.equal(maxBatchWithin(10, -1, 20), Number.POSITIVE_INFINITY, "a negative per-item cost: any size");
});
