/**
 * A request's new pairs when the backend has a shared tier: one multi-get
 * for all of them, then one batcher submission for those the tier did not
 * have. The answer is in the submitted order, with `cached` marking the rows
 * the tier gave. A tier that cannot answer (down, slow, its breaker open)
 * costs at most its timeout: every pair then goes to the batcher.
 */
import type { ModelIdentity } from "../backends/backend-client.js";
import { sameIdentity } from "./pair-key.js";
import { type PairScores, type PairSubmitter, type ScoreOptions, submitAt } from "./pair-scorer.js";
import type { SharedTier } from "./shared-tier.js";

export async function scoreThroughShared(
  tier: SharedTier,
  batcher: PairSubmitter,
  query: string,
  documents: readonly string[],
  keys: readonly string[],
  o: ScoreOptions,
  identity: ModelIdentity,
): Promise<PairScores> {
  const rows = await tier.get(keys);
  const n = documents.length;
  const missing: number[] = [];
  if (rows !== undefined) for (let i = 0; i < n; i++) if (rows[i] === undefined) missing.push(i);
  if (rows === undefined || missing.length === n) return batcher.submit(query, documents, o);

  const probabilities = new Float32Array(n * 5);
  const cached = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    if (row === undefined) continue;
    probabilities.set(row, i * 5);
    cached[i] = 1;
  }
  if (missing.length === 0) return { probabilities, model: identity, endpoint: "cache", cached };

  const result = await submitAt(batcher, query, documents, missing, o);
  // The tier's rows are the keyed identity's; an answer from another model scores the whole set again.
  if (!sameIdentity(result.model, identity)) return batcher.submit(query, documents, o);
  const p = result.probabilities;
  for (let j = 0; j < missing.length; j++) probabilities.set(p.subarray(j * 5, j * 5 + 5), missing[j]! * 5);
  return { probabilities, model: result.model, endpoint: result.endpoint, cached };
}
