import t from "tap";
import { goalsSvg, headroom } from "../../../src/tools/bench/chart.js";
import {
  cacheText,
  formatTarget,
  formatValue,
  goalsTable,
  goalsText,
  measurementsTable,
  toMarkdown,
} from "../../../src/tools/bench/report.js";
import {
  type BenchReport,
  goal,
  measurement,
  median,
  medianRound,
  pairedMedian,
  type RoundFigures,
} from "../../../src/tools/bench/results.js";
import { rssGrowth } from "../../../src/tools/bench/scenarios/memory.js";
import { findAll, parseXml } from "../common/xml.js";

function round(over: Partial<RoundFigures> = {}): RoundFigures {
  return {
    requests: 1000,
    items: 8000,
    measuredS: 10,
    reqPerS: 100,
    itemsPerS: 800,
    p50Ms: 1.5,
    p95Ms: 2.5,
    p99Ms: 4,
    maxMs: 9,
    errors: 0,
    errorCounts: {},
    cores: { gateway: 0.3, "load generator": 0.2 },
    ...over,
  };
}

const gateway = measurement("gateway", [round(), round({ p50Ms: 1.7, p99Ms: 5 }), round({ p50Ms: 1.6 })]);
const direct = measurement("direct ModelInfer", [
  round({ p50Ms: 1.1, cores: { "triton-sim": 0.1 } }),
  round({ p50Ms: 1.2, cores: { "triton-sim": 0.12 } }),
  round({ p50Ms: 1.0, cores: { "triton-sim": 0.11 } }),
]);

const report: BenchReport = {
  schema: "relevance-gateway-bench/1",
  mode: "full",
  command: "relevance-gateway bench",
  startedAt: "2026-01-02T03:04:05.000Z",
  durationS: 612.4,
  machine: {
    cpus: 2,
    cpuModel: "Test CPU",
    totalMemoryMb: 4096,
    platform: "linux",
    node: "v20.0.0",
    loadAverage: { start: [0.5, 0.6, 0.7], end: [1.25, 0.8, 0.75] },
  },
  scenarios: [
    {
      id: "overhead",
      title: "Overhead at low load",
      setup: "Open loop | 100 req/s.",
      measurements: [gateway, direct],
      goals: [
        goal({
          id: "overhead-p50",
          scenario: "overhead",
          what: "gateway p50 − direct p50",
          measured: 0.5,
          comparator: "<=",
          target: 1,
          unit: "ms",
          detail: "p50 1.60 vs 1.10 ms",
        }),
      ],
      notes: ["a note"],
    },
    {
      id: "batching",
      title: "Batching gain at saturation",
      setup: "Closed loop.",
      measurements: [measurement("batching on", [round({ meanBatch: 250.4 })], { peakRssMb: 123.4 })],
      goals: [
        goal({
          id: "batching-gain",
          scenario: "batching",
          what: "items/s, batching on ÷ off",
          measured: 7.5,
          comparator: ">=",
          target: 8,
          unit: "×",
          detail: "x",
        }),
        goal({
          id: "memory-growth",
          scenario: "memory",
          what: "RSS growth",
          measured: Number.NaN,
          comparator: "<",
          target: 10,
          unit: "%",
          detail: "not measured",
        }),
      ],
      notes: [],
    },
  ],
  profiled: false,
  failures: ["shadow: vllm-sim exited"],
};

t.test("goals are judged by their comparator; an unmeasured goal is not met", (t) => {
  const [overhead] = report.scenarios[0]!.goals;
  const [gain, growth] = report.scenarios[1]!.goals;
  t.equal(overhead!.met, true);
  t.equal(gain!.met, false, "7.5× misses ≥ 8×");
  t.equal(growth!.met, false, "NaN is never met");
  t.equal(goal({ ...gain!, measured: 8 }).met, true, "the bound itself meets ≥");
  t.equal(goal({ ...growth!, measured: 10 }).met, false, "the bound itself misses <");
  t.end();
});

