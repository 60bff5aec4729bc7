/**
 * An in-process stand-in for NVIDIA Triton serving the relevance student over
 * KServe v2 gRPC: same service, status codes and messages, a FIFO cost model
 * for the GPU, Triton's Prometheus metric names, and deterministic scores
 * (`simLogits`) so tests can predict every probability.
 *
 * Beyond Triton: injected faults (faults.ts, triton-faults.ts) set at
 * creation, with `setFaults`/`clearFaults`, or over HTTP at `/sim/faults` on
 * the metrics port (a simulator-only endpoint); see docs/fault-injection.md.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import {
  type Empty,
  INFERENCE_SERVICE_NAME,
  inferenceServiceDefinition,
  type ModelConfigResponse,
  type ModelMetadataResponse,
  type ModelRef,
  type ReadyResponse,
  type ServerLiveResponse,
  type ServerMetadataResponse,
} from "../../../backends/triton/kserve-service.js";
import { type Clock, systemClock } from "../../../util/clock.js";
import { serveFaultControl } from "../fault-control.js";
import { FaultInjector, type FaultKind, type FaultSpec, TRITON_MALFORMED_KINDS } from "../faults.js";
import { type ReceivedTrace, ReceivedTraces } from "../received-traces.js";
import { modelInferHandler, SIM_BATCH_HISTORY, type SimCounters, scoringFunction } from "./infer.js";
import { labelsOf, TritonSimMetrics } from "./metrics.js";
import {
  buildSimModel,
  DEFAULT_SIM_MODEL,
  modelConfig,
  modelMetadata,
  type SimModel,
  type SimModelOptions,
} from "./model.js";
import { DEFAULT_SIM_COST, type SimCost, SimScheduler, validateCost } from "./scheduler.js";
import { findModel, modelIsReady, toStatus } from "./validation.js";

export type { FaultKind, FaultSpec } from "../faults.js";
export { TRITON_MALFORMED_KINDS } from "../faults.js";
export { type ReceivedTrace, SIM_TRACE_HISTORY } from "../received-traces.js";
export type { SimModelOptions, SimOutputKind } from "./model.js";
export type { SimCost } from "./scheduler.js";
export { SIM_BATCH_HISTORY };

/** Triton's default ports: gRPC 8001, metrics 8002. */
export const DEFAULT_SIM_PORT = 8001;
export const DEFAULT_SIM_METRICS_PORT = 8002;
/** The version ServerMetadata reports. */
export const SIM_TRITON_VERSION = "2.52.0";

export interface TritonSimOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** gRPC port; default 8001, 0 picks a free one. */
  port?: number;
  /** HTTP port for GET /metrics and /sim/faults; undefined serves neither (0 picks a free port). */
  metricsPort?: number | undefined;
  /** Default: one model, "relevance_student" version "1" (see SimModelOptions for the rest). */
  models?: readonly SimModelOptions[];
  /** Default { baseMs: 2, perItemMs: 0.02, instances: 1 }; partial values fill from it. */
  cost?: Partial<SimCost>;
  /**
   * Merge queued calls into one batch when an instance frees, up to the
   * model's max_batch_size, as Triton's dynamic batcher does (default false:
   * each call is its own batch, so a client's batching is measured alone).
   */
  mergeQueued?: boolean;
  /** Faults to inject from the start; default none. */
  faults?: FaultSpec;
  /**
   * Triton's --strict-readiness (default true): ServerReady and gRPC health
   * report not ready while any model is not (setModelReady).
   */
  strictReadiness?: boolean;
  /** Seed of the fault PRNG (the same seed and spec fault the same calls); default 1. */
  faultSeed?: number;
  /**
   * Remember the logits of this many recent (query, document) pairs; default 0 (off). Saves the
   * simulator's CPU when a load generator replays the same requests (infer.ts).
   */
  scoreMemoPairs?: number;
  /**
   * Serve gRPC over TLS (Triton's --grpc-use-ssl) with this PEM certificate
   * and key; with `clientCa`, clients must present a certificate it signed
   * (--grpc-use-ssl-mutual). Default: plaintext.
   */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer | undefined } | undefined;
  clock?: Clock;
  /** Used as given (callers add their own bindings); nothing is logged without one. */
  logger?: Logger;
}

