/**
 * The shared tier: a Valkey or Redis server that every replica of the
 * gateway reads and fills, so a pair scored through one replica is a hit
 * through the others. Pair keys are the in-process tier's (SHA-256 of
 * backend, model identity, model-input config and pair, so replicas with the
 * same config agree on them) behind `keyPrefix`; a value is the pair's five
 * probabilities as five little-endian float32 (20 bytes), written with the
 * cache's TTL.
 *
 * The tier may only ever make a request cheaper, never fail or stall it:
 * - each call is bounded by `timeoutMs` on the gateway's clock; a late
 *   answer is dropped and the pairs go to the backend;
 * - nothing is queued while the server is unreachable: until the client is
 *   connected (at start, and while it reconnects with backoff in the
 *   background) calls are skipped at once, counted `unavailable`;
 * - a breaker of its own (opossum) opens on errors, timeouts and malformed
 *   answers (a value that is not 20 bytes of five probabilities), after which
 *   calls are skipped without a round trip until its trial call succeeds;
 * - a malformed value is never answered: it counts as a miss, and the pair's
 *   new score overwrites it.
 * Concurrent lookups share a socket write (the client's auto-pipelining), so
 * a burst of requests costs one round trip, not one each. Writes leave after
 * the answers: the rows of every request answered in one turn of the event
 * loop go in one call, a server-side script that sets each key with the TTL
 * (one command instead of one per row, a third of the client's CPU), or key
 * by key in one pipeline on a server that refuses scripts.
 */
import { Redis } from "iovalkey";
import CircuitBreaker from "opossum";
import type { Clock, TimerHandle } from "../util/clock.js";
import { noopSharedTierObserver, type SharedOutcome, type SharedTierObserver } from "./observer.js";
import { decodeRow, describe, encodeRow, globEscape, redactedUrl } from "./shared-values.js";

/** `backends.<name>.cache.shared`. */
export interface SharedTierConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  readonly url: string;
  /** Longest a lookup or write may take before the request goes on without it. */
  readonly timeoutMs: number;
  /** Put before every key, so several gateways' deployments can share one server. */
  readonly keyPrefix: string;
  readonly breaker: {
    readonly errorThresholdPercentage: number;
    readonly volumeThreshold: number;
    readonly resetTimeoutMs: number;
    readonly rollingWindowMs: number;
  };
}

export interface SharedTierOptions {
  readonly clock: Clock;
  readonly observer?: SharedTierObserver | undefined;
  /** Told once when the server becomes unusable and once when it is usable again. */
  readonly log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void } | undefined;
}

/** Most keys in one write call; a turn's writes beyond it go in several calls. */
export const WRITE_CALL_KEYS = 512;

/** KEYS: the keys; ARGV[1]: the TTL in ms ("0": none); ARGV[2…]: the values, in key order. */
const SET_ROWS_LUA = `local ttl = ARGV[1]
for i = 1, #KEYS do
  if ttl == "0" then redis.call("SET", KEYS[i], ARGV[i + 1])
  else redis.call("SET", KEYS[i], ARGV[i + 1], "PX", ttl) end
end
return #KEYS`;

/** The client with the write script defined on it (EVALSHA, falling back to EVAL on a server that lacks it). */
interface ScriptedClient {
  rgSetRows(keyCount: number, ...args: (string | Buffer)[]): Promise<unknown>;
}

/** A call's failure, classified for the metrics. */
class SharedTierFailure extends Error {
  constructor(
    readonly outcome: "error" | "timeout" | "garbage",
    message: string,
  ) {
    super(message);
  }
}

type Call = () => Promise<unknown>;

export { decodeRow, encodeRow, redactedUrl, SHARED_ROW_BYTES } from "./shared-values.js";

export class SharedTier {
  readonly #config: SharedTierConfig;
  readonly #clock: Clock;
  readonly #observer: SharedTierObserver;
  readonly #client: Redis;
  readonly #breaker: CircuitBreaker<[Call], unknown>;
  readonly #log: SharedTierOptions["log"];
  #ttlMs: number;
  #closed = false;
  /** Prefixed keys and encoded rows waiting for this turn's write call. */
  #pendingKeys: string[] = [];
  #pendingValues: Buffer[] = [];
  #flushScheduled = false;
  /** The server refused the write script (an ACL without scripting): write key by key. */
  #keyByKey = false;

