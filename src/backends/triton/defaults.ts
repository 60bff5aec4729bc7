/**
 * The Triton backend's defaults, in one place: the config schema's defaults
 * and the client's (for callers that build a backend without a config) are
 * these values.
 */
export const TRITON_DEFAULTS = {
  role: "student",
  modelVersion: "",
  tensors: { query: "QUERY", document: "DOCUMENT", output: "LOGITS" },
  outputKind: "logits",
  // Triton's levels: 1 is served first; a model configured with `priority_levels: 3` keeps the bands apart.
  bandPriorities: { interactive: 1, bulk: 2, background: 3 },
  timeoutMs: 10_000,
  readiness: { intervalMs: 5_000, timeoutMs: 2_000 },
  maxMessageBytes: 64 * 1024 * 1024,
  batching: { maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueItems: 32768, maxConcurrentBatches: 2 },
} as const;
