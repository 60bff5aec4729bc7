/**
 * What the score cache reports, for metrics. Called with counts per request,
 * not per pair; implementations resolve their label children once.
 */
export type EvictionReason = "evict" | "expire";
export type RetireReason = "purge" | "model_change";

export interface CacheObserver {
  /** Pairs answered from the in-process tier. */
  hits(n: number): void;
  /** Pairs looked up and not found (or not looked up: the model identity was unknown). */
  misses(n: number): void;
  /** Pairs that joined an identical pair already queued or in flight instead of a backend item of their own. */
  coalesced(n: number): void;
  /** Entries dropped for room (`evict`) or age (`expire`). */
  evicted(reason: EvictionReason): void;
  /** The tier was emptied: by the admin API, or because the model identity changed. */
  retired(reason: RetireReason, entries: number): void;
  /** Size of the tier now. */
  size(bytes: number, entries: number): void;
}

export const noopCacheObserver: CacheObserver = {
  hits() {},
  misses() {},
  coalesced() {},
  evicted() {},
  retired() {},
  size() {},
};

/**
 * The shared tier's outcome of one call: answered, failed, timed out,
 * answered malformed values, skipped by its open breaker, or skipped while
 * the client is not connected.
 */
export type SharedOutcome = "ok" | "error" | "timeout" | "garbage" | "rejected" | "unavailable";

/** What the shared tier (Valkey/Redis) reports, for metrics. */
export interface SharedTierObserver {
  /** Pairs the shared tier answered. */
  hits(n: number): void;
  /** Pairs looked up in the shared tier and not found there. */
  misses(n: number): void;
  /** One call (a multi-get, or a request's writes) and how it ended. */
  request(op: "get" | "set", outcome: SharedOutcome): void;
  /** The shared tier's breaker opened (true) or closed (false). */
  breakerOpen(open: boolean): void;
  /** The client connected to the server (true) or lost it (false). */
  connected(up: boolean): void;
}

export const noopSharedTierObserver: SharedTierObserver = {
  hits() {},
  misses() {},
  request() {},
  breakerOpen() {},
  connected() {},
};
