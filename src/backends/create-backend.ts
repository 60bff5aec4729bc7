import type { BackendConfig } from "../config/index.js";
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../util/clock.js";
import type { BackendClient } from "./backend-client.js";
import { createTritonBackend } from "./triton/client.js";

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
        timeoutMs: cfg.timeoutMs,
        readiness: cfg.readiness,
        maxMessageBytes: cfg.maxMessageBytes,
        configuredMaxBatchSize: cfg.batching.maxBatchSize,
        clock: env.clock,
        logger: env.logger,
      });
    case "vllm":
      throw new Error(
        `backends.${name}.kind: vllm backends are not supported by this version yet; remove the backend or route it elsewhere`,
      );
    default: {
      const _exhaustive: never = cfg;
      throw new Error(`unknown backend kind ${String(_exhaustive)}`);
    }
  }
}
