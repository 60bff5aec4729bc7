/**
 * The in-process tier: pair key → the pair's five probabilities, bounded by
 * bytes, least recently used first out, each entry living `ttlMs` at most.
 * Backed by `lru-cache`, reading time from the gateway's Clock so tests
 * drive expiry without waiting.
 *
 * Rows are kept as plain arrays of five numbers: a float32 read into a
 * JavaScript number and written back into a Float32Array is the same
 * float32, bit for bit, and an array costs less than a typed array with a
 * buffer of its own. Every entry is counted at ENTRY_BYTES, measured on
 * Node 20 (key string, row, and lru-cache's slots with TTL tracking), so
 * `maxBytes` bounds the heap the tier holds, not just its payload.
 */
import { LRUCache } from "lru-cache";
import type { Clock } from "../util/clock.js";
import { type CacheObserver, noopCacheObserver, type RetireReason } from "./observer.js";

/** Heap bytes one entry holds (a 43-character key, a row of five numbers, the cache's bookkeeping). */
export const ENTRY_BYTES = 272;

/** The knobs of one backend's in-process tier (`backends.<name>.cache`). */
export interface CacheLimits {
  /** Bytes the tier may hold; 0 turns the cache off. */
  readonly maxBytes: number;
  /** How long an entry may answer after it was written; 0: until evicted. */
  readonly ttlMs: number;
}

export interface ScoreStoreOptions {
  readonly clock: Clock;
  readonly observer?: CacheObserver | undefined;
}

type Lru = LRUCache<string, number[]>;

export class ScoreStore {
  #limits: CacheLimits;
  #lru: Lru | undefined;
  readonly #clock: Clock;
  readonly #observer: CacheObserver;

  constructor(limits: CacheLimits, opts: ScoreStoreOptions) {
    this.#clock = opts.clock;
    this.#observer = opts.observer ?? noopCacheObserver;
    this.#limits = limits;
    this.#lru = this.#build(limits);
    this.#report();
  }

  get limits(): CacheLimits {
    return this.#limits;
  }

  /** False while `maxBytes` is 0. */
  get enabled(): boolean {
    return this.#lru !== undefined;
  }

  get entries(): number {
    return this.#lru?.size ?? 0;
  }

  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0;
  }

  /** Copies the row of `key` into `out` at `offset` (five floats); false when absent or expired. */
  read(key: string, out: Float32Array, offset: number): boolean {
    const row = this.#lru?.get(key);
    if (row === undefined) return false;
    for (let k = 0; k < 5; k++) out[offset + k] = row[k]!;
    return true;
  }

  /** Stores the five floats of `from` at `offset` under `key`, replacing what was there. */
  write(key: string, from: Float32Array, offset: number): void {
    const lru = this.#lru;
    if (lru === undefined) return;
    lru.set(key, [from[offset]!, from[offset + 1]!, from[offset + 2]!, from[offset + 3]!, from[offset + 4]!]);
  }

  /** Reports the tier's size to the observer (after a request's writes). */
  report(): void {
    this.#report();
  }

  /** Empties the tier; returns how many entries it held. */
  clear(reason: RetireReason): number {
    const lru = this.#lru;
    const n = lru?.size ?? 0;
    if (n === 0) return 0;
    lru?.clear();
    this.#observer.retired(reason, n);
    this.#report();
    return n;
  }

  /**
   * Applies new limits. Entries are kept, most recently used last in, as
   * many as fit; each keeps its age, so a shorter TTL expires old entries
   * at once. `maxBytes: 0` drops them all.
   */
  reconfigure(limits: CacheLimits): void {
    const previous = this.#limits;
    if (previous.maxBytes === limits.maxBytes && previous.ttlMs === limits.ttlMs) return;
    this.#limits = limits;
    const old = this.#lru;
    const next = this.#build(limits);
    if (old !== undefined && next !== undefined) {
      // Oldest first, so the most recently used end up most recent again, and are the ones that fit.
      for (const key of old.rkeys()) {
        const row = old.peek(key);
        if (row === undefined) continue;
        const remaining = old.getRemainingTTL(key);
        const ageMs = previous.ttlMs === 0 || !Number.isFinite(remaining) ? 0 : previous.ttlMs - remaining;
        if (limits.ttlMs === 0) next.set(key, row, { ttl: 0 });
        else if (ageMs < limits.ttlMs) next.set(key, row, { ttl: limits.ttlMs - ageMs });
      }
    }
    this.#lru = next;
    this.#report();
  }

  #build(limits: CacheLimits): Lru | undefined {
    if (limits.maxBytes < ENTRY_BYTES) return undefined;
    const clock = this.#clock;
    const observer = this.#observer;
    return new LRUCache<string, number[]>({
      maxSize: limits.maxBytes,
      sizeCalculation: () => ENTRY_BYTES,
      ttl: limits.ttlMs,
      // Read the clock at every check (the default caches it for 1 ms with a global timer).
      ttlResolution: 0,
      perf: { now: () => clock.now() },
      // Expired entries are not answered; they leave at their next lookup or when room is needed.
      allowStale: false,
      updateAgeOnGet: false,
      dispose: (_value, _key, reason) => {
        if (reason === "evict" || reason === "expire") observer.evicted(reason);
      },
    });
  }

  #report(): void {
    this.#observer.size(this.bytes, this.entries);
  }
}
