import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Metrics of the gateway's control plane: configuration changes (admin API,
 * SIGHUP, file watch) and the batching choices in force per backend, static or
 * adaptive. Part of `createMetrics`; kept apart so the request-path metrics
 * read in one place.
 */
export function controlMetrics(p: string, registers: Registry[]) {
  return {
    configGeneration: new Gauge({
      name: `${p}config_generation`,
      help: "Generation of the configuration in force: 1 at start, +1 for every change applied (admin API or file reload).",
      registers,
    }),
    configReloads: new Counter({
      name: `${p}config_reloads_total`,
      help: "Configuration changes attempted, by source (admin, file) and outcome (applied, rejected, unchanged).",
      labelNames: ["source", "outcome"] as const,
      registers,
    }),
    batchMaxSize: new Gauge({
      name: `${p}batch_max_size_items`,
      help: "The configured maxBatchSize cap of a backend's batcher.",
      labelNames: ["backend"] as const,
      registers,
    }),
    batchSizeTarget: new Gauge({
      name: `${p}batch_size_target_items`,
      help: "Batch size the batcher aims for now: the adaptive choice, or the cap (also limited by the endpoint's max_batch_size) in static mode.",
      labelNames: ["backend"] as const,
      registers,
    }),
    batchWaitTarget: new Gauge({
      name: `${p}batch_wait_target_seconds`,
      help: "How long the oldest queued item may wait for its batch to fill now (adaptive choice or maxQueueDelayMs).",
      labelNames: ["backend"] as const,
      registers,
    }),
    queueCapacity: new Gauge({
      name: `${p}queue_capacity_items`,
      help: "The bound of a backend's batcher queue (maxQueueItems); queue_depth_items over this is how full it is.",
      labelNames: ["backend"] as const,
      registers,
    }),
    batchTargetLatency: new Gauge({
      name: `${p}batch_target_latency_seconds`,
      help: "Adaptive mode: the request latency target (targetLatencyMs) the batcher steers to; absent in static mode.",
      labelNames: ["backend"] as const,
      registers,
    }),
    backendInfo: new Gauge({
      name: `${p}backend_info`,
      help: "Always 1 per configured backend; labels: kind (triton, vllm), role (student, teacher), and default (true for routing.default).",
      labelNames: ["backend", "kind", "role", "default"] as const,
      registers,
    }),
    batchCostFixed: new Gauge({
      name: `${p}batch_cost_fixed_seconds`,
      help: "Adaptive mode: learned fixed cost a of a batch call (batch time ≈ a + b·n).",
      labelNames: ["backend"] as const,
      registers,
    }),
    batchCostPerItem: new Gauge({
      name: `${p}batch_cost_per_item_seconds`,
      help: "Adaptive mode: learned cost b per item of a batch call (batch time ≈ a + b·n).",
      labelNames: ["backend"] as const,
      registers,
    }),
  };
}
