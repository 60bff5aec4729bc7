/**
 * The vLLM simulator's Prometheus metrics, served at `/metrics` on the API
 * port as vLLM serves them: the `vllm:` names and `model_name` label that
 * dashboards and autoscalers (KEDA on `vllm:num_requests_waiting`) read. Own
 * registry, so several simulators and the gateway can share a process.
 */
import { Counter, Gauge, Registry } from "prom-client";
import { type FaultKind, faultCounter } from "../faults.js";

export type FinishedReason = "stop" | "length";

export class VllmSimMetrics {
  readonly registry = new Registry();
  readonly #labels: { model_name: string };
  readonly #success: Counter<"model_name" | "finished_reason">;
  readonly #promptTokens: Counter<"model_name">;
  readonly #generationTokens: Counter<"model_name">;
  /** Counts one injected fault in `sim_injected_faults_total{kind}` (a simulator-only series). */
  readonly injected: (kind: FaultKind) => void;

  /** `load` is read at each scrape, so the gauges are always current. */
  constructor(modelName: string, load: () => { running: number; waiting: number }) {
    const registers = [this.registry];
    const labels = { model_name: modelName };
    this.#labels = labels;
    new Gauge({
      name: "vllm:num_requests_running",
      help: "Number of requests in model execution batches.",
      labelNames: ["model_name"],
      registers,
      collect() {
        this.set(labels, load().running);
      },
    });
    new Gauge({
      name: "vllm:num_requests_waiting",
      help: "Number of requests waiting to be processed.",
      labelNames: ["model_name"],
      registers,
      collect() {
        this.set(labels, load().waiting);
      },
    });
    this.#success = new Counter({
      name: "vllm:request_success_total",
      help: "Count of successfully processed requests.",
      labelNames: ["model_name", "finished_reason"],
      registers,
    });
    this.#promptTokens = new Counter({
      name: "vllm:prompt_tokens_total",
      help: "Number of prefill tokens processed.",
      labelNames: ["model_name"],
      registers,
    });
    this.#generationTokens = new Counter({
      name: "vllm:generation_tokens_total",
      help: "Number of generation tokens processed.",
      labelNames: ["model_name"],
      registers,
    });
    // Series exist (at 0) from startup, as vLLM registers them when the engine starts.
    this.#success.inc({ ...labels, finished_reason: "stop" }, 0);
    this.#success.inc({ ...labels, finished_reason: "length" }, 0);
    this.#promptTokens.inc(labels, 0);
    this.#generationTokens.inc(labels, 0);
    this.injected = faultCounter(this.registry);
  }

  /** One engine request (one prompt of a possibly fanned-out call) finished. */
  finished(reason: FinishedReason, promptTokens: number, generationTokens: number): void {
    this.#success.inc({ ...this.#labels, finished_reason: reason });
    this.#promptTokens.inc(this.#labels, promptTokens);
    this.#generationTokens.inc(this.#labels, generationTokens);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
