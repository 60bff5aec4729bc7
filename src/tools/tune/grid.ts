import type { BackendEndpoint } from "../../backends/backend-client.js";

/** The values swept on each axis; every combination is one point. */
export interface TuneGrid {
  /** `batching.maxBatchSize` candidates (items). */
  readonly batchSizes: readonly number[];
  /** `batching.maxQueueDelayMs` candidates. */
  readonly delaysMs: readonly number[];
  /** Closed-loop workers: requests outstanding at once. */
  readonly concurrency: readonly number[];
}

/** One setting to measure. */
export interface TunePoint {
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  readonly concurrency: number;
}

export interface SweepPlan {
  readonly points: readonly TunePoint[];
  /** Batch sizes actually swept: the grid's, ascending, with those above the cap replaced by the cap. */
  readonly batchSizes: readonly number[];
  /** The grid's batch sizes the backend cannot send whole, when there are any. */
  readonly capped: { readonly requested: readonly number[]; readonly cap: number } | undefined;
}

/**
 * The smallest `max_batch_size` any endpoint reports (Triton's model config),
 * or undefined when none reports one (vLLM, or not yet probed). The batcher
 * caps each batch at its endpoint's value, so above this a larger
 * `maxBatchSize` changes nothing.
 */
export function backendBatchCap(endpoints: readonly BackendEndpoint[]): number | undefined {
  let cap: number | undefined;
  for (const e of endpoints) {
    if (e.maxBatchSize !== undefined && (cap === undefined || e.maxBatchSize < cap)) cap = e.maxBatchSize;
  }
  return cap;
}

const ascendingUnique = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);

/**
 * Every (batch size, delay, concurrency) combination, batch size outermost.
 * Grid batch sizes above `cap` would all run as `cap`-sized batches: they are
 * measured once, as `cap`, and reported in `capped` rather than repeated.
 */
export function planSweep(grid: TuneGrid, cap: number | undefined): SweepPlan {
  const requested = ascendingUnique(grid.batchSizes);
  const over = cap === undefined ? [] : requested.filter((b) => b > cap);
  const batchSizes = ascendingUnique(requested.map((b) => (cap !== undefined && b > cap ? cap : b)));
  const delays = ascendingUnique(grid.delaysMs);
  const concurrency = ascendingUnique(grid.concurrency);
  const points: TunePoint[] = [];
  for (const maxBatchSize of batchSizes) {
    for (const maxQueueDelayMs of delays) {
      for (const c of concurrency) points.push({ maxBatchSize, maxQueueDelayMs, concurrency: c });
    }
  }
  return {
    points,
    batchSizes,
    capped: over.length > 0 && cap !== undefined ? { requested: over, cap } : undefined,
  };
}
