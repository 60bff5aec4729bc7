/**
 * The simulator's Prometheus endpoint, with Triton's metric names and labels
 * (`model`, `version`; `reason` on failures) so dashboards and alerts built
 * for Triton can be tried against the simulator. Own registry: several
 * simulators (and the gateway's metrics) can live in one process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry } from "prom-client";
import { type FaultKind, faultCounter } from "../faults.js";

/** Triton's failure reasons: queue timeout, client cancellation, backend error, anything else. */
export type SimFailureReason = "REJECTED" | "CANCELED" | "BACKEND" | "OTHER";

export interface ModelLabels {
  readonly model: string;
  readonly version: string;
}

export function labelsOf(model: { readonly name: string; readonly version: string }): ModelLabels {
  return { model: model.name, version: model.version };
}

export class TritonSimMetrics {
  readonly registry = new Registry();
  readonly #success: Counter<"model" | "version">;
  readonly #failure: Counter<"model" | "version" | "reason">;
  readonly #inferences: Counter<"model" | "version">;
  readonly #executions: Counter<"model" | "version">;
  readonly #pending: Gauge<"model" | "version">;
  readonly #requestDuration: Counter<"model" | "version">;
  readonly #queueDuration: Counter<"model" | "version">;
  /** Counts one injected fault in `sim_injected_faults_total{kind}` (a simulator-only series). */
  readonly injected: (kind: FaultKind) => void;
  #server: Server | undefined;

  constructor() {
    const registers = [this.registry];
    const labelNames = ["model", "version"] as const;
    this.#success = new Counter({
      name: "nv_inference_request_success",
      help: "Number of successful inference requests, all batch sizes",
      labelNames,
      registers,
    });
    this.#failure = new Counter({
      name: "nv_inference_request_failure",
      help: "Number of failed inference requests, all batch sizes",
      labelNames: [...labelNames, "reason"],
      registers,
    });
    this.#inferences = new Counter({
      name: "nv_inference_count",
      help: "Number of inferences performed (does not include cached requests)",
      labelNames,
      registers,
    });
    this.#executions = new Counter({
      name: "nv_inference_exec_count",
      help: "Number of model executions performed (does not include cached requests)",
      labelNames,
      registers,
    });
    this.#pending = new Gauge({
      name: "nv_inference_pending_request_count",
      help: "Instantaneous number of pending requests awaiting execution per-model.",
      labelNames,
      registers,
    });
    this.#requestDuration = new Counter({
      name: "nv_inference_request_duration_us",
      help: "Cumulative inference request duration in microseconds (includes cached requests)",
      labelNames,
      registers,
    });
    this.#queueDuration = new Counter({
      name: "nv_inference_queue_duration_us",
      help: "Cumulative inference queuing duration in microseconds (includes cached requests)",
      labelNames,
      registers,
    });
    this.injected = faultCounter(this.registry);
  }

  /** Makes a model's series appear (at 0) before its first request, as Triton does on load. */
  register(labels: ModelLabels): void {
    this.#success.inc(labels, 0);
    this.#inferences.inc(labels, 0);
    this.#executions.inc(labels, 0);
    this.#pending.set(labels, 0);
  }

  queued(labels: ModelLabels): void {
    this.#pending.inc(labels);
  }

  /** A queued request left the queue (started or cancelled) after waiting `queueMs`. */
  dequeued(labels: ModelLabels, queueMs: number): void {
    this.#pending.dec(labels);
    this.#queueDuration.inc(labels, Math.round(queueMs * 1000));
  }

  /** A request's `items` ran; `newExecution` for the first request of each batch (merged requests share one). */
  executed(labels: ModelLabels, items: number, newExecution = true): void {
    if (newExecution) this.#executions.inc(labels);
    this.#inferences.inc(labels, items);
  }

  succeeded(labels: ModelLabels, durationMs: number): void {
    this.#success.inc(labels);
    this.#requestDuration.inc(labels, Math.round(durationMs * 1000));
  }

  failed(labels: ModelLabels, reason: SimFailureReason): void {
    this.#failure.inc({ ...labels, reason });
  }

  /**
   * Serves GET /metrics, and whatever `extra` answers (it returns true when it
   * took the request); resolves with the bound port.
   */
  async listen(
    host: string,
    port: number,
    extra?: (req: IncomingMessage, res: ServerResponse) => boolean,
  ): Promise<number> {
    const server = createServer((req, res) => {
      if (extra?.(req, res)) return;
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(err)}\n`),
      );
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
