import type { BackendClient } from "../../src/backends/backend-client.js";
import { type GatewayConfig, mergePatch, validateConfig } from "../../src/config/index.js";
import { ManualEndpoint } from "../helpers/manual-endpoint.js";

/** A backend client over manual endpoints, counting its starts and disposals; readiness set by the test. */
export function manualClient(
  name: string,
  kind: "triton" | "vllm",
  endpoints = [new ManualEndpoint(`${name}-a`)],
) {
  const client = {
    name,
    kind,
    ready: true,
    started: 0,
    disposed: 0,
    endpoints: () => endpoints,
    async start() {
      client.started++;
    },
    isReady: () => client.ready,
    async [Symbol.asyncDispose]() {
      client.disposed++;
    },
  };
  return client satisfies BackendClient;
}

/** A student (triton) and a teacher (vllm) with a shadow path to the teacher; `patch` is merged in (RFC 7396). */
export function gatewayConfig(patch: Record<string, unknown> = {}): GatewayConfig {
  const base = {
    backends: {
      student: {
        kind: "triton",
        endpoints: ["127.0.0.1:8001"],
        model: "relevance_student",
        batching: { maxBatchSize: 4, maxQueueDelayMs: 5, maxConcurrentBatches: 16 },
      },
      teacher: {
        kind: "vllm",
        endpoints: ["http://127.0.0.1:8000"],
        model: "relevance-teacher",
        batching: { maxBatchSize: 4, maxQueueDelayMs: 5, maxConcurrentBatches: 16 },
      },
    },
    routing: {
      default: "student",
      shadow: { backend: "teacher", percent: 10, maxQueueItems: 7, maxConcurrentBatches: 3 },
    },
    logging: { level: "silent" },
    metrics: { collectDefault: false },
  };
  return validateConfig(mergePatch(base, patch), {});
}
