import type { TuneGrid } from "./grid.js";
import { isClean, meetsTarget, type Recommendation } from "./recommend.js";
import type { PointResult } from "./sweep.js";

/** Everything a tune run found; written as tune.json and rendered as the table, CSV and chart. */
export interface TuneReport {
  readonly backend: string;
  readonly endpoints: readonly string[];
  /** The smallest max_batch_size the backend's endpoints reported; null when none did. */
  readonly batchCap: number | null;
  /** Grid batch sizes above the cap, measured once as the cap. */
  readonly cappedBatchSizes: readonly number[];
  /** The grid as asked for. */
  readonly grid: TuneGrid;
  readonly docsPerRequest: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly p99TargetMs: number;
  readonly tolerancePercent: number;
  readonly maxConcurrentBatches: number;
  /** The backend's configured `batching.mode`; tune measures fixed (static) settings. */
  readonly configuredMode: string;
  /** The configured `batching.preferredBatchSizes`; tune measures without them. */
  readonly configuredPreferredBatchSizes: readonly number[];
  /** The configured `cache.maxBytes` (0: off); tune measures the batcher without the cache either way. */
  readonly configuredCacheMaxBytes: number;
  readonly points: readonly PointResult[];
  readonly recommendation: Recommendation;
  /** The sweep was stopped before every point ran. */
  readonly interrupted: boolean;
}

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

/** Milliseconds with one decimal, two below 1 ms (a fast backend's p50 would otherwise read "0.0"). */
export function formatMs(n: number): string {
  return n < 1 ? n.toFixed(2) : n.toFixed(1);
}

/** `[12/45] batch 32 delay 2ms conc 16: 12,345 items/s p99 8.1 ms` (and the errors, if any). */
export function progressLine(p: PointResult, index: number, total: number): string {
  const errors = p.errors > 0 ? `, ${p.errors} errors (${p.errorSamples[0] ?? "unknown"})` : "";
  return (
    `[${index + 1}/${total}] batch ${p.maxBatchSize} delay ${p.maxQueueDelayMs}ms conc ${p.concurrency}: ` +
    `${thousands(p.itemsPerS)} items/s p99 ${formatMs(p.latency.p99Ms)} ms${errors}`
  );
}

function note(p: PointResult, report: TuneReport): string {
  const rec = report.recommendation;
  if (rec.kind === "within-target" && rec.point === p) return "◀ recommended";
  if (!isClean(p)) return p.errors > 0 ? "errors" : "no answers";
  return meetsTarget(p, report.p99TargetMs) ? "" : "over target";
}

