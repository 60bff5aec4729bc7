/**
 * A gateway's score cache as the bench reads it: the counters of its
 * in-process tier (`tier="memory"`), summed over backends, scraped from the
 * gateway's /metrics, and the hit ratio of a window from two scrapes.
 */
import { METRIC_PREFIX } from "../../observability/metrics.js";
import { metricSum, scrape } from "./processes.js";
import { type CacheFigures, hitRatio } from "./results.js";

/** A gateway under test: where its metrics are, and whether its config turns a cache on. */
export interface GatewayUnderTest {
  readonly adminUrl: string;
  readonly cacheOn: boolean;
}

export interface CacheCounters {
  readonly hits: number;
  readonly misses: number;
  readonly coalesced: number;
  /** Entries dropped for room or age. */
  readonly evictions: number;
  /** Gauges: what the tier holds now. */
  readonly bytes: number;
  readonly entries: number;
}

const MEMORY = 'tier="memory"';

export function cacheCounters(exposition: string): CacheCounters {
  const sum = (name: string, labels = MEMORY) => metricSum(exposition, `${METRIC_PREFIX}${name}`, labels);
  return {
    hits: sum("cache_hits_total"),
    misses: sum("cache_misses_total"),
    // Coalescing is per backend, not per tier.
    coalesced: sum("cache_coalesced_total", ""),
    evictions: sum("cache_evictions_total"),
    bytes: sum("cache_bytes"),
    entries: sum("cache_entries"),
  };
}

export async function scrapeCacheCounters(adminUrl: string): Promise<CacheCounters> {
  return cacheCounters(await scrape(`${adminUrl}/metrics`));
}

/** The figures of a window between two scrapes of a gateway whose cache is on. */
export function cacheBetween(from: CacheCounters, to: CacheCounters): CacheFigures {
  const hits = to.hits - from.hits;
  const misses = to.misses - from.misses;
  return {
    kind: "on",
    hits,
    misses,
    coalesced: to.coalesced - from.coalesced,
    hitRatio: hitRatio(hits, misses),
  };
}

/**
 * Watches a gateway's cache over a window: `open()` as it opens, `close()`
 * once it has ended. "Off" without a scrape when the gateway's config has no
 * cache; undefined when no gateway is watched (or it could not be scraped).
 */
export function cacheWindow(gateway: GatewayUnderTest | undefined): {
  /** Resolves once the opening scrape is in (the bench does not wait: its load is already running). */
  open(): Promise<void>;
  close(): Promise<CacheFigures | undefined>;
} {
  let opened: Promise<CacheCounters | undefined> | undefined;
  const read = (url: string) => scrapeCacheCounters(url).catch(() => undefined);
  return {
    async open() {
      if (gateway?.cacheOn && opened === undefined) opened = read(gateway.adminUrl);
      await opened;
    },
    async close() {
      if (gateway === undefined) return undefined;
      if (!gateway.cacheOn) return { kind: "off" };
      const [from, to] = await Promise.all([opened, read(gateway.adminUrl)]);
      return from && to ? cacheBetween(from, to) : undefined;
    },
  };
}
