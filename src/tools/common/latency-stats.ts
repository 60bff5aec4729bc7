import { build, type Histogram } from "hdr-histogram-js";

/** Percentiles of one sweep point's request latencies, in milliseconds. */
export interface LatencySummary {
  /** Requests recorded. */
  readonly count: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

// Latencies are recorded in whole microseconds: an HDR histogram counts
// integers, and 3 significant digits of microseconds keep sub-millisecond
// differences visible on a fast backend while a 60 s stall still fits.
const US_PER_MS = 1000;
const HIGHEST_TRACKABLE_US = 3_600_000_000;

/**
 * Records request latencies into an HDR histogram (bounded memory and relative
 * error whatever the count, unlike keeping every sample).
 */
export class LatencyRecorder {
  readonly #histogram: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  });

  record(latencyMs: number): void {
    const us = Math.round(latencyMs * US_PER_MS);
    this.#histogram.recordValue(Math.min(HIGHEST_TRACKABLE_US, Math.max(1, us)));
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  /** All zeros when nothing was recorded (a point where every request failed). */
  summary(): LatencySummary {
    const h = this.#histogram;
    if (h.totalCount === 0) return { count: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 };
    const ms = (us: number) => us / US_PER_MS;
    return {
      count: h.totalCount,
      p50Ms: ms(h.getValueAtPercentile(50)),
      p95Ms: ms(h.getValueAtPercentile(95)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      maxMs: ms(h.maxValue),
      meanMs: ms(h.mean),
    };
  }
}
