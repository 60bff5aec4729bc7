/**
 * The seam between the request path and a backend's scoring: the pipeline
 * hands a request's (query, documents) to a PairScorer, which is either the
 * backend's batcher itself or the score cache in front of it. Both answer
 * with n×5 probabilities in the submitted order.
 */
import type { ScoredItems, SubmitOptions } from "../batching/batcher.js";
import { GatewayError } from "../util/gateway-error.js";

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

/** The batcher's public API, all the cache uses of it. */
export interface PairSubmitter {
  submit(query: string, documents: readonly string[], opts: SubmitOptions): Promise<ScoredItems>;
  /** The refusal `items` items would meet now for the load queued, counted; undefined: submit. */
  refusalFor?(items: number, opts: SubmitOptions): GatewayError | undefined;
}

export interface PairScorer {
  submit(query: string, documents: readonly string[], opts: ScoreOptions): Promise<PairScores>;
  /**
   * The refusal a request of `items` documents would meet now for the load
   * queued (counted as submit would count it), told before its texts are
   * built; undefined when it is to be submitted, or cannot be told yet.
   */
  refusalFor?(items: number, opts: ScoreOptions): GatewayError | undefined;
}

/**
 * A rejected document is named by its index in what was submitted; the
 * client needs its index in the request.
 */
export function remapDocumentIndex(err: unknown, indices: readonly number[]): unknown {
  if (!(err instanceof GatewayError) || err.reason !== "DOCUMENT_REJECTED") return err;
  const m = /^documents\[(\d+)\]/.exec(err.message);
  const original = m ? indices[Number(m[1])] : undefined;
  if (m === null || original === undefined) return err;
  return new GatewayError("DOCUMENT_REJECTED", `documents[${original}]${err.message.slice(m[0].length)}`, {
    cause: err.cause,
  });
}

/** Submits the documents at `indices` of `documents`; a rejected one is named by its index in the request. */
export function submitAt(
  batcher: PairSubmitter,
  query: string,
  documents: readonly string[],
  indices: readonly number[],
  o: SubmitOptions,
): Promise<ScoredItems> {
  return batcher
    .submit(
      query,
      indices.map((i) => documents[i]!),
      o,
    )
    .catch((err: unknown) => {
      throw remapDocumentIndex(err, indices);
    });
}
