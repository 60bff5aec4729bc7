import t from "tap";
import {
  NumberSummary,
  quantile,
  Reservoir,
  seededRandom,
  TopK,
} from "../../../src/tools/shadow-report/stats.js";

t.test("TopK keeps the largest scores, first seen winning ties", async (t) => {
  const top = new TopK<string>(3);
  const scores = [5, 1, 9, 5, 7, 2, 9, 5];
  scores.forEach((s, i) => {
    top.add(s, () => `${s}@${i}`);
  });
  t.same(top.sorted(), ["9@2", "9@6", "7@4"]);
  const ties = new TopK<number>(2);
  for (let i = 0; i < 5; i++) ties.add(1, () => i);
  t.same(ties.sorted(), [0, 1]);
  const none = new TopK<number>(0);
  let built = false;
  none.add(1, () => {
    built = true;
    return 1;
  });
  t.notOk(built, "an item that cannot be kept is never built");
  t.same(none.sorted(), []);
  const many = new TopK<number>(10);
  const random = seededRandom(3);
  const all = Array.from({ length: 1000 }, () => random());
  for (const v of all) many.add(v, () => v);
  t.same(many.sorted(), [...all].sort((a, b) => b - a).slice(0, 10));
});

t.test("quantiles interpolate between the closest ranks", async (t) => {
  t.equal(quantile([], 0.5), undefined);
  t.equal(quantile([4], 0.9), 4);
  t.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  t.equal(quantile([10, 20, 30, 40, 50], 0.9), 46);
  const s = new NumberSummary(100, seededRandom(1));
  for (const v of [3, 1, 2]) s.add(v);
  t.same(s.quantiles([0, 0.5, 1]), [1, 2, 3]);
  t.equal(s.mean(), 2);
  t.same(new NumberSummary(5, seededRandom(1)).quantiles([0.5]), [null]);
});

t.test("the reservoir is a bounded, roughly uniform sample", async (t) => {
  const r = new Reservoir<number>(1000, seededRandom(9));
  for (let i = 0; i < 100_000; i++) r.add(i);
  t.equal(r.items.length, 1000);
  t.equal(r.seen, 100_000);
  const mean = r.items.reduce((a, b) => a + b, 0) / r.items.length;
  t.ok(Math.abs(mean - 50_000) < 5_000, `sample mean ${mean} near the population mean`);
  t.equal(new Set(r.items).size, 1000, "no item twice");
});
