/**
 * The simulator's ModelInfer: validate like Triton, queue the batch on the
 * model's scheduler, score it with simLogits when it has "executed", and
 * honour cancellation (a call cancelled or expired while queued never runs).
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ModelInferRequestMessage, ModelInferResponseMessage } from "../codec/messages.js";
import type { Clock } from "../util/clock.js";
import { SimRpcError, toStatus, type ValidInfer, validateInferRequest } from "./infer-validation.js";
import type { SimModel } from "./sim-model.js";
import type { SimScheduler, SimTicket } from "./sim-scheduler.js";
import { simLogits, softmax5 } from "./sim-scores.js";
import { labelsOf, type TritonSimMetrics } from "./triton-sim-metrics.js";

/** How many recent batch sizes the counters keep. */
export const SIM_BATCH_HISTORY = 1000;

export interface SimCounters {
  requests: number;
  items: number;
  maxBatchSeen: number;
  failures: number;
  /** The last SIM_BATCH_HISTORY executed batch sizes, oldest first. */
  readonly batchSizes: number[];
}

export interface ModelInferContext {
  readonly models: ReadonlyMap<string, SimModel>;
  readonly schedulers: ReadonlyMap<SimModel, SimScheduler>;
  readonly metrics: TritonSimMetrics;
  readonly counters: SimCounters;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
}

/** Output rows for the pairs: float32 LE, n × 5. */
function scoreBatch(v: ValidInfer): Buffer {
  const out = Buffer.allocUnsafe(v.n * 20);
  for (let i = 0; i < v.n; i++) {
    const logits = simLogits(v.queries[i]!, v.documents[i]!);
    const row = v.model.outputKind === "probabilities" ? softmax5(logits) : logits;
    for (let k = 0; k < 5; k++) out.writeFloatLE(row[k]!, i * 20 + k * 4);
  }
  return out;
}

function response(v: ValidInfer, id: string): ModelInferResponseMessage {
  return {
    modelName: v.model.name,
    modelVersion: v.model.version,
    id,
    parameters: {},
    outputs: [
      {
        name: v.model.outputName,
        datatype: "FP32",
        shape: v.model.maxBatchSize > 0 ? [v.n, 5] : [5],
        parameters: {},
        contents: undefined,
      },
    ],
    rawOutputContents: [scoreBatch(v)],
  };
}

export function modelInferHandler(
  ctx: ModelInferContext,
): grpc.handleUnaryCall<ModelInferRequestMessage, ModelInferResponseMessage> {
  const { metrics, counters, clock, logger } = ctx;
  return (call, callback) => {
    counters.requests++;
    const received = clock.now();
    let v: ValidInfer;
    try {
      v = validateInferRequest(call.request, ctx.models);
    } catch (err) {
      counters.failures++;
      if (err instanceof SimRpcError && err.model) metrics.failed(labelsOf(err.model), "OTHER");
      logger?.debug({ err }, "rejected ModelInfer");
      callback(toStatus(err));
      return;
    }
    const labels = labelsOf(v.model);
    let state: "queued" | "executing" | "done" = "queued";
    let cancelled = false;
    let ticket: SimTicket | undefined;
    // Fires on client cancellation and on deadline expiry (grpc-js ends the call either way).
    const onCancelled = (): void => {
      if (state === "done" || cancelled) return;
      cancelled = true;
      if (state === "queued" && ticket?.dequeue()) {
        metrics.dequeued(labels, clock.now() - received);
        metrics.failed(labels, "CANCELED");
        logger?.debug({ id: call.request.id, n: v.n }, "ModelInfer cancelled while queued");
        finish({ code: grpc.status.CANCELLED, details: "request cancelled" });
      }
    };
    const finish = (err: Partial<grpc.StatusObject> | null, res?: ModelInferResponseMessage): void => {
      state = "done";
      call.off("cancelled", onCancelled);
      if (err) counters.failures++;
      callback(err, res);
    };
    call.on("cancelled", onCancelled);
    metrics.queued(labels);
    ticket = ctx.schedulers.get(v.model)!.submit({
      n: v.n,
      onStart() {
        state = "executing";
        metrics.dequeued(labels, clock.now() - received);
        counters.items += v.n;
        counters.maxBatchSeen = Math.max(counters.maxBatchSeen, v.n);
        counters.batchSizes.push(v.n);
        if (counters.batchSizes.length > SIM_BATCH_HISTORY) counters.batchSizes.shift();
      },
      onDone() {
        metrics.executed(labels, v.n);
        if (cancelled) {
          // The batch ran anyway (a GPU batch is not interruptible); the caller is gone.
          metrics.failed(labels, "CANCELED");
          finish({ code: grpc.status.CANCELLED, details: "request cancelled" });
          return;
        }
        metrics.succeeded(labels, clock.now() - received);
        finish(null, response(v, call.request.id));
      },
      onAbort() {
        if (state === "queued") metrics.dequeued(labels, clock.now() - received);
        metrics.failed(labels, "OTHER");
        finish({ code: grpc.status.UNAVAILABLE, details: "Server is shutting down" });
      },
    });
    if (call.cancelled) onCancelled();
  };
}
