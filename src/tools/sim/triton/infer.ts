/**
 * The simulator's ModelInfer: validate like Triton, apply the injected fault
 * (faults.ts: added latency first, then error, hang, reset or a malformed
 * answer), queue the batch on the model's scheduler, score it with simLogits
 * when it has "executed", and honour cancellation (a call cancelled or
 * expired while held or queued never runs).
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ModelInferRequestMessage, ModelInferResponseMessage } from "../../../codec/index.js";
import type { Clock } from "../../../util/clock.js";
import type { FaultInjector } from "../faults.js";
import type { ReceivedTraces } from "../received-traces.js";
import { malformResponse, poisonDetails, resetConnection, SICK_GPU_DETAILS } from "./faults.js";
import { labelsOf, type TritonSimMetrics } from "./metrics.js";
import type { SimModel } from "./model.js";
import type { SimScheduler, SimTicket } from "./scheduler.js";
import { type Logits5, simLogits, softmax5 } from "./scores.js";
import { SimRpcError, toStatus, type ValidInfer, validateInferRequest } from "./validation.js";

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
  /** Models that are loading or unloaded (TritonSim.setModelReady): ModelInfer fails as Triton's would. */
  readonly notReady: ReadonlySet<string>;
  readonly schedulers: ReadonlyMap<SimModel, SimScheduler>;
  readonly metrics: TritonSimMetrics;
  readonly counters: SimCounters;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
  readonly faults: FaultInjector;
  readonly traces: ReceivedTraces;
  /** simLogits, or a memoising wrapper of it (scoringFunction). */
  readonly logits: (query: string, document: string) => Logits5;
}

/**
 * simLogits, remembering the logits of recent pairs when `pairs` > 0.
 * simLogits is pure but not cheap (lower-casing, a Unicode word regex and a
 * hash per pair: about 10 µs). Load generators replay a pool of requests, and
 * on a small machine the simulator shares its cores with the gateway it
 * stands behind, so the CLI's simulator remembers. Keyed by the document text
 * (no key is built: a miss costs one string hash); bounded: when full it
 * starts over.
 */
export function scoringFunction(pairs: number): (query: string, document: string) => Logits5 {
  if (pairs <= 0) return simLogits;
  const memo = new Map<string, { readonly query: string; readonly logits: Logits5 }>();
  return function memoLogits(query, document) {
    const hit = memo.get(document);
    if (hit !== undefined && hit.query === query) return hit.logits;
    if (memo.size >= pairs) memo.clear();
    const logits = simLogits(query, document);
    memo.set(document, { query, logits });
    return logits;
  };
}

/** Output rows for the pairs: float32 LE, n × 5. */
function scoreBatch(v: ValidInfer, logitsOf: (query: string, document: string) => Logits5): Buffer {
  const out = Buffer.allocUnsafe(v.n * 20);
  for (let i = 0; i < v.n; i++) {
    const logits = logitsOf(v.queries[i]!, v.documents[i]!);
    const row = v.model.outputKind === "probabilities" ? softmax5(logits) : logits;
    for (let k = 0; k < 5; k++) out.writeFloatLE(row[k]!, i * 20 + k * 4);
  }
  return out;
}

function response(
  v: ValidInfer,
  id: string,
  logitsOf: (query: string, document: string) => Logits5,
): ModelInferResponseMessage {
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
    rawOutputContents: [scoreBatch(v, logitsOf)],
  };
}

