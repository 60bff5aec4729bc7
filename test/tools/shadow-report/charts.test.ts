import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ShadowAggregator } from "../../../src/tools/shadow-report/aggregate.js";
import {
  CHART_FILES,
  confusionSvg,
  expectedRelevanceSvg,
  kendallTauSvg,
  writeCharts,
} from "../../../src/tools/shadow-report/charts.js";
import { checkSvg, randomRecords, tmp } from "./fixtures.js";

const occurrences = (s: string, re: RegExp) => [...s.matchAll(re)].length;

t.test("the confusion heat map has 25 cells with their counts and a colour scale", async (t) => {
  const confusion = [
    [10, 2, 0, 0, 0],
    [3, 20, 4, 0, 0],
    [0, 5, 30, 6, 0],
    [0, 0, 7, 40, 8],
    [0, 0, 0, 9, 1234],
  ];
  const svg = confusionSvg(confusion);
  checkSvg(t, svg, "confusion.svg");
  t.equal(occurrences(svg, /class="cell"/g), 25);
  for (const n of ["10", "20", "30", "40", "1,234"]) t.match(svg, `>${n}</text>`);
  t.match(svg, /<linearGradient/, "a colour scale");
  t.match(svg, />student label</);
  t.match(svg, />teacher label</);
  const darkest = /<rect class="cell" x="398" y="366"[^>]*fill="(#[0-9a-f]{6})"/.exec(svg);
  t.equal(darkest?.[1], "#08306b", "the largest count gets the darkest colour");
});

t.test("the scatter plot has one dot per sampled document and the diagonal", async (t) => {
  const points: [number, number][] = [
    [1, 1],
    [2.5, 3],
    [5, 4.2],
  ];
  const svg = expectedRelevanceSvg({ total: 3, points });
  checkSvg(t, svg, "expected-relevance.svg");
  t.equal(occurrences(svg, /class="dot"/g), 3);
  t.match(svg, /class="diagonal"/);
  t.match(svg, /fill-opacity="0\.3"/, "semi-transparent dots");
  t.match(svg, />document \(3\)</, "legend");
  const sampled = expectedRelevanceSvg({ total: 12_345, points });
  t.match(sampled, />document \(3 sampled of 12,345\)</, "the legend says when the dots are a sample");
});

t.test("the τ histogram has 20 bars", async (t) => {
  const agg = new ShadowAggregator({ k: 10, worst: 0 });
  for (const r of randomRecords(100, 11)) agg.add(r);
  const tau = agg.summary().kendallTau;
  const svg = kendallTauSvg(tau);
  checkSvg(t, svg, "kendall-tau.svg");
  t.equal(occurrences(svg, /class="bar"/g), 20);
  t.match(svg, /median τ = /);
  const heights = [...svg.matchAll(/class="bar"[^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
  const max = Math.max(...tau.histogram.map((b) => b.count));
  t.same(
    heights.map((h) => h > 0),
    tau.histogram.map((b) => b.count > 0),
    "a bar for every non-empty bin",
  );
  t.equal(
    heights.indexOf(Math.max(...heights)),
    tau.histogram.findIndex((b) => b.count === max),
  );
  const empty = kendallTauSvg({
    ...tau,
    requests: 0,
    p50: null,
    histogram: tau.histogram.map((b) => ({ ...b, count: 0 })),
  });
  checkSvg(t, empty, "empty histogram");
  t.notMatch(empty, /NaN|Infinity/);
});

t.test("writeCharts writes the three files", async (t) => {
  const agg = new ShadowAggregator({ k: 10, worst: 0 });
  for (const r of randomRecords(20, 2)) agg.add(r);
  const dir = join(tmp(), "nested", "out");
  const paths = await writeCharts(dir, agg.summary(), agg.scatterSample());
  t.same(
    paths,
    CHART_FILES.map((f) => join(dir, f)),
  );
  for (const p of paths) checkSvg(t, readFileSync(p, "utf8"), p);
});
