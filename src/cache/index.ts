export {
  type CachedScorer,
  type CachedScorerOptions,
  createCachedScorer,
} from "./cached-scorer.js";
export { servedIdentity } from "./model-identity.js";
export {
  type CacheObserver,
  type EvictionReason,
  noopCacheObserver,
  noopSharedTierObserver,
  type RetireReason,
  type SharedOutcome,
  type SharedTierObserver,
} from "./observer.js";
export { configDigest, PairKeys } from "./pair-key.js";
export type { CachePolicy, PairScorer, PairScores, PairSubmitter, ScoreOptions } from "./pair-scorer.js";
export { type CacheLimits, ENTRY_BYTES, ScoreStore } from "./score-store.js";
export { SharedTier, type SharedTierConfig } from "./shared-tier.js";