/** The results as an aligned plain-text table, one row per point in sweep order. */
export function formatTable(report: TuneReport): string {
  const header = [
    "batch",
    "delay ms",
    "conc",
    "items/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "mean batch",
    "errors",
    "",
  ];
  const rows = report.points.map((p) => [
    String(p.maxBatchSize),
    String(p.maxQueueDelayMs),
    String(p.concurrency),
    thousands(p.itemsPerS),
    formatMs(p.latency.p50Ms),
    formatMs(p.latency.p95Ms),
    formatMs(p.latency.p99Ms),
    p.meanBatchItems.toFixed(1),
    String(p.errors),
    note(p, report),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Numbers right-aligned, the note left-aligned.
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const rule = widths.slice(0, -1).map((w) => "-".repeat(w));
  return `${[line(header), line([...rule, ""]), ...rows.map(line)].join("\n")}\n`;
}

const CSV_HEADER = [
  "max_batch_size",
  "max_queue_delay_ms",
  "concurrency",
  "docs_per_request",
  "requests",
  "items",
  "measured_s",
  "items_per_s",
  "p50_ms",
  "p95_ms",
  "p99_ms",
  "max_ms",
  "mean_ms",
  "batches",
  "mean_batch_items",
  "errors",
  "meets_target",
  "recommended",
];

/** One row per point; plain numbers (no thousands separators), so spreadsheets and pandas read it as is. */
export function toCsv(report: TuneReport): string {
  const rec = report.recommendation;
  const rows = report.points.map((p) =>
    [
      p.maxBatchSize,
      p.maxQueueDelayMs,
      p.concurrency,
      report.docsPerRequest,
      p.requests,
      p.items,
      p.measuredS.toFixed(3),
      p.itemsPerS.toFixed(1),
      p.latency.p50Ms.toFixed(3),
      p.latency.p95Ms.toFixed(3),
      p.latency.p99Ms.toFixed(3),
      p.latency.maxMs.toFixed(3),
      p.latency.meanMs.toFixed(3),
      p.batches,
      p.meanBatchItems.toFixed(2),
      p.errors,
      meetsTarget(p, report.p99TargetMs),
      rec.kind === "within-target" && rec.point === p,
    ].join(","),
  );
  return `${[CSV_HEADER.join(","), ...rows].join("\n")}\n`;
}

/** The recommendation in words, with a YAML snippet for `backends.<name>.batching` when there is one. */
export function formatRecommendation(report: TuneReport): string {
  const rec = report.recommendation;
  const target = `p99 ≤ ${formatMs(report.p99TargetMs)} ms`;
  if (rec.kind === "none-within-target") {
    const lowest = rec.lowestP99;
    return lowest
      ? `No setting met ${target}. The lowest p99 was ${formatMs(lowest.latency.p99Ms)} ms, at batch ` +
          `${lowest.maxBatchSize} delay ${lowest.maxQueueDelayMs}ms conc ${lowest.concurrency} ` +
          `(${thousands(lowest.itemsPerS)} items/s).\nTry a lower concurrency, or a higher target.\n`
      : `No setting met ${target}: every point failed or answered nothing (see the errors column).\n`;
  }
  const p = rec.point;
  const others = rec.equivalent - 1;
  const ties =
    others > 0
      ? `; ${others} other setting${others === 1 ? "" : "s"} came within ${report.tolerancePercent}% of the ` +
        `best throughput (${thousands(rec.bestItemsPerS)} items/s), and this one has the smallest batch and delay`
      : "";
  // The snippet reproduces what was measured: keys the config sets otherwise are spelled out.
  const extra: string[] = [];
  const notes: string[] = [];
  if (report.configuredMode !== "static") {
    extra.push("      mode: static");
    notes.push(
      `The config uses mode: ${report.configuredMode}; tune measured fixed settings. Drop the mode line ` +
        "to keep the controller, with these values as its caps.",
    );
  }
  if (report.configuredPreferredBatchSizes.length > 0) {
    extra.push("      preferredBatchSizes: []");
    notes.push("The config sets preferredBatchSizes; tune measured without them.");
  }
  return [
    `Recommended for ${target}: maxBatchSize ${p.maxBatchSize}, maxQueueDelayMs ${p.maxQueueDelayMs}: ` +
      `${thousands(p.itemsPerS)} items/s, p99 ${formatMs(p.latency.p99Ms)} ms at concurrency ${p.concurrency} ` +
      `(${p.concurrency * report.docsPerRequest} documents outstanding)${ties}.`,
    ...notes,
    `Measured with maxConcurrentBatches ${report.maxConcurrentBatches}. For the gateway config:`,
    "",
    "backends:",
    `  ${yamlKey(report.backend)}:`,
    "    batching:",
    `      maxBatchSize: ${p.maxBatchSize}`,
    `      maxQueueDelayMs: ${p.maxQueueDelayMs}`,
    ...extra,
    "",
  ].join("\n");
}

/**
 * The cache line: tune drives the batcher directly, so its figures never
 * include the score cache, whose hits would not reach the batcher anyway.
 */
export function formatCacheNote(report: TuneReport): string {
  const bytes = report.configuredCacheMaxBytes;
  if (bytes === 0) return `Cache: off (backends.${report.backend}.cache.maxBytes is 0).\n`;
  const size = bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `${thousands(bytes)} bytes`;
  return (
    `Cache: off in the sweep, which drives the batcher directly. The config's cache (maxBytes ${size}) ` +
    "answers repeated pairs before the batcher, which then sees only the misses.\n"
  );
}

/** A config name as a YAML key: plain when it is safe, JSON-quoted (valid YAML) otherwise. */
function yamlKey(name: string): string {
  return /^[A-Za-z_][\w-]*$/.test(name) ? name : JSON.stringify(name);
}