t.test("medians over rounds, and paired ratios per round", (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  const m = medianRound(gateway.rounds);
  t.equal(m.p50Ms, 1.6);
  t.equal(m.p99Ms, 4);
  t.same(m.cores, { gateway: 0.3, "load generator": 0.2 });
  t.equal(m.meanBatch, undefined);
  const failing = medianRound([round({ errors: 2, errorCounts: { UNAVAILABLE: 2 } }), round()]);
  t.equal(failing.errors, 2, "errors add up over rounds");
  t.same(failing.errorCounts, { UNAVAILABLE: 2 });
  // Per round: 0.5, 0.5, 0.6 → 0.5.
  t.ok(Math.abs(pairedMedian(gateway, direct, (g, d) => g.p50Ms - d.p50Ms) - 0.5) < 1e-9);
  t.end();
});

t.test("figures read with their units; goals as written", (t) => {
  t.equal(formatValue(0.4234, "ms"), "0.42 ms");
  t.equal(formatValue(9.06, "×"), "9.1×");
  t.equal(formatValue(0.853, ""), "0.85");
  t.equal(formatValue(12.34, ""), "12.3");
  t.equal(formatValue(151.6, "MB"), "152 MB");
  t.equal(formatValue(2.13, "%"), "2.1%");
  t.equal(formatValue(Number.NaN, "%"), "n/a");
  t.equal(formatTarget({ comparator: "<=", target: 1, unit: "ms" }), "≤ 1 ms");
  t.equal(formatTarget({ comparator: ">=", target: 8, unit: "×" }), "≥ 8×");
  t.equal(formatTarget({ comparator: ">=", target: 0.8, unit: "" }), "≥ 0.8");
  t.equal(formatTarget({ comparator: "<", target: 10, unit: "%" }), "< 10%");
  t.equal(formatTarget({ comparator: "<=", target: 200, unit: "MB" }), "≤ 200 MB");
  t.end();
});

/** The cells of a Markdown table row. */
const cells = (row: string) => row.slice(2, -2).split(/(?<!\\) \| /);

t.test("the goals table has one row per goal and escapes pipes", (t) => {
  const rows = goalsTable(report);
  t.equal(rows.length, 2 + 3, "header, rule and three goals");
  t.same(cells(rows[0]!), ["scenario", "measured", "figure", "goal", "met", "details"]);
  t.same(cells(rows[2]!).slice(0, 5), [
    "Overhead at low load",
    "gateway p50 − direct p50",
    "0.50 ms",
    "≤ 1 ms",
    "yes",
  ]);
  t.equal(cells(rows[3]!)[4], "**no**");
  t.equal(cells(rows[4]!)[2], "n/a");
  t.end();
});

t.test("every measurements row has a cell per column", (t) => {
  const rows = measurementsTable(report.scenarios[0]!);
  const width = cells(rows[0]!).length;
  for (const r of rows.slice(2)) t.equal(cells(r).length, width, r);
  t.match(
    rows[2],
    /^\| gateway \| 100 \| 800 \| 1\.60 \| 2\.50 \| 4\.00 \| 0 \| {2}\| gateway 0\.30, load generator 0\.20 \|/,
  );
  const batching = measurementsTable(report.scenarios[1]!);
  t.match(batching[2], /\| 250\.4 \|.*\| 123 \|$/, "mean batch and peak RSS when known");
  t.end();
});

t.test("a gateway's cache: off, or the median hit ratio over rounds, in a column of its own", (t) => {
  const on = (hits: number, misses: number) =>
    round({ cache: { kind: "on", hits, misses, coalesced: 1, hitRatio: hits / (hits + misses) } });
  // Hit ratios 0.6, 0.5, 0.7 (hits ÷ (hits + misses)) → 0.6; hits 60, 40, 70 → 60.
  const m = medianRound([on(60, 40), on(40, 40), on(70, 30)]);
  t.same(m.cache, { kind: "on", hits: 60, misses: 40, coalesced: 1, hitRatio: 0.6 });
  t.same(medianRound([round({ cache: { kind: "off" } }), round({ cache: { kind: "off" } })]).cache, {
    kind: "off",
  });
  t.equal(medianRound([round(), round()]).cache, undefined, "no gateway measured: no cache figure");
  t.equal(cacheText({ kind: "off" }), "cache off");
  t.equal(cacheText({ kind: "on", hits: 1, misses: 2, coalesced: 0, hitRatio: 1 / 3 }), "33.3%");
  t.equal(cacheText({ kind: "on", hits: 0, misses: 0, coalesced: 0, hitRatio: null }), "n/a");
  t.equal(cacheText(undefined), "");

  const rows = measurementsTable({
    id: "cache",
    title: "Score cache",
    setup: "",
    measurements: [
      measurement("cache off", [round({ cache: { kind: "off" } })]),
      measurement("cache on", [on(3, 1)]),
      measurement("direct", [round()]),
    ],
    goals: [],
    notes: [],
  });
  const header = cells(rows[0]!);
  const column = header.indexOf("cache hit ratio");
  t.ok(column > 0, "a cache hit ratio column");
  t.same(
    rows.slice(2).map((r) => cells(r)[column]),
    ["cache off", "75.0%", ""],
  );
  t.notOk(
    measurementsTable(report.scenarios[0]!)[0]!.includes("cache"),
    "no column where no round has a cache figure",
  );
  t.end();
});

