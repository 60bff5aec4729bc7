import t from "tap";
import { logAxis, tuneSvg } from "../../../src/tools/tune/chart.js";
import { recommend } from "../../../src/tools/tune/recommend.js";
import type { PointResult } from "../../../src/tools/tune/sweep.js";
import { findAll, parseXml } from "../common/xml.js";
import { point } from "./fixtures.js";

const grid: PointResult[] = [];
for (const [b, base] of [
  [16, 1000],
  [64, 3000],
] as const) {
  for (const d of [0, 5]) {
    for (const [c, k] of [
      [4, 1],
      [16, 2],
      [64, 3],
    ] as const) {
      grid.push(
        point({
          maxBatchSize: b,
          maxQueueDelayMs: d,
          concurrency: c,
          itemsPerS: base * k + d,
          latency: { p99Ms: 4 * k ** 2 + d + b / 16 },
        }),
      );
    }
  }
}
grid.push(
  point({ maxBatchSize: 64, maxQueueDelayMs: 5, concurrency: 128, errors: 7, latency: { p99Ms: 90 } }),
);
grid.push(point({ maxBatchSize: 16, maxQueueDelayMs: 0, concurrency: 256, requests: 0, itemsPerS: 0 }));

t.test("the chart is a well-formed SVG with every measured point, the target and the pick", async (t) => {
  const target = 20;
  const rec = recommend(grid, { p99TargetMs: target, tolerancePercent: 3 });
  if (rec.kind !== "within-target") {
    t.fail("expected a recommendation");
    return;
  }
  const svg = tuneSvg(grid, rec, target);
  const root = parseXml(svg);
  t.equal(root.name, "svg");
  t.equal(root.attrs.xmlns, "http://www.w3.org/2000/svg");
  t.ok(Number(root.attrs.width) > 0 && Number(root.attrs.height) > 0, "width and height");
  t.match(findAll(root, "title")[0]?.text, /throughput against p99 latency/);
  t.notMatch(svg, /NaN|Infinity|undefined/);

  const markers = findAll(root, "circle").filter((c) => c.attrs.class?.startsWith("point"));
  t.equal(markers.length, grid.length - 1, "a marker per point that answered anything");
  const failing = markers.filter((c) => c.attrs.class === "point error");
  t.equal(failing.length, 1);
  t.match(failing[0]!.children[0]?.text, /conc 128: .* 7 errors/, "its tooltip says why");
  t.equal(failing[0]!.attrs.fill, "#ffffff", "hollow");
  t.equal(findAll(root, "polyline").length, 4, "a line per (batch size, delay)");

  const ring = findAll(root, "circle").filter((c) => c.attrs.class === "recommended");
  t.equal(ring.length, 1);
  const picked = markers.find((c) =>
    c.children[0]?.text.startsWith(
      `batch ${rec.point.maxBatchSize}, delay ${rec.point.maxQueueDelayMs} ms, conc ${rec.point.concurrency}:`,
    ),
  );
  t.ok(picked, "the recommended point has a marker");
  t.same(
    [ring[0]!.attrs.cx, ring[0]!.attrs.cy],
    [picked?.attrs.cx, picked?.attrs.cy],
    "ringed where it is drawn",
  );

  // The target line sits where the x axis puts 20 ms: between the ticks 10 and 50.
  const line = findAll(root, "line").find((l) => l.attrs.class === "target")!;
  const tickX = (label: string) =>
    Number(
      findAll(root, "text").find((x) => x.text === label && x.attrs["text-anchor"] === "middle")?.attrs.x,
    );
  const x = Number(line.attrs.x1);
  t.ok(tickX("10") < x && x < tickX("50"), `target at ${x}, between ${tickX("10")} and ${tickX("50")}`);
  t.equal(Math.round(x), Math.round(tickX("20")), "exactly at the 20 ms tick");
  // More throughput is drawn higher.
  const y = (c: (typeof markers)[number]) => Number(c.attrs.cy);
  const best = markers.reduce((a, b) => (y(b) < y(a) ? b : a));
  t.match(best.children[0]?.text, /: 9,005 items\/s/, "the highest marker is the highest throughput");
});

t.test("without a recommendation the chart says so and rings nothing", async (t) => {
  const svg = tuneSvg(grid, recommend(grid, { p99TargetMs: 1, tolerancePercent: 3 }), 1);
  const root = parseXml(svg);
  t.equal(findAll(root, "circle").filter((c) => c.attrs.class === "recommended").length, 0);
  t.match(svg, /no setting met p99 ≤ 1\.0 ms/);
  const empty = tuneSvg([], { kind: "none-within-target", lowestP99: undefined }, 50);
  parseXml(empty);
  t.notMatch(empty, /NaN|Infinity/, "an empty sweep still draws");
});

t.test("log axis: 1-2-5 ticks covering the range, positions monotonic", async (t) => {
  const a = logAxis(3.2, 740);
  t.same(a.ticks, [2, 5, 10, 20, 50, 100, 200, 500, 1000]);
  t.equal(a.fraction(2), 0);
  t.equal(a.fraction(1000), 1);
  t.ok(a.fraction(3.2) < a.fraction(20) && a.fraction(20) < a.fraction(740));
  t.ok(Math.abs(a.fraction(20) - a.fraction(2) - (a.fraction(200) - a.fraction(20))) < 1e-9, "decades equal");
  const tiny = logAxis(0.3, 0.35);
  t.same(tiny.ticks, [0.2, 0.5], "a narrow range still gets two ticks");
  t.same(logAxis(0, 0).ticks.length > 0, true, "zero latency does not break the axis");
});