export function modelInferHandler(
  ctx: ModelInferContext,
): grpc.handleUnaryCall<ModelInferRequestMessage, ModelInferResponseMessage> {
  const { metrics, counters, clock, logger, faults } = ctx;
  return (call, callback) => {
    counters.requests++;
    ctx.traces.record(
      call.metadata.get("traceparent")[0],
      call.metadata.get("tracestate")[0],
      call.request.id,
    );
    const received = clock.now();
    let v: ValidInfer;
    try {
      v = validateInferRequest(call.request, ctx.models, ctx.notReady);
    } catch (err) {
      counters.failures++;
      if (err instanceof SimRpcError && err.model) metrics.failed(labelsOf(err.model), "OTHER");
      logger?.debug({ err }, "rejected ModelInfer");
      callback(toStatus(err));
      return;
    }
    const labels = labelsOf(v.model);
    const inputFault = faults.inputFault(v.documents);
    if (inputFault) {
      // The model ran and failed: Triton counts it as a failed inference.
      counters.failures++;
      metrics.failed(labels, "OTHER");
      const details = inputFault === "poison" ? poisonDetails(v.model.name) : SICK_GPU_DETAILS;
      callback({ code: grpc.status.INTERNAL, details });
      return;
    }
    // Only valid calls draw a fault: an invalid one gets Triton's own error, as from any server.
    const fault = faults.decide();
    const malformation = faults.malformed;
    const generation = faults.generation;
    // "held": waiting out added latency or a hang, before the queue.
    let state: "held" | "queued" | "executing" | "done" = "held";
    let cancelled = false;
    let ticket: SimTicket | undefined;
    let dropHold: (() => void) | undefined;
    let queuedAt = received;
    // Fires on client cancellation and on deadline expiry (grpc-js ends the call either way).
    const onCancelled = (): void => {
      if (state === "done" || cancelled) return;
      cancelled = true;
      if (state === "held") {
        dropHold?.();
        logger?.debug({ id: call.request.id, n: v.n }, "ModelInfer cancelled while held by a fault");
        finish({ code: grpc.status.CANCELLED, details: "request cancelled" });
      } else if (state === "queued" && ticket?.dequeue()) {
        metrics.dequeued(labels, clock.now() - queuedAt);
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
    const shuttingDown = () => finish({ code: grpc.status.UNAVAILABLE, details: "Server is shutting down" });
    const schedule = (): void => {
      state = "queued";
      queuedAt = clock.now();
      metrics.queued(labels);
      ticket = ctx.schedulers.get(v.model)!.submit({
        n: v.n,
        priority: v.priority,
        onStart(batchItems, firstOfBatch) {
          state = "executing";
          metrics.dequeued(labels, clock.now() - queuedAt);
          counters.items += v.n;
          if (!firstOfBatch) return;
          counters.maxBatchSeen = Math.max(counters.maxBatchSeen, batchItems);
          counters.batchSizes.push(batchItems);
          if (counters.batchSizes.length > SIM_BATCH_HISTORY) counters.batchSizes.shift();
        },
        onDone(firstOfBatch) {
          metrics.executed(labels, v.n, firstOfBatch);
          if (cancelled) {
            // The batch ran anyway (a GPU batch is not interruptible); the caller is gone.
            metrics.failed(labels, "CANCELED");
            finish({ code: grpc.status.CANCELLED, details: "request cancelled" });
            return;
          }
          metrics.succeeded(labels, clock.now() - received);
          const res = response(v, call.request.id, ctx.logits);
          // Malformed answers still ran on the "GPU": the corruption is on the way back.
          finish(null, fault === "malformed" ? malformResponse(res, malformation) : res);
        },
        onAbort() {
          if (state === "queued") metrics.dequeued(labels, clock.now() - queuedAt);
          metrics.failed(labels, "OTHER");
          shuttingDown();
        },
      });
    };
    // Injected errors and resets happen outside the model, so the nv_inference_* series ignore them.
    const inject = (): void => {
      switch (fault) {
        case "error":
          finish({ code: grpc.status.UNAVAILABLE, details: "injected fault" });
          return;
        case "reset":
          state = "done";
          call.off("cancelled", onCancelled);
          counters.failures++;
          if (!resetConnection(call)) {
            logger?.warn("triton sim: no HTTP/2 session to reset; answering UNAVAILABLE instead");
            callback({ code: grpc.status.UNAVAILABLE, details: "injected fault: connection reset" });
          }
          return;
        case "hang":
          // Released by set/clear (the call then runs normally), aborted by close().
          dropHold = faults.hold(
            Number.POSITIVE_INFINITY,
            (outcome) => (outcome === "go" ? schedule() : shuttingDown()),
            generation,
          );
          return;
        default:
          schedule();
      }
    };
    call.on("cancelled", onCancelled);
    const delayMs = faults.delayMs();
    if (delayMs > 0) {
      dropHold = faults.hold(delayMs, (outcome) => (outcome === "go" ? inject() : shuttingDown()));
    } else {
      inject();
    }
    if (call.cancelled) onCancelled();
  };
}
