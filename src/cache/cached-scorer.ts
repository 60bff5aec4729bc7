/**
 * The score cache in front of one backend's batcher. For each request:
 *
 *   documents ──key──┬─ in the tier ─────────────▶ row copied, cached = 1
 *                    ├─ queued or in flight ──────▶ waits for that item's answer (coalesced)
 *                    └─ new ─┬─ one multi-get in the shared tier (when configured) ─▶ cached = 1
 *                            └─ the rest: one batcher.submit ─▶ answer ─▶ both tiers
 *   then the rows are put back together in the request's order.
 *
 * Rows the shared tier answers are kept in the in-process tier too; rows
 * the backend scored are written to both.
 *
 * The in-flight map holds each pair key the batcher has been given and not
 * yet answered, so identical pairs from any number of requests become one
 * backend item. A request that joins another's item still keeps its own
 * deadline and cancellation; if the other request goes away (its deadline,
 * its cancel) or the item fails for a reason of that request, the joiner
 * submits its pairs itself. A backend that cannot serve fails them all alike.
 *
 * Nothing is cached while the model identity is unknown (see
 * model-identity.ts). An identity change retires the tier at once; an
 * answer from another identity than the one the keys were made with is not
 * kept, and a request whose parts came from two identities is scored again.
 */
import type { ModelIdentity } from "../backends/backend-client.js";
import type { SubmitOptions } from "../batching/batcher.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { type CacheObserver, noopCacheObserver } from "./observer.js";
import { PairKeys, sameIdentity } from "./pair-key.js";
import {
  type PairScorer,
  type PairScores,
  type PairSubmitter,
  remapDocumentIndex,
  type ScoreOptions,
  submitAt,
} from "./pair-scorer.js";
import type { CacheLimits, ScoreStore } from "./score-store.js";
import { scoreThroughShared } from "./shared-lookup.js";
import type { SharedTier } from "./shared-tier.js";

export interface CachedScorerOptions {
  /** The backend's config name: part of every key. */
  readonly backend: string;
  readonly batcher: PairSubmitter;
  readonly store: ScoreStore;
  /** The Valkey/Redis tier shared by replicas, looked up for the pairs the in-process tier lacks. */
  readonly shared?: SharedTier | undefined;
  /** The identity the backend's probes report now; undefined while unknown. */
  readonly identity: () => ModelIdentity | undefined;
  /** Digest of the config that shapes the model input (see pair-key.ts). */
  readonly configDigest: string;
  readonly clock: Clock;
  readonly observer?: CacheObserver | undefined;
}

export interface CachedScorer extends PairScorer {
  readonly store: ScoreStore;
  readonly shared: SharedTier | undefined;
  /** Applies new limits to the in-process tier (live config change). */
  reconfigure(limits: CacheLimits): void;
  /** Empties the in-process tier; returns the entries it held. */
  purge(): number;
  /** Pairs given to the batcher and not yet answered. */
  readonly inFlight: number;
}

/** One batcher submission shared by every request that needs one of its pairs. */
interface Flight {
  /** `cached` marks the rows the shared tier answered. */
  readonly promise: Promise<PairScores>;
}

/** A pair key waiting for a flight: its row in the flight's answer. */
interface InFlightPair {
  readonly flight: Flight;
  readonly row: number;
}

/** A request's pair that joined another flight. */
interface Joined {
  readonly index: number;
  readonly key: string;
  readonly pair: InFlightPair;
}

