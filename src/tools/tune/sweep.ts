import type { BackendEndpoint } from "../../backends/backend-client.js";
import { Batcher } from "../../batching/batcher.js";
import { noopObserver } from "../../batching/observer.js";
import type { ModelTextOptions } from "../../model-text/index.js";
import { type Clock, systemClock } from "../../util/clock.js";
import type { LatencySummary } from "../common/latency-stats.js";
import { runClosedLoop } from "../common/load-generator.js";
import { createWorkload } from "../common/workload.js";
import type { TunePoint } from "./grid.js";

/** What the sweep measured at one point. */
export interface PointResult extends TunePoint {
  /** Requests answered in the measured window. */
  readonly requests: number;
  /** Documents answered in the measured window. */
  readonly items: number;
  readonly measuredS: number;
  /** Answered documents per second of the window (requests straddling its edges pro-rated). */
  readonly itemsPerS: number;
  readonly latency: LatencySummary;
  /** Batches sent in the window and their mean size: shows whether batches fill up to `maxBatchSize`. */
  readonly batches: number;
  readonly meanBatchItems: number;
  /** Failed requests (warm-up included); a point with errors is never recommended. */
  readonly errors: number;
  readonly errorSamples: readonly string[];
}

export interface SweepOptions {
  /** Backend name, for error messages. */
  readonly backend: string;
  /** The backend client's endpoints, as the gateway's batcher reads them. */
  readonly endpoints: () => readonly BackendEndpoint[];
  readonly points: readonly TunePoint[];
  readonly docsPerRequest: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** `batching.maxConcurrentBatches` in force for every point (per endpoint). */
  readonly maxConcurrentBatches: number;
  /** `batching.maxQueueItems`; a closed loop never queues more than concurrency × docs. */
  readonly maxQueueItems: number;
  /** The backend's call timeout (`backends.<name>.timeoutMs`): bounds a hung batch. */
  readonly callTimeoutMs?: number | undefined;
  readonly modelText?: ModelTextOptions | undefined;
  readonly clock?: Clock | undefined;
  /** Ends the sweep: the point running is dropped, the finished ones are returned. */
  readonly signal?: AbortSignal | undefined;
  /** After each finished point (progress). */
  readonly onPoint?: ((result: PointResult, index: number, total: number) => void) | undefined;
}

export interface SweepResult {
  readonly points: readonly PointResult[];
  /** True when `signal` stopped the sweep before every point ran. */
  readonly interrupted: boolean;
}

/**
 * Measures each point with a fresh Batcher, the gateway's own, so queueing,
 * splitting and flush rules are exactly those in production; only its knobs
 * change. Points run one after another: running them together would make
 * them compete for the backend.
 */
export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const clock = opts.clock ?? systemClock;
  const results: PointResult[] = [];
  for (const [i, point] of opts.points.entries()) {
    if (opts.signal?.aborted) break;
    const result = await measurePoint(opts, point, clock);
    if (result === undefined) break;
    results.push(result);
    opts.onPoint?.(result, i, opts.points.length);
  }
  return { points: results, interrupted: results.length < opts.points.length };
}

async function measurePoint(
  opts: SweepOptions,
  point: TunePoint,
  clock: Clock,
): Promise<PointResult | undefined> {
  let measuring = false;
  let batches = 0;
  let batchItems = 0;
  const batcher = new Batcher({
    backend: opts.backend,
    maxBatchSize: point.maxBatchSize,
    maxQueueDelayMs: point.maxQueueDelayMs,
    preferredBatchSizes: [],
    maxQueueItems: opts.maxQueueItems,
    maxConcurrentBatches: opts.maxConcurrentBatches,
    endpoints: opts.endpoints,
    callTimeoutMs: opts.callTimeoutMs,
    clock,
    // Spread over the no-op observer so that hooks added to the interface later need no change here.
    observer: {
      ...noopObserver,
      batchDispatched(items) {
        if (!measuring) return;
        batches++;
        batchItems += items;
      },
    },
  });
  let sequence = 0;
  const loop = await runClosedLoop({
    concurrency: point.concurrency,
    warmupMs: opts.warmupMs,
    durationMs: opts.durationMs,
    // The same seed for every point: each setting sees the same texts.
    workload: createWorkload({ docsPerRequest: opts.docsPerRequest, modelText: opts.modelText }),
    send: (r) =>
      batcher.submit(r.query, r.documents, { requestId: `tune-${sequence++}`, priority: "interactive" }),
    clock,
    signal: opts.signal,
    onWindow: (open) => {
      measuring = open;
    },
  });
  await batcher.drain();
  if (loop.aborted) return undefined;
  const measuredS = loop.measuredMs / 1000;
  return {
    ...point,
    requests: loop.requests,
    items: loop.items,
    measuredS,
    itemsPerS: measuredS > 0 ? loop.windowItems / measuredS : 0,
    latency: loop.latency,
    batches,
    meanBatchItems: batches > 0 ? batchItems / batches : 0,
    errors: loop.errors,
    errorSamples: loop.errorSamples,
  };
}
