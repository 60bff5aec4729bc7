/**
 * The seam between the request path and a backend's scoring: the pipeline
 * hands a request's (query, documents) to a PairScorer, which is either the
 * backend's batcher itself or the score cache in front of it. Both answer
 * with n×5 probabilities in the submitted order.
 */
import type { ScoredItems, SubmitOptions } from "../batching/batcher.js";

/**
 * How a request uses the score cache (the proto's `CachePolicy`):
 * `use` answers cached pairs from the cache and keeps new scores;
 * `bypass` neither reads nor writes it; `refresh` scores every pair again
 * and overwrites what the cache holds.
 */
export type CachePolicy = "use" | "bypass" | "refresh";

export interface ScoreOptions extends SubmitOptions {
  /** Default `use`. */
  readonly cachePolicy?: CachePolicy | undefined;
}

export interface PairScores extends ScoredItems {
  /** Per document: 1 when its row came from the cache. Absent when nothing did. */
  readonly cached?: Uint8Array | undefined;
}

export interface PairScorer {
  submit(query: string, documents: readonly string[], opts: ScoreOptions): Promise<PairScores>;
}
