import type { BackendClient } from "../backends/backend-client.js";
import { createResilientBackend, type ResilientBackend } from "../backends/resilience/resilient-backend.js";
import { RetryBudget } from "../backends/resilience/retry-budget.js";
import { AdaptiveController } from "../batching/adaptive.js";
import { Batcher, type BatchLimits } from "../batching/batcher.js";
import {
  type CachedScorer,
  configDigest,
  createCachedScorer,
  type PairScorer,
  ScoreStore,
  SharedTier,
  servedIdentity,
} from "../cache/index.js";
import type { BackendConfig, BatchingConfig, GatewayConfig } from "../config/index.js";
import { cacheMetrics, sharedCacheMetrics } from "../observability/cache-metrics.js";
import { flowMetrics } from "../observability/flow-metrics.js";
import type { Logger } from "../observability/logger.js";
import { batcherMetrics, type GatewayMetrics, resilienceMetrics } from "../observability/metrics.js";
import type { Clock } from "../util/clock.js";
import type { GatewayError } from "../util/gateway-error.js";

/**
 * A backend lane: one backend's endpoints behind their own breakers and outlier
 * detection, the batcher in front of them, and the lane's metrics. A primary
 * lane serves the requests routed to its backend; the shadow lane mirrors to
 * the teacher with breakers, a bounded queue and a concurrency of its own, so
 * it is shed before it can touch the primary path. Both are built by
 * `createLane` and follow a live batching change through `reconfigure`.
 */
export type LaneKind = "primary" | "shadow";

export interface LaneDeps {
  readonly kind: LaneKind;
  /** The backend's config name; for the shadow lane, `routing.shadow.backend`. */
  readonly backend: string;
  /** The backend's client; the teacher's primary and shadow lanes share one. */
  readonly client: BackendClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}

export interface Lane {
  readonly kind: LaneKind;
  /** The backend's config name. */
  readonly name: string;
  readonly backend: ResilientBackend;
  readonly batcher: Batcher;
  /** What the pipeline submits to: the score cache in front of the batcher (primary lane), or the batcher. */
  readonly scorer: PairScorer;
  /** The primary lane's score cache (passing everything through while `cache.maxBytes` is 0). */
  readonly cache: CachedScorer | undefined;
  /** Applies `cfg.backends[name].batching` and `.cache`; an adaptive controller is kept, with its new target. */
  reconfigure(cfg: GatewayConfig): void;
  /** Starts the client's readiness probes (primary lane: the shadow lane borrows the teacher's client). */
  start(): Promise<void>;
  /** Admits nothing new; resolves once everything queued and in flight is answered. */
  drain(): Promise<void>;
  /** Answers everything still queued or in flight with `error` (the end of a drain's grace period). */
  abort(error: GatewayError): void;
  /** Stops the breakers and closes the client (primary lane: the client's owner). */
  dispose(): Promise<void>;
}

/** Feeds an adaptive controller's learned batch time model (ms) to the backend's gauges (s). */
export function costModelGauges(metrics: GatewayMetrics, backend: string) {
  return (fixedMs: number, perItemMs: number): void => {
    metrics.batchCostFixed.labels(backend).set(fixedMs / 1000);
    metrics.batchCostPerItem.labels(backend).set(perItemMs / 1000);
  };
}

/** The batcher limits for a backend's `batching` config; an adaptive controller is kept across changes. */
export function batchLimits(
  b: BatchingConfig,
  previous: BatchLimits["controller"],
  onModel: (fixedMs: number, perItemMs: number) => void,
): BatchLimits {
  let controller: BatchLimits["controller"];
  if (b.mode === "adaptive" && b.targetLatencyMs !== undefined) {
    if (previous instanceof AdaptiveController) {
      previous.setTargetLatencyMs(b.targetLatencyMs);
      controller = previous;
    } else {
      controller = new AdaptiveController({ targetLatencyMs: b.targetLatencyMs, onModel });
    }
  }
  return {
    maxBatchSize: b.maxBatchSize,
    maxQueueDelayMs: b.maxQueueDelayMs,
    preferredBatchSizes: b.preferredBatchSizes,
    maxQueueItems: b.maxQueueItems,
    maxConcurrentBatches: b.maxConcurrentBatches,
    bandMinShare: b.bandMinShare,
    maxQueueWaitMs: b.maxQueueWaitMs,
    maxQueueItemsPerClient: b.maxQueueItemsPerClient,
    controller,
  };
}

