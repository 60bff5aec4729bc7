/**
 * The vLLM backend's defaults, in one place: the config schema's defaults
 * and the client's (for callers that build a backend without a config) are
 * these values.
 */
import { DEFAULT_CLASSIFY_TEMPLATE, DEFAULT_GENERATE_TEMPLATE } from "./templates.js";

export const VLLM_DEFAULTS = {
  role: "teacher",
  mode: "classify",
  classifyTemplate: DEFAULT_CLASSIFY_TEMPLATE,
  generateTemplate: DEFAULT_GENERATE_TEMPLATE,
  labelTokens: ["1", "2", "3", "4", "5"],
  topLogprobs: 20,
  timeoutMs: 30_000,
  readiness: { intervalMs: 5_000, timeoutMs: 2_000 },
  maxConnections: 16,
  maxResponseBytes: 64 * 1024 * 1024,
  batching: { maxBatchSize: 32, maxQueueDelayMs: 5, maxQueueItems: 8192, maxConcurrentBatches: 4 },
  // When bandPriorities is set: vLLM serves lower values first, and a request without one is at 0.
  bandPriorities: { interactive: 0, bulk: 1, background: 2 },
} as const;
