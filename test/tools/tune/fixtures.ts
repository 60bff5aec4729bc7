import type { LatencySummary } from "../../../src/tools/common/latency-stats.js";
import type { PointResult } from "../../../src/tools/tune/sweep.js";

/** A measured point with plausible figures; override what the test is about. */
export function point(
  overrides: Partial<Omit<PointResult, "latency">> & { latency?: Partial<LatencySummary> } = {},
): PointResult {
  const { latency, ...rest } = overrides;
  return {
    maxBatchSize: 32,
    maxQueueDelayMs: 2,
    concurrency: 16,
    requests: 1000,
    items: 8000,
    measuredS: 3,
    itemsPerS: 2666.7,
    batches: 250,
    meanBatchItems: 32,
    errors: 0,
    errorSamples: [],
    ...rest,
    latency: { count: 1000, p50Ms: 5, p95Ms: 8, p99Ms: 10, maxMs: 12, meanMs: 5.5, ...latency },
  };
}