/** The one mapping from the config to a backend lane, for the primary path and the shadow path alike. */
export function createLane(cfg: GatewayConfig, deps: LaneDeps): Lane {
  const { kind, backend: name, clock, logger, metrics } = deps;
  const b = cfg.backends[name];
  if (!b) throw new Error(`no backend ${name} in the config`);
  const shadow = kind === "shadow" ? cfg.routing.shadow : undefined;
  if (kind === "shadow" && shadow?.backend !== name) {
    throw new Error(`the shadow lane needs routing.shadow.backend ${name}`);
  }
  const primary = kind === "primary";

  const backend = createResilientBackend(deps.client, {
    breaker: b.breaker,
    outlier: b.outlierDetection,
    clock,
    logger,
    // The backend's breaker and ejection series count the primary path only.
    hooks: primary ? resilienceMetrics(metrics, name) : undefined,
  });

  const onModel = costModelGauges(metrics, name);
  // The shadow lane takes the teacher's batch shape; its queue bound and concurrency are
  // routing.shadow's (restart-only, so kept from the start), and it never adapts.
  const limitsFor = (batching: BatchingConfig, previous: BatchLimits | undefined): BatchLimits =>
    shadow
      ? {
          maxBatchSize: batching.maxBatchSize,
          maxQueueDelayMs: batching.maxQueueDelayMs,
          preferredBatchSizes: batching.preferredBatchSizes,
          maxQueueItems: shadow.maxQueueItems,
          maxConcurrentBatches: shadow.maxConcurrentBatches,
          bandMinShare: batching.bandMinShare,
        }
      : batchLimits(batching, previous?.controller, onModel);

  const batcher: Batcher = new Batcher({
    backend: shadow ? `${name} (shadow)` : name,
    ...limitsFor(b.batching, undefined),
    endpoints: () => backend.endpoints(),
    callTimeoutMs: shadow ? shadow.timeoutMs : b.timeoutMs,
    // Mirrored work is never retried: a failed shadow batch is only counted.
    retryBudget:
      primary && b.retry.enabled
        ? new RetryBudget(
            { percent: b.retry.budgetPercent, minRetries: b.retry.minRetries, windowMs: b.retry.windowMs },
            clock,
          )
        : undefined,
    shedUnreachableDeadlines: shadow ? true : b.shedUnreachableDeadlines,
    clock,
    observer: primary
      ? {
          ...batcherMetrics(metrics, name),
          ...flowMetrics(metrics.registry, name, () => batcher.queuedByClient()),
        }
      : undefined,
  });

  // The shadow lane mirrors requests for comparison: it neither reads nor fills the cache.
  const cacheObserver = primary ? cacheMetrics(metrics.registry, name) : undefined;
  const sharedConfig = b.cache.shared;
  const shared =
    primary && sharedConfig !== undefined && b.cache.maxBytes > 0
      ? new SharedTier(
          // Each backend's entries under a prefix of their own, so a purge reaches just them.
          { ...sharedConfig, keyPrefix: `${sharedConfig.keyPrefix}${name}:` },
          b.cache.ttlMs,
          {
            clock,
            observer: sharedCacheMetrics(metrics.registry, name),
            log: logger.child({ component: "score-cache", backend: name }),
          },
        )
      : undefined;
  const cache = primary
    ? createCachedScorer({
        backend: name,
        batcher,
        store: new ScoreStore(b.cache, { clock, observer: cacheObserver }),
        shared,
        identity: () => servedIdentity(backend.endpoints()),
        configDigest: modelInputDigest(cfg, b),
        clock,
        observer: cacheObserver,
      })
    : undefined;

  return {
    kind,
    name,
    backend,
    batcher,
    scorer: cache ?? batcher,
    cache,
    reconfigure(next) {
      const nb = next.backends[name];
      if (nb) batcher.reconfigure(limitsFor(nb.batching, batcher.limits));
      if (nb) cache?.reconfigure(nb.cache);
    },
    start: () => (primary ? backend.start() : Promise.resolve()),
    drain: () => batcher.drain(),
    abort: (error) => batcher.abortAll(error),
    async dispose() {
      await shared?.close();
      if (primary) await backend[Symbol.asyncDispose]();
    },
  };
}

/**
 * Keys of a backend's config that change how it is reached or batched, not
 * what the model reads or how its answer is read: left out of the cache
 * key's config digest. Any other key (templates, tensors, output kind, a key
 * added later) is in it, so changing it can never return an old score.
 */
const OPERATIONAL_KEYS = new Set([
  "endpoints",
  "role",
  "timeoutMs",
  "readiness",
  "discovery",
  "breaker",
  "outlierDetection",
  "retry",
  "shedUnreachableDeadlines",
  "bandPriorities",
  "batching",
  "cache",
  "maxMessageBytes",
  "maxResponseBytes",
  "tls",
  "apiKeyEnv",
  "apiKeyFile",
]);

/** The digest of what shapes a backend's model input and the reading of its output (cache keys). */
export function modelInputDigest(cfg: GatewayConfig, b: BackendConfig): string {
  const backend = Object.fromEntries(Object.entries(b).filter(([k]) => !OPERATIONAL_KEYS.has(k)));
  return configDigest({ modelText: cfg.modelText, backend });
}
