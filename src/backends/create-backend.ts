import { backendApiKey, readBackendTls } from "../config/backend-credentials.js";
import type { BackendConfig, TritonBackendConfig } from "../config/index.js";
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../util/clock.js";
import type { BackendClient } from "./backend-client.js";
import { createTritonBackend, type TritonTlsOptions } from "./triton/client.js";
import { createVllmBackend } from "./vllm/client.js";

export interface BackendEnv {
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The one place that switches on a backend's kind. */
export function createBackend(name: string, cfg: BackendConfig, env: BackendEnv): BackendClient {
  switch (cfg.kind) {
    case "triton":
      return createTritonBackend({
        name,
        endpoints: cfg.endpoints,
        model: cfg.model,
        modelVersion: cfg.modelVersion,
        tensors: cfg.tensors,
        outputKind: cfg.outputKind,
        bandPriorities: cfg.bandPriorities,
        timeoutMs: cfg.timeoutMs,
        readiness: cfg.readiness,
        discovery: cfg.discovery,
        maxMessageBytes: cfg.maxMessageBytes,
        configuredMaxBatchSize: cfg.batching.maxBatchSize,
        tls: tritonTls(name, cfg.tls),
        clock: env.clock,
        logger: env.logger,
      });
    case "vllm":
      return createVllmBackend({
        name,
        endpoints: cfg.endpoints,
        model: cfg.model,
        mode: cfg.mode,
        classifyTemplate: cfg.templates.classify,
        generateTemplate: cfg.templates.generate,
        labelTokens: cfg.labelTokens,
        topLogprobs: cfg.topLogprobs,
        maxInputTokens: cfg.maxInputTokens,
        timeoutMs: cfg.timeoutMs,
        readiness: cfg.readiness,
        discovery: cfg.discovery,
        // One HTTP request per batch: as many connections as batches in flight.
        maxConnections: cfg.batching.maxConcurrentBatches,
        maxResponseBytes: cfg.maxResponseBytes,
        tls: cfg.tls === null ? undefined : { ca: readBackendTls(name, cfg.tls)?.ca },
        apiKey: backendApiKey(name, cfg, env),
        bandPriorities: cfg.bandPriorities,
        clock: env.clock,
        logger: env.logger,
      });
    default: {
      const _exhaustive: never = cfg;
      throw new Error(`unknown backend kind ${String(_exhaustive)}`);
    }
  }
}

/** `backends.<name>.tls` of a Triton backend, its files read and checked (ConfigError naming the key). */
function tritonTls(name: string, tls: TritonBackendConfig["tls"]): TritonTlsOptions | undefined {
  if (tls === null) return undefined;
  const material = readBackendTls(name, tls);
  return { ca: material?.ca, identity: material?.identity, serverName: tls.serverName ?? undefined };
}