t.test("the Markdown report names the machine, the load, the command and every scenario", (t) => {
  const md = toMarkdown(report);
  t.match(md, /^# relevance-gateway bench \(full run\)/);
  t.match(md, /`relevance-gateway bench`/);
  t.match(md, /2 × Test CPU, 4,096 MB, linux, Node v20\.0\.0/);
  t.match(
    md,
    /load average \(1 \/ 5 \/ 15 min\) 0\.50 \/ 0\.60 \/ 0\.70 at the start, 1\.25 \/ 0\.80 \/ 0\.75 at the end/,
  );
  t.match(md, /## Overhead at low load\n\nOpen loop \| 100 req\/s\./);
  t.match(md, /## Batching gain at saturation/);
  t.match(md, /- a note/);
  t.match(md, /Scenarios that failed:\n\n- shadow: vllm-sim exited/);
  t.match(md, /medians over the rounds/);
  t.notMatch(md, /undefined|NaN/);
  const text = goalsText(report);
  t.match(text, /gateway p50 − direct p50\s+0\.50 ms\s+≤ 1 ms\s+met/);
  t.match(text, /items\/s, batching on ÷ off\s+7\.5×\s+≥ 8×\s+MISSED/);
  t.end();
});

t.test("headroom: 1 at the goal, above when better, either direction", (t) => {
  t.equal(headroom({ comparator: ">=", measured: 16, target: 8 }), 2);
  t.equal(headroom({ comparator: "<=", measured: 0.5, target: 1 }), 2);
  t.equal(headroom({ comparator: "<=", measured: 2, target: 1 }), 0.5);
  t.equal(headroom({ comparator: "<=", measured: -0.1, target: 1 }), 3, "nothing added is the best drawn");
  t.ok(Number.isNaN(headroom({ comparator: "<", measured: Number.NaN, target: 10 })));
  t.end();
});

t.test("the chart is a well-formed SVG with a bar per measured goal and the goal line", (t) => {
  const svg = goalsSvg(report);
  const root = parseXml(svg);
  t.equal(root.name, "svg");
  t.match(findAll(root, "title")[0]?.text, /goals \(1 of 3 met\)/);
  const bars = findAll(root, "rect").filter((r) => r.attrs.class?.startsWith("bar"));
  t.equal(bars.length, 2, "the unmeasured goal has no bar");
  t.same(
    bars.map((b) => b.attrs.class),
    ["bar met", "bar missed"],
  );
  t.equal(findAll(root, "line").filter((l) => l.attrs.class === "goal").length, 1);
  t.notMatch(svg, /NaN|Infinity|undefined/);
  t.end();
});

t.test("RSS growth compares the first and last tenth of the soak", (t) => {
  const samples = Array.from({ length: 100 }, (_, i) => 100 + i / 10);
  const g = rssGrowth(samples);
  t.equal(g.startMb, 100.45);
  t.equal(g.endMb, 109.45);
  t.ok(Math.abs(g.growthPercent - 8.96) < 0.01, `${g.growthPercent}%`);
  const flat = rssGrowth([90, 100, 100, 100, 100, 100]);
  t.equal(flat.growthPercent, 0, "medians ignore a warm-up outlier");
  t.end();
});
