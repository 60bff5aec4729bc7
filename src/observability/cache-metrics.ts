import { Counter, Gauge, type Registry } from "prom-client";
import type { CacheObserver, SharedTierObserver } from "../cache/index.js";
import { METRIC_PREFIX } from "./metrics.js";

/**
 * Metrics of the score cache, by backend (config names) and tier (`memory`,
 * the in-process tier; `shared`, the Valkey/Redis tier). Each backend's label children are resolved once, so
 * a request costs a few additions, not label lookups.
 */
function defineCacheMetrics(registry: Registry) {
  const p = METRIC_PREFIX;
  const registers = [registry];
  return {
    hits: new Counter({
      name: `${p}cache_hits_total`,
      help: "Pairs (query, document) answered from the score cache, by backend and tier.",
      labelNames: ["backend", "tier"] as const,
      registers,
    }),
    misses: new Counter({
      name: `${p}cache_misses_total`,
      help: "Pairs the score cache could not answer (not cached, or the model identity unknown), by backend and tier.",
      labelNames: ["backend", "tier"] as const,
      registers,
    }),
    coalesced: new Counter({
      name: `${p}cache_coalesced_total`,
      help: "Pairs that shared an identical pair's backend item, queued or in flight, instead of one of their own.",
      labelNames: ["backend"] as const,
      registers,
    }),
    evictions: new Counter({
      name: `${p}cache_evictions_total`,
      help: "Score cache entries dropped for room (reason evict) or age (reason expire), by backend and tier.",
      labelNames: ["backend", "tier", "reason"] as const,
      registers,
    }),
    retired: new Counter({
      name: `${p}cache_retired_total`,
      help: "Score cache entries retired at once: by POST /admin/cache/purge (purge) or a new model identity (model_change).",
      labelNames: ["backend", "tier", "reason"] as const,
      registers,
    }),
    bytes: new Gauge({
      name: `${p}cache_bytes`,
      help: "Bytes the score cache holds (entries × their accounted size), by backend and tier.",
      labelNames: ["backend", "tier"] as const,
      registers,
    }),
    entries: new Gauge({
      name: `${p}cache_entries`,
      help: "Pairs the score cache holds, by backend and tier.",
      labelNames: ["backend", "tier"] as const,
      registers,
    }),
    sharedRequests: new Counter({
      name: `${p}cache_shared_requests_total`,
      help: "Calls to the score cache's shared tier (op get: one multi-get; set: one request's writes), by outcome: ok, error, timeout, garbage (malformed values), rejected (its breaker open), unavailable (not connected).",
      labelNames: ["backend", "op", "outcome"] as const,
      registers,
    }),
    sharedConnected: new Gauge({
      name: `${p}cache_shared_connected`,
      help: "1 while the gateway is connected to the shared tier's server, else 0 (calls are skipped, counted unavailable).",
      labelNames: ["backend"] as const,
      registers,
    }),
    sharedBreakerOpen: new Gauge({
      name: `${p}cache_shared_breaker_open`,
      help: "1 while the shared tier's breaker is open (calls skipped, pairs go to the backend), else 0.",
      labelNames: ["backend"] as const,
      registers,
    }),
  };
}

const byRegistry = new WeakMap<Registry, ReturnType<typeof defineCacheMetrics>>();

function metricsOf(registry: Registry): ReturnType<typeof defineCacheMetrics> {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    m = defineCacheMetrics(registry);
    byRegistry.set(registry, m);
  }
  return m;
}

/** The in-process tier's observer for `backend`, its metrics registered on `registry` once. */
export function cacheMetrics(registry: Registry, backend: string): CacheObserver {
  const m = metricsOf(registry);
  const tier = "memory";
  const hits = m.hits.labels(backend, tier);
  const misses = m.misses.labels(backend, tier);
  const coalesced = m.coalesced.labels(backend);
  const evict = m.evictions.labels(backend, tier, "evict");
  const expire = m.evictions.labels(backend, tier, "expire");
  const bytes = m.bytes.labels(backend, tier);
  const entries = m.entries.labels(backend, tier);
  const retired = m.retired;
  return {
    hits: (n) => {
      if (n > 0) hits.inc(n);
    },
    misses: (n) => {
      if (n > 0) misses.inc(n);
    },
    coalesced: (n) => {
      if (n > 0) coalesced.inc(n);
    },
    evicted: (reason) => (reason === "evict" ? evict : expire).inc(),
    retired: (reason, n) => retired.labels(backend, tier, reason).inc(n),
    size(b, n) {
      bytes.set(b);
      entries.set(n);
    },
  };
}

/** The shared tier's observer for `backend`: hits and misses as tier `shared`, its calls and breaker. */
export function sharedCacheMetrics(registry: Registry, backend: string): SharedTierObserver {
  const m = metricsOf(registry);
  const hits = m.hits.labels(backend, "shared");
  const misses = m.misses.labels(backend, "shared");
  const breaker = m.sharedBreakerOpen.labels(backend);
  const connected = m.sharedConnected.labels(backend);
  const requests = m.sharedRequests;
  return {
    hits: (n) => {
      if (n > 0) hits.inc(n);
    },
    misses: (n) => {
      if (n > 0) misses.inc(n);
    },
    request: (op, outcome) => requests.labels(backend, op, outcome).inc(),
    breakerOpen: (open) => breaker.set(open ? 1 : 0),
    connected: (up) => connected.set(up ? 1 : 0),
  };
}