  constructor(config: SharedTierConfig, ttlMs: number, opts: SharedTierOptions) {
    this.#config = config;
    this.#ttlMs = ttlMs;
    this.#clock = opts.clock;
    this.#observer = opts.observer ?? noopSharedTierObserver;
    const log = opts.log;
    this.#log = log;
    this.#client = new Redis(config.url, {
      // Fail at once while disconnected instead of queueing behind a dead server.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: true,
      connectTimeout: Math.max(1000, config.timeoutMs),
      // Reconnect forever, backing off to 1 s between attempts (a connect to a dead server costs next to nothing).
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
      lazyConnect: false,
    });
    this.#client.defineCommand("rgSetRows", { lua: SET_ROWS_LUA });
    let reported = false;
    this.#client.on("error", (err: Error) => {
      // Errors reach the calls that meet them; the log says it once per outage.
      if (reported || this.#closed) return;
      reported = true;
      log?.warn({ url: redactedUrl(config.url), err: err.message }, "score cache: shared tier unreachable");
    });
    this.#client.on("close", () => this.#observer.connected(false));
    let everReady = false;
    this.#client.on("ready", () => {
      this.#observer.connected(true);
      if (!everReady) {
        everReady = true;
        log?.info({ url: redactedUrl(config.url) }, "score cache: shared tier connected");
      }
      if (!reported) return;
      reported = false;
      log?.info({ url: redactedUrl(config.url) }, "score cache: shared tier reachable again");
    });
    const b = config.breaker;
    this.#breaker = new CircuitBreaker((call: Call) => call(), {
      name: "score-cache-shared",
      timeout: false, // calls carry their own timeout, on the gateway's clock
      errorThresholdPercentage: b.errorThresholdPercentage,
      volumeThreshold: b.volumeThreshold,
      resetTimeout: b.resetTimeoutMs,
      rollingCountTimeout: b.rollingWindowMs,
      rollingCountBuckets: 10,
    });
    this.#breaker.on("open", () => this.#observer.breakerOpen(true));
    this.#breaker.on("close", () => this.#observer.breakerOpen(false));
    this.#observer.breakerOpen(false);
    this.#observer.connected(false);
  }

  get breakerOpen(): boolean {
    return this.#breaker.opened;
  }

  /** Connected to the server and past its ready check. */
  get connected(): boolean {
    return this.#client.status === "ready";
  }

  /** The TTL of new entries (the cache's `ttlMs`, live). */
  set ttlMs(ms: number) {
    this.#ttlMs = ms;
  }

  /**
   * The rows of `keys`: a Float32Array of five per key found, undefined per
   * key not found. Undefined as a whole when the tier could not answer (its
   * breaker open, an error, the timeout). Never rejects.
   */
  async get(keys: readonly string[]): Promise<(Float32Array | undefined)[] | undefined> {
    if (keys.length === 0) return [];
    const prefixed = keys.map((k) => this.#config.keyPrefix + k);
    let garbage = 0;
    const rows = await this.#call(
      "get",
      async () => {
        const values = await this.#client.mgetBuffer(prefixed);
        if (!Array.isArray(values) || values.length !== keys.length) {
          throw new SharedTierFailure("garbage", `MGET answered ${describe(values)} for ${keys.length} keys`);
        }
        const out: (Float32Array | undefined)[] = [];
        let found = 0;
        for (let i = 0; i < values.length; i++) {
          const v = values[i];
          const row = v === null || v === undefined ? undefined : decodeRow(v);
          out.push(row);
          if (row !== undefined) found++;
          else if (v !== null && v !== undefined) garbage++;
        }
        // A malformed value is a miss (its new score overwrites it, and the call counts as `garbage`);
        // an answer of malformed values only is a failure for the breaker.
        if (garbage > 0 && found === 0) throw new SharedTierFailure("garbage", `${garbage} malformed values`);
        this.#observer.hits(found);
        this.#observer.misses(values.length - found);
        return out;
      },
      () => (garbage > 0 ? "garbage" : "ok"),
    );
    return rows;
  }

  /**
   * Stores rows `rows[j]` of `from` (five floats each) under `keys[j]`, in
   * this turn's write call. Fire and forget: never rejects. Skipped at once
   * (and counted) while the server is unreachable or the breaker open.
   */
  set(keys: readonly string[], from: Float32Array, rows: readonly number[]): void {
    if (keys.length === 0 || this.#closed) return;
    if (this.#client.status !== "ready") {
      this.#observer.request("set", "unavailable");
      return;
    }
    if (!this.#admits()) {
      this.#observer.request("set", "rejected");
      return;
    }
    for (let j = 0; j < keys.length; j++) {
      this.#pendingKeys.push(this.#config.keyPrefix + keys[j]!);
      this.#pendingValues.push(encodeRow(from, rows[j]! * 5));
    }
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // After the I/O of this turn: the answers that produced these rows go out first.
    setImmediate(() => this.#flush());
  }

  /** Sends what `set` gathered: one call per WRITE_CALL_KEYS keys. */
  #flush(): void {
    this.#flushScheduled = false;
    const keys = this.#pendingKeys;
    const values = this.#pendingValues;
    this.#pendingKeys = [];
    this.#pendingValues = [];
    for (let i = 0; i < keys.length; i += WRITE_CALL_KEYS) {
      const k = keys.slice(i, i + WRITE_CALL_KEYS);
      const v = values.slice(i, i + WRITE_CALL_KEYS);
      void this.#call("set", () => this.#write(k, v));
    }
  }

  async #write(keys: string[], values: Buffer[]): Promise<void> {
    const ttl = this.#ttlMs;
    if (!this.#keyByKey) {
      try {
        const stored = await (this.#client as unknown as ScriptedClient).rgSetRows(
          keys.length,
          ...keys,
          String(ttl),
          ...values,
        );
        if (stored !== keys.length) {
          throw new SharedTierFailure(
            "garbage",
            `the write script answered ${describe(stored)} for ${keys.length} keys`,
          );
        }
        return;
      } catch (err) {
        if (!refusesScripts(err)) throw err;
        this.#keyByKey = true;
        this.#log?.warn(
          { url: redactedUrl(this.#config.url), err: (err as Error).message },
          "score cache: the shared server refuses scripts; writing key by key",
        );
      }
    }
    const pipeline = this.#client.pipeline();
    for (let j = 0; j < keys.length; j++) {
      if (ttl > 0) pipeline.set(keys[j]!, values[j]!, "PX", ttl);
      else pipeline.set(keys[j]!, values[j]!);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err !== null);
    if (results === null || failed !== undefined) {
      throw new SharedTierFailure("error", failed?.[0]?.message ?? "pipeline not executed");
    }
  }

  /**
   * Deletes every entry under this tier's prefix (SCAN + UNLINK, a thousand
   * keys a round trip), for every replica at once; returns how many. Rejects
   * when the server cannot be reached: the caller reports it.
   */
  async purge(): Promise<number> {
    const match = `${globEscape(this.#config.keyPrefix)}*`;
    // An admin call, not a request: each round trip may take longer than a lookup, but not forever.
    const roundTripMs = Math.max(1000, this.#config.timeoutMs * 10);
    let cursor = "0";
    let deleted = 0;
    do {
      const [next, keys] = await withTimeout(
        this.#client.scan(cursor, "MATCH", match, "COUNT", 1000),
        this.#clock,
        roundTripMs,
      );
      if (keys.length > 0)
        deleted += await withTimeout(this.#client.unlink(...keys), this.#clock, roundTripMs);
      cursor = next;
    } while (cursor !== "0");
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // What this turn gathered goes before the goodbye, on the same connection.
    this.#flush();
    this.#closed = true;
    this.#breaker.shutdown();
    try {
      await withTimeout(this.#client.quit(), this.#clock, Math.max(100, this.#config.timeoutMs));
    } catch {
      // Not reachable: nothing to say goodbye to.
    }
    this.#client.disconnect();
  }

  /** One call through the breaker, bounded by the timeout, counted by outcome. Never rejects. */
  async #call<T>(
    op: "get" | "set",
    work: () => Promise<T>,
    outcome: () => SharedOutcome = () => "ok",
  ): Promise<T | undefined> {
    if (this.#closed) return undefined;
    if (this.#client.status !== "ready") {
      this.#observer.request(op, "unavailable");
      return undefined;
    }
    if (!this.#admits()) {
      this.#observer.request(op, "rejected");
      return undefined;
    }
    try {
      const result = (await this.#breaker.fire(() =>
        withTimeout(work(), this.#clock, this.#config.timeoutMs),
      )) as T;
      this.#observer.request(op, outcome());
      return result;
    } catch (err) {
      this.#observer.request(op, err instanceof SharedTierFailure ? err.outcome : "error");
      return undefined;
    }
  }

  /** Closed, or half-open with its trial call not yet taken. */
  #admits(): boolean {
    const b = this.#breaker;
    return b.closed || (b.halfOpen && b.pendingClose);
  }
}

function withTimeout<T>(work: Promise<T>, clock: Clock, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer: TimerHandle = clock.setTimeout(
      () => reject(new SharedTierFailure("timeout", `no answer within ${ms} ms`)),
      ms,
    );
    work.then(
      (v) => {
        timer.cancel();
        resolve(v);
      },
      (e: unknown) => {
        timer.cancel();
        reject(e);
      },
    );
  });
}

/** A server that will not run the script (no permission, no scripting) rather than one that failed. */
function refusesScripts(err: unknown): boolean {
  return err instanceof Error && /^(NOPERM|ERR unknown command)/.test(err.message);
}
