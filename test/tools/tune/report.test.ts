import t from "tap";
import { parse as parseYaml } from "yaml";
import { recommend } from "../../../src/tools/tune/recommend.js";
import {
  formatCacheNote,
  formatRecommendation,
  formatTable,
  progressLine,
  type TuneReport,
  toCsv,
} from "../../../src/tools/tune/report.js";
import type { PointResult } from "../../../src/tools/tune/sweep.js";
import { point } from "./fixtures.js";

function report(points: PointResult[], p99TargetMs = 50): TuneReport {
  return {
    backend: "student",
    endpoints: ["127.0.0.1:8001"],
    batchCap: 64,
    cappedBatchSizes: [128],
    grid: { batchSizes: [8, 32, 128], delaysMs: [0, 2], concurrency: [4, 16] },
    docsPerRequest: 8,
    warmupS: 1,
    durationS: 3,
    p99TargetMs,
    tolerancePercent: 3,
    maxConcurrentBatches: 2,
    configuredMode: "static",
    configuredPreferredBatchSizes: [],
    configuredCacheMaxBytes: 0,
    points,
    recommendation: recommend(points, { p99TargetMs, tolerancePercent: 3 }),
    interrupted: false,
  };
}

const points = [
  point({ maxBatchSize: 8, maxQueueDelayMs: 0, concurrency: 4, itemsPerS: 1234.4, latency: { p99Ms: 0.5 } }),
  point({
    maxBatchSize: 32,
    maxQueueDelayMs: 2,
    concurrency: 16,
    itemsPerS: 12345.2,
    latency: { p99Ms: 8.14 },
  }),
  point({ maxBatchSize: 64, maxQueueDelayMs: 2, concurrency: 16, itemsPerS: 20000, latency: { p99Ms: 75 } }),
  point({
    maxBatchSize: 64,
    maxQueueDelayMs: 5,
    concurrency: 16,
    itemsPerS: 30000,
    errors: 2,
    errorSamples: ["backend student: no ready endpoint"],
  }),
];

t.test("progress line", async (t) => {
  t.equal(progressLine(points[1]!, 11, 45), "[12/45] batch 32 delay 2ms conc 16: 12,345 items/s p99 8.1 ms");
  t.equal(
    progressLine(points[3]!, 44, 45),
    "[45/45] batch 64 delay 5ms conc 16: 30,000 items/s p99 10.0 ms, 2 errors (backend student: no ready endpoint)",
  );
});

t.test("the table: aligned columns, one row per point, the recommendation marked", async (t) => {
  const text = formatTable(report(points));
  const lines = text.trimEnd().split("\n");
  t.equal(lines.length, 2 + points.length);
  t.match(lines[0], /^batch +delay ms +conc +items\/s +p50 ms +p95 ms +p99 ms +mean batch +errors$/);
  t.match(lines[1], /^----- {2}-------- {2}----/);
  t.match(lines[2], /^ +8 +0 +4 +1,234 +5\.0 +8\.0 +0\.50 +32\.0 +0$/, "sub-ms p99 keeps two decimals");
  t.match(lines[3], /^ +32 +2 +16 +12,345 .* 8\.1 .* ◀ recommended$/);
  t.match(lines[4], / 75\.0 .* over target$/);
  t.match(lines[5], / 30,000 .* 2 {2}errors$/);
  const itemsColumn = lines.map((l) => l.indexOf("items/s") + "items/s".length);
  t.ok(
    lines.slice(2).every((l) => /\d/.test(l[itemsColumn[0]! - 1]!)),
    "numbers are right-aligned under their header",
  );
});

t.test("CSV: a header and one row of plain numbers per point", async (t) => {
  const csv = toCsv(report(points)).trimEnd().split("\n");
  const header = csv[0]!.split(",");
  t.same(header.slice(0, 3), ["max_batch_size", "max_queue_delay_ms", "concurrency"]);
  t.equal(csv.length, 1 + points.length);
  const rows = csv.slice(1).map((l) => Object.fromEntries(l.split(",").map((v, i) => [header[i], v])));
  t.equal(rows[1]!.items_per_s, "12345.2", "no thousands separators");
  t.equal(rows[1]!.p99_ms, "8.140");
  t.equal(rows[1]!.docs_per_request, "8");
  t.same(
    rows.map((r) => [r.meets_target, r.recommended, r.errors]),
    [
      ["true", "false", "0"],
      ["true", "true", "0"],
      ["false", "false", "0"],
      ["false", "false", "2"],
    ],
  );
  t.ok(
    csv.every((l) => l.split(",").length === header.length),
    "every row has every column",
  );
});

t.test("the recommendation comes with a YAML snippet that parses to the config keys", async (t) => {
  const text = formatRecommendation(report(points));
  t.match(
    text,
    /^Recommended for p99 ≤ 50\.0 ms: maxBatchSize 32, maxQueueDelayMs 2: 12,345 items\/s, p99 8\.1 ms/,
  );
  t.match(text, /at concurrency 16 \(128 documents outstanding\)/);
  t.match(text, /maxConcurrentBatches 2/);
  const yaml = text.slice(text.indexOf("backends:"));
  t.same(parseYaml(yaml), { backends: { student: { batching: { maxBatchSize: 32, maxQueueDelayMs: 2 } } } });
  const odd = formatRecommendation({ ...report(points), backend: "student:v2" });
  t.same(
    Object.keys(parseYaml(odd.slice(odd.indexOf("backends:"))).backends),
    ["student:v2"],
    "names quoted",
  );
});

t.test("keys the config sets otherwise are spelled out, so the snippet is what was measured", async (t) => {
  const text = formatRecommendation({
    ...report(points),
    configuredMode: "adaptive",
    configuredPreferredBatchSizes: [16, 64],
  });
  t.match(text, /mode: adaptive; tune measured fixed settings/);
  t.match(text, /preferredBatchSizes; tune measured without them/);
  t.same(parseYaml(text.slice(text.indexOf("backends:"))), {
    backends: {
      student: {
        batching: { maxBatchSize: 32, maxQueueDelayMs: 2, mode: "static", preferredBatchSizes: [] },
      },
    },
  });
});

t.test("no setting meets the target: says so and names the lowest p99", async (t) => {
  const text = formatRecommendation(report(points, 0.1));
  t.match(text, /^No setting met p99 ≤ 0\.10 ms\. The lowest p99 was 0\.50 ms, at batch 8 delay 0ms conc 4/);
  t.notMatch(text, /backends:/, "no snippet without a recommendation");
  const allFailed = formatRecommendation(report([points[3]!]));
  t.match(allFailed, /every point failed or answered nothing/);
});

t.test("the cache line: off, and why the sweep leaves a configured cache out", async (t) => {
  const r = report(points);
  t.equal(formatCacheNote(r), "Cache: off (backends.student.cache.maxBytes is 0).\n");
  t.equal(
    formatCacheNote({ ...r, configuredCacheMaxBytes: 64 * 2 ** 20 }),
    "Cache: off in the sweep, which drives the batcher directly. The config's cache (maxBytes 64 MiB) " +
      "answers repeated pairs before the batcher, which then sees only the misses.\n",
  );
  t.match(formatCacheNote({ ...r, configuredCacheMaxBytes: 100_000 }), /maxBytes 100,000 bytes/);
});