export function createCachedScorer(opts: CachedScorerOptions): CachedScorer {
  const { batcher, store, shared, clock } = opts;
  const observer = opts.observer ?? noopCacheObserver;
  const inFlight = new Map<string, InFlightPair>();
  let keys: PairKeys | undefined;
  let keyIdentity: ModelIdentity | undefined;

  /** The key maker of the identity in force; a changed identity retires the tier first. */
  function keysFor(identity: ModelIdentity): PairKeys {
    if (keys !== undefined && sameIdentity(keyIdentity, identity)) return keys;
    if (keyIdentity !== undefined) store.clear("model_change");
    keyIdentity = identity;
    keys = new PairKeys(opts.backend, identity, opts.configDigest);
    return keys;
  }

  /** An answer reported another model than the probes: retire the tier until they agree again. */
  function answeredBy(model: ModelIdentity, used: ModelIdentity): void {
    if (sameIdentity(model, used)) return;
    if (sameIdentity(keyIdentity, used)) {
      store.clear("model_change");
      keys = undefined;
      keyIdentity = model;
    }
  }

  async function submit(query: string, documents: readonly string[], o: ScoreOptions): Promise<PairScores> {
    const policy = o.cachePolicy ?? "use";
    if (!store.enabled || policy === "bypass") return batcher.submit(query, documents, o);
    const n = documents.length;
    const identity = opts.identity();
    if (identity === undefined) {
      observer.misses(n);
      return batcher.submit(query, documents, o);
    }
    const keyOf = keysFor(identity).forQuery(query);

    const probabilities = new Float32Array(n * 5);
    const cached = new Uint8Array(n);
    let hits = 0;
    const joined: Joined[] = [];
    const fresh: number[] = [];
    const freshKeys: string[] = [];
    // Pairs repeated within this request wait for the first one's row.
    const repeated: { index: number; row: number }[] = [];
    const ownRows = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const key = keyOf(documents[i]!);
      if (policy === "use" && store.read(key, probabilities, i * 5)) {
        cached[i] = 1;
        hits++;
        continue;
      }
      const pending = inFlight.get(key);
      if (pending !== undefined) {
        joined.push({ index: i, key, pair: pending });
        continue;
      }
      const row = ownRows.get(key);
      if (row !== undefined) {
        repeated.push({ index: i, row });
        continue;
      }
      ownRows.set(key, fresh.length);
      fresh.push(i);
      freshKeys.push(key);
    }
    observer.hits(hits);
    observer.misses(fresh.length);
    observer.coalesced(joined.length + repeated.length);

    let own: Promise<PairScores> | undefined;
    if (fresh.length > 0) {
      const freshDocuments = fresh.map((i) => documents[i]!);
      own =
        shared !== undefined && policy === "use"
          ? scoreThroughShared(shared, batcher, query, freshDocuments, freshKeys, o, identity)
          : batcher.submit(query, freshDocuments, o);
      const flight: Flight = { promise: own };
      for (let j = 0; j < freshKeys.length; j++) inFlight.set(freshKeys[j]!, { flight, row: j });
      // Whatever the outcome, the keys leave the map; an answer from the identity the keys name is kept.
      const leave = () => {
        for (const key of freshKeys) if (inFlight.get(key)?.flight === flight) inFlight.delete(key);
      };
      own.then((result) => {
        leave();
        answeredBy(result.model, identity);
        if (sameIdentity(result.model, keyIdentity) && sameIdentity(result.model, identity)) {
          for (let j = 0; j < freshKeys.length; j++) store.write(freshKeys[j]!, result.probabilities, j * 5);
          store.report();
          writeShared(freshKeys, result);
        }
      }, leave);
    }

    if (own === undefined && joined.length === 0) {
      return { probabilities, model: identity, endpoint: "cache", cached };
    }

    const models: ModelIdentity[] = [];
    let endpoint = "cache";
    const assemble = async (): Promise<void> => {
      const waits: Promise<void>[] = [];
      if (own !== undefined) {
        const ownAnswer = own.then(
          (result) => {
            const p = result.probabilities;
            for (let j = 0; j < fresh.length; j++) {
              probabilities.set(p.subarray(j * 5, j * 5 + 5), fresh[j]! * 5);
            }
            for (const { index, row } of repeated)
              probabilities.set(p.subarray(row * 5, row * 5 + 5), index * 5);
            if (result.cached !== undefined) {
              for (let j = 0; j < fresh.length; j++) cached[fresh[j]!] = result.cached[j]!;
              for (const { index, row } of repeated) cached[index] = result.cached[row]!;
            }
            models.push(result.model);
            endpoint = result.endpoint;
          },
          (err: unknown) => {
            throw remapDocumentIndex(err, fresh);
          },
        );
        waits.push(ownAnswer);
      }
      if (joined.length > 0) {
        waits.push(awaitJoined(query, documents, joined, o, probabilities, cached, models, identity));
      }
      await Promise.all(waits);
    };
    await withOwnDeadline(assemble(), o, clock);

    const model = models[0] ?? identity;
    const consistent =
      models.every((m) => sameIdentity(m, model)) && (hits === 0 || sameIdentity(model, identity));
    if (!consistent) {
      // The model changed while this request was answered: one answer, from one model.
      return batcher.submit(query, documents, o);
    }
    return { probabilities, model, endpoint, cached: cached.includes(1) ? cached : undefined };
  }

  /** Waits for the flights this request joined; pairs whose flight failed for its own request are submitted again. */
  async function awaitJoined(
    query: string,
    documents: readonly string[],
    joined: readonly Joined[],
    o: ScoreOptions,
    out: Float32Array,
    cached: Uint8Array,
    models: ModelIdentity[],
    identity: ModelIdentity,
  ): Promise<void> {
    const retry: Joined[] = [];
    await Promise.all(
      joined.map((j) =>
        j.pair.flight.promise.then(
          (result) => {
            out.set(result.probabilities.subarray(j.pair.row * 5, j.pair.row * 5 + 5), j.index * 5);
            if (result.cached?.[j.pair.row] === 1) cached[j.index] = 1;
            models.push(result.model);
          },
          (err: unknown) => {
            // A backend that cannot serve fails every request alike (and lets the route fall back).
            if (err instanceof GatewayError && err.fallback) throw err;
            retry.push(j);
          },
        ),
      ),
    );
    if (retry.length === 0) return;
    retry.sort((a, b) => a.index - b.index);
    const indices = retry.map((r) => r.index);
    const result = await submitAt(batcher, query, documents, indices, o);
    const keep = sameIdentity(result.model, identity) && sameIdentity(result.model, keyIdentity);
    for (let j = 0; j < retry.length; j++) {
      out.set(result.probabilities.subarray(j * 5, j * 5 + 5), indices[j]! * 5);
      if (keep) store.write(retry[j]!.key, result.probabilities, j * 5);
    }
    if (keep) {
      store.report();
      writeShared(
        retry.map((r) => r.key),
        result,
      );
    }
    models.push(result.model);
  }

  /** Sends to the shared tier the rows the backend scored (not those the tier itself answered). */
  function writeShared(rowKeys: readonly string[], result: PairScores): void {
    if (shared === undefined) return;
    const keysOut: string[] = [];
    const rows: number[] = [];
    for (let j = 0; j < rowKeys.length; j++) {
      if (result.cached?.[j] === 1) continue;
      keysOut.push(rowKeys[j]!);
      rows.push(j);
    }
    shared.set(keysOut, result.probabilities, rows);
  }

  return {
    store,
    shared,
    submit,
    refusalFor(items, o) {
      // Cached documents need no backend: only a request that reads nothing from the cache is judged early.
      if (store.enabled && (o.cachePolicy ?? "use") !== "bypass") return undefined;
      return batcher.refusalFor?.(items, o);
    },
    reconfigure(limits) {
      store.reconfigure(limits);
      if (shared !== undefined) shared.ttlMs = limits.ttlMs;
    },
    purge: () => store.clear("purge"),
    get inFlight() {
      return inFlight.size;
    },
  };
}

/**
 * A request that waits on other requests' items keeps its own deadline and
 * cancellation: it is answered DEADLINE_EXCEEDED or CANCELLED on time even
 * when the item it joined is still queued for a longer deadline.
 */
function withOwnDeadline<T>(work: Promise<T>, o: SubmitOptions, clock: Clock): Promise<T> {
  const { deadlineMs, signal } = o;
  if (deadlineMs === undefined && signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    let timer: TimerHandle | undefined;
    const onAbort = () =>
      finish(() => reject(new GatewayError("CLIENT_CANCELLED", "request cancelled by the client")));
    const finish = (settle: () => void) => {
      timer?.cancel();
      signal?.removeEventListener("abort", onAbort);
      settle();
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    if (deadlineMs !== undefined) {
      timer = clock.setTimeout(
        () =>
          finish(() =>
            reject(
              new GatewayError("DEADLINE_EXCEEDED", "deadline exceeded while waiting for a shared item"),
            ),
          ),
        deadlineMs - clock.now(),
      );
    }
    work.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}
