import type { PointResult } from "./sweep.js";

export interface RecommendOptions {
  /** Latency objective: a point qualifies when its p99 is at most this. */
  readonly p99TargetMs: number;
  /**
   * Throughputs within this percentage of the best qualifying one count as
   * equal: run-to-run noise is of this order, so a larger batch that is 1%
   * "faster" is not evidence of anything.
   */
  readonly tolerancePercent: number;
}

export type Recommendation =
  | {
      readonly kind: "within-target";
      readonly point: PointResult;
      /** The highest throughput among qualifying points (the chosen one is within tolerance of it). */
      readonly bestItemsPerS: number;
      /** Qualifying points within tolerance of the best, the chosen one included. */
      readonly equivalent: number;
    }
  | {
      readonly kind: "none-within-target";
      /** The error-free point with the lowest p99, when any point answered without errors. */
      readonly lowestP99: PointResult | undefined;
    };

/** Measured something and failed nothing: the only points worth recommending. */
export function isClean(p: PointResult): boolean {
  return p.errors === 0 && p.requests > 0;
}

export function meetsTarget(p: PointResult, p99TargetMs: number): boolean {
  return isClean(p) && p.latency.p99Ms <= p99TargetMs;
}

/**
 * The setting with the best throughput whose p99 meets the target. Among
 * points whose throughput is within the tolerance of the best, the smallest
 * batch size wins, then the shortest delay, then the lowest p99: the same
 * throughput with smaller batches and less waiting bounds the time of a batch
 * when load outgrows what was measured.
 */
export function recommend(points: readonly PointResult[], opts: RecommendOptions): Recommendation {
  const qualifying = points.filter((p) => meetsTarget(p, opts.p99TargetMs));
  if (qualifying.length === 0) {
    let lowest: PointResult | undefined;
    for (const p of points) {
      if (isClean(p) && (!lowest || p.latency.p99Ms < lowest.latency.p99Ms)) lowest = p;
    }
    return { kind: "none-within-target", lowestP99: lowest };
  }
  const bestItemsPerS = Math.max(...qualifying.map((p) => p.itemsPerS));
  const floor = bestItemsPerS * (1 - opts.tolerancePercent / 100);
  const equivalent = qualifying
    .filter((p) => p.itemsPerS >= floor)
    .sort(
      (a, b) =>
        a.maxBatchSize - b.maxBatchSize ||
        a.maxQueueDelayMs - b.maxQueueDelayMs ||
        a.latency.p99Ms - b.latency.p99Ms,
    );
  return { kind: "within-target", point: equivalent[0]!, bestItemsPerS, equivalent: equivalent.length };
}