export interface TritonSimStats {
  /** ModelInfer calls received, valid or not. */
  requests: number;
  /** Pairs in batches that started executing (cancelled-while-queued and invalid calls never count). */
  items: number;
  maxBatchSeen: number;
  /** Sizes of the last SIM_BATCH_HISTORY executed batches, oldest first. */
  batchSizes: number[];
  /** Batches executing now. */
  executing: number;
  /** Batches waiting for a free instance. */
  queued: number;
  /** ModelInfer calls that failed: invalid, cancelled, aborted by close(), injected errors and resets. */
  failures: number;
  /** Injected faults by kind ("latency": calls given added latency). */
  faults: Record<FaultKind, number>;
}

export interface TritonSim extends AsyncDisposable {
  /** "host:port", ready to pass to a gRPC client. */
  readonly address: string;
  readonly port: number;
  readonly metricsPort: number | undefined;
  stats(): TritonSimStats;
  /** The trace contexts (`traceparent` metadata) of the last ModelInfer calls that carried one, oldest first. */
  receivedTraces(): ReceivedTrace[];
  /** Changes the cost model for batches that start from now on. */
  setCost(cost: Partial<SimCost>): void;
  /** Server (and every model) readiness as ServerReady, ModelReady and health report it; default true. */
  setReady(ready: boolean): void;
  /**
   * One model's readiness, as while Triton loads or unloads it: ModelReady
   * answers false; ModelConfig, ModelMetadata and ModelInfer fail with
   * Triton's "has no available versions" (NOT_FOUND, no version asked) or
   * "version N is not at ready state" (UNAVAILABLE). RangeError for a model
   * the simulator does not serve.
   */
  setModelReady(model: string, ready: boolean): void;
  /** Replaces the fault spec (RangeError naming the field if invalid); releases hung calls. */
  setFaults(spec: FaultSpec): void;
  /** No faults from now on; hung calls are released and run normally. */
  clearFaults(): void;
  close(): Promise<void>;
}

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export async function createTritonSim(opts: TritonSimOptions = {}): Promise<TritonSim> {
  const host = opts.host ?? "127.0.0.1";
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger;
  let cost = validateCost({ ...DEFAULT_SIM_COST, ...opts.cost });
  const models = new Map<string, SimModel>();
  for (const m of opts.models ?? [DEFAULT_SIM_MODEL]) {
    const model = buildSimModel(m);
    if (models.has(model.name)) throw new RangeError(`sim: model '${model.name}' is listed twice`);
    models.set(model.name, model);
  }
  const metrics = new TritonSimMetrics();
  const faults = new FaultInjector({
    malformedKinds: TRITON_MALFORMED_KINDS,
    seed: opts.faultSeed ?? 1,
    clock,
    onInjected: metrics.injected,
    ...(opts.faults ? { spec: opts.faults } : {}),
  });
  for (const model of models.values()) metrics.register(labelsOf(model));
  // One scheduler per model: Triton gives each model its own instance group.
  const schedulers = new Map<SimModel, SimScheduler>();
  for (const model of models.values()) {
    const mergeUpTo = opts.mergeQueued === true ? model.maxBatchSize : 0;
    schedulers.set(model, new SimScheduler(clock, () => cost, mergeUpTo));
  }

  const counters: SimCounters = { requests: 0, items: 0, maxBatchSeen: 0, failures: 0, batchSizes: [] };
  const traces = new ReceivedTraces(logger);
  let ready = true;
  const strictReadiness = opts.strictReadiness ?? true;
  const notReadyModels = new Set<string>();
  const health = new HealthImplementation({ "": "SERVING", [INFERENCE_SERVICE_NAME]: "SERVING" });
  /** ServerReady (and health, which Triton answers from the same call): the server's and, when strict, every model's. */
  const serverReady = (): boolean => ready && !(strictReadiness && notReadyModels.size > 0);
  const updateHealth = (): void => {
    const status = serverReady() ? "SERVING" : "NOT_SERVING";
    health.setStatus("", status);
    health.setStatus(INFERENCE_SERVICE_NAME, status);
  };

  const modelHandler =
    <Res>(answer: (model: SimModel) => Res): Handler<ModelRef, Res> =>
    (call, callback) => {
      try {
        callback(
          null,
          answer(findModel(models, call.request.name, call.request.version, "", notReadyModels)),
        );
      } catch (err) {
        callback(toStatus(err));
      }
    };

  const handlers: Record<string, grpc.UntypedHandleCall> = {
    ServerLive: ((_call, callback) => callback(null, { live: true })) satisfies Handler<
      Empty,
      ServerLiveResponse
    >,
    ServerReady: ((_call, callback) => callback(null, { ready: serverReady() })) satisfies Handler<
      Empty,
      ReadyResponse
    >,
    ServerMetadata: ((_call, callback) =>
      callback(null, {
        name: "triton",
        version: SIM_TRITON_VERSION,
        extensions: [
          "classification",
          "model_configuration",
          "parameters",
          "schedule_policy",
          "binary_tensor_data",
        ],
      })) satisfies Handler<Empty, ServerMetadataResponse>,
    // An unknown model or version is `ready: false`, not an error (validation.ts modelIsReady).
    ModelReady: ((call, callback) => {
      try {
        const { name, version } = call.request;
        callback(null, { ready: ready && modelIsReady(models, notReadyModels, name, version) });
      } catch (err) {
        callback(toStatus(err));
      }
    }) satisfies Handler<ModelRef, ReadyResponse>,
    ModelMetadata: modelHandler<ModelMetadataResponse>(modelMetadata),
    ModelConfig: modelHandler<ModelConfigResponse>((model) => ({
      config: modelConfig(model, cost.instances),
    })),
    ModelInfer: modelInferHandler({
      models,
      notReady: notReadyModels,
      schedulers,
      metrics,
      counters,
      clock,
      logger,
      faults,
      traces,
      logits: scoringFunction(opts.scoreMemoPairs ?? 0),
    }),
  };

  const server = new grpc.Server({
    // Triton accepts messages up to INT32_MAX.
    "grpc.max_receive_message_length": 0x7fffffff,
    "grpc.max_send_message_length": 0x7fffffff,
  });
  server.addService(inferenceServiceDefinition, handlers);
  health.addToServer(server);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${hostPart}:${opts.port ?? DEFAULT_SIM_PORT}`,
      opts.tls === undefined
        ? grpc.ServerCredentials.createInsecure()
        : grpc.ServerCredentials.createSsl(
            opts.tls.clientCa ?? null,
            [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }],
            opts.tls.clientCa !== undefined,
          ),
      (err, p) => (err ? reject(err) : resolve(p)),
    );
  });
  let metricsPort: number | undefined;
  if (opts.metricsPort !== undefined) {
    try {
      metricsPort = await metrics.listen(host, opts.metricsPort, (req, res) =>
        serveFaultControl(req, res, faults, logger),
      );
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
  }
  const address = `${hostPart}:${port}`;
  logger?.info(
    { address, tls: opts.tls !== undefined, metricsPort, models: [...models.keys()], faults: opts.faults },
    "triton simulator listening",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(INFERENCE_SERVICE_NAME, "NOT_SERVING");
      faults.close();
      for (const s of schedulers.values()) s.close();
      await Promise.all([shutdown(server), metrics.close()]);
      logger?.info({ address }, "triton simulator closed");
    })();
    return closing;
  };

  return {
    address,
    port,
    metricsPort,
    stats() {
      let executing = 0;
      let queued = 0;
      for (const s of schedulers.values()) {
        executing += s.executing;
        queued += s.queued;
      }
      return {
        ...counters,
        batchSizes: [...counters.batchSizes],
        executing,
        queued,
        faults: faults.counts(),
      };
    },
    receivedTraces: () => traces.list(),
    setCost(next) {
      cost = validateCost({ ...cost, ...next });
      for (const s of schedulers.values()) s.pump();
    },
    setReady(next) {
      ready = next;
      updateHealth();
    },
    setModelReady(model, next) {
      if (!models.has(model)) throw new RangeError(`sim: model '${model}' is not served`);
      if (next) notReadyModels.delete(model);
      else notReadyModels.add(model);
      updateHealth();
      logger?.info({ model, ready: next }, "model readiness set");
    },
    setFaults(spec) {
      faults.set(spec);
      logger?.info({ faults: spec }, "fault spec set");
    },
    clearFaults() {
      faults.clear();
      logger?.info("fault spec cleared");
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Graceful shutdown, forced after a grace period: open health Watch streams would otherwise hold it forever. */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), 1000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
