export {
  type CachedScorer,
  type CachedScorerOptions,
  createCachedScorer,
  type PairSubmitter,
} from "./cached-scorer.js";
export { servedIdentity } from "./model-identity.js";
export { type CacheObserver, type EvictionReason, noopCacheObserver, type RetireReason } from "./observer.js";
export { configDigest, PairKeys } from "./pair-key.js";
export type { CachePolicy, PairScorer, PairScores, ScoreOptions } from "./pair-scorer.js";
export { type CacheLimits, ENTRY_BYTES, ScoreStore } from "./score-store.js";
