/**
 * What the score cache scenario offers, and the arithmetic of its goals,
 * kept apart from the servers so both can be tested: the Zipf workload sized
 * for a stated repeat share, the cache's size, and the figures each goal is
 * judged on.
 */
import { ENTRY_BYTES } from "../../../cache/index.js";
import type { BatchingSpec } from "../configs.js";
import { type RepeatShare, sizeForRepeatShare, type ZipfWorkloadSpec } from "../zipf-workload.js";

/** The share of offered pairs the workload aims to repeat (R). */
export const TARGET_REPEAT_SHARE = 0.6;
/** The items goal's slack: backend items fall by at least R − 2 points. */
export const SLACK_POINTS = 2;
/** Zipf exponent of query popularity and of candidate rank within a query. */
export const EXPONENT = 1;
export const DOCS = 32;
export const CANDIDATES = 128;
/** The replay: Poisson arrivals, a fifth of the simulator's capacity at full batches. */
export const REPLAY_RATE_PER_S = 150;
/** The replay lasts this many measured windows (`--seconds`). */
export const REPLAY_WINDOWS = 1.5;
/** Cached requests and the direct ModelInfer calls: light load, so that neither side queues. */
export const LATENCY_RATE_PER_S = 50;
/**
 * As the batching scenario's gateway (one simulator instance, batches of up to 256), with the
 * default queue bound: a gateway starved of CPU by other work on the machine falls behind for a
 * moment, and the replay is a count of work that must not be shed.
 */
export const BATCHING: BatchingSpec = {
  maxBatchSize: 256,
  maxQueueDelayMs: 2,
  maxConcurrentBatches: 2,
  maxQueueItems: 32_768,
};
/** `CACHE_POLICY_BYPASS`: the warm-up before a replay neither reads nor fills the cache. */
export const BYPASS = 1;
/** Headroom of `maxBytes` over the planned distinct pairs: a replay that sends a little more still fits. */
const HEADROOM = 1.25;
const MiB = 2 ** 20;
export const TTL_MS = 3_600_000;
/** The RSS goal: peak RSS with the cache − maxBytes ≤ this × peak RSS without. */
export const RSS_FACTOR = 1.3;

export interface CachePlan {
  /** The workload whose requests the replay is planned to send (N = rate × duration). */
  readonly spec: ZipfWorkloadSpec;
  /** Its repeat share over those N requests. */
  readonly planned: RepeatShare;
  /** Requests encoded for the load generator: N and a margin, so a replay that sends more does not wrap. */
  readonly payloadRequests: number;
  readonly replayS: number;
  /** `backends.student.cache.maxBytes` of the gateway with the cache on. */
  readonly maxBytes: number;
}

/** Sizes the key space for the target repeat share over a replay of `replayS` seconds, and the cache for its pairs. */
export function planCacheRun(replayS: number, seed: number): CachePlan {
  const requests = Math.max(1, Math.round(REPLAY_RATE_PER_S * replayS));
  const { spec, realised } = sizeForRepeatShare(TARGET_REPEAT_SHARE, {
    candidatesPerQuery: CANDIDATES,
    docsPerRequest: DOCS,
    exponent: EXPONENT,
    requests,
    seed,
  });
  return {
    spec,
    planned: realised,
    payloadRequests: Math.ceil(requests * 1.2) + 16,
    replayS,
    maxBytes: cacheBytesFor(realised.distinct),
  };
}

/** Whole MiB holding `pairs` entries with headroom (at least the config's 64 KiB minimum). */
export function cacheBytesFor(pairs: number): number {
  return Math.max(1, Math.ceil((pairs * ENTRY_BYTES * HEADROOM) / MiB)) * MiB;
}

/** How much the backend's items fell with the cache, in % of the items without it. */
export function itemsFallPercent(itemsWithCache: number, itemsWithout: number): number {
  return itemsWithout > 0 ? 100 * (1 - itemsWithCache / itemsWithout) : Number.NaN;
}

/** (peak RSS with the cache − maxBytes) ÷ peak RSS without: the RSS goal holds at ≤ RSS_FACTOR. */
export function rssRatio(peakWithMb: number, maxBytes: number, peakWithoutMb: number): number {
  return (peakWithMb - maxBytes / MiB) / peakWithoutMb;
}
