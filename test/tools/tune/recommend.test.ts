import t from "tap";
import { recommend } from "../../../src/tools/tune/recommend.js";
import { point } from "./fixtures.js";

const opts = { p99TargetMs: 50, tolerancePercent: 3 };

t.test("the best throughput among points whose p99 meets the target", async (t) => {
  const fast = point({ maxBatchSize: 16, itemsPerS: 1000, latency: { p99Ms: 20 } });
  const best = point({ maxBatchSize: 32, itemsPerS: 2000, latency: { p99Ms: 50 } });
  const tooSlow = point({ maxBatchSize: 64, itemsPerS: 5000, latency: { p99Ms: 50.1 } });
  const rec = recommend([fast, best, tooSlow], opts);
  t.equal(rec.kind, "within-target");
  if (rec.kind !== "within-target") return;
  t.equal(rec.point, best, "p99 exactly at the target qualifies; just above does not");
  t.equal(rec.bestItemsPerS, 2000);
  t.equal(rec.equivalent, 1);
});

t.test("a point with errors is never recommended, however fast", async (t) => {
  const clean = point({ maxBatchSize: 16, itemsPerS: 1000, latency: { p99Ms: 20 } });
  const failing = point({ maxBatchSize: 64, itemsPerS: 9000, errors: 1, latency: { p99Ms: 10 } });
  const rec = recommend([clean, failing], opts);
  t.equal(rec.kind === "within-target" && rec.point, clean);
  const silent = point({ maxBatchSize: 8, requests: 0, itemsPerS: 0, latency: { p99Ms: 0 } });
  t.equal(recommend([silent], opts).kind, "none-within-target", "nor is one that answered nothing");
});

t.test("throughputs within the tolerance tie; the smallest batch, then delay, then p99 wins", async (t) => {
  const points = [
    point({ maxBatchSize: 128, maxQueueDelayMs: 0, itemsPerS: 3000, latency: { p99Ms: 30 } }),
    point({ maxBatchSize: 64, maxQueueDelayMs: 5, itemsPerS: 2950, latency: { p99Ms: 25 } }),
    point({ maxBatchSize: 64, maxQueueDelayMs: 2, itemsPerS: 2930, latency: { p99Ms: 40 } }),
    point({ maxBatchSize: 64, maxQueueDelayMs: 2, itemsPerS: 2920, latency: { p99Ms: 35 } }),
    point({ maxBatchSize: 32, maxQueueDelayMs: 0, itemsPerS: 2880, latency: { p99Ms: 10 } }),
  ];
  const rec = recommend(points, opts);
  if (rec.kind !== "within-target") {
    t.fail("expected a recommendation");
    return;
  }
  t.equal(rec.point, points[3], "batch 64, delay 2, lower p99; 2880 is 4% behind and out");
  t.equal(rec.equivalent, 4);
  const strict = recommend(points, { ...opts, tolerancePercent: 0 });
  t.equal(strict.kind === "within-target" && strict.point, points[0], "no tolerance: the fastest");
});

t.test("nothing meets the target: the lowest clean p99 is named", async (t) => {
  const points = [
    point({ maxBatchSize: 8, latency: { p99Ms: 80 } }),
    point({ maxBatchSize: 16, latency: { p99Ms: 60 } }),
    point({ maxBatchSize: 32, errors: 3, latency: { p99Ms: 55 } }),
  ];
  const rec = recommend(points, opts);
  t.equal(rec.kind, "none-within-target");
  t.equal(rec.kind === "none-within-target" && rec.lowestP99, points[1]);
  const none = recommend([point({ errors: 1 })], opts);
  t.same(none, { kind: "none-within-target", lowestP99: undefined });
  t.same(recommend([], opts), { kind: "none-within-target", lowestP99: undefined });
});
