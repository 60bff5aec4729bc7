/**
 * The Triton backend: one TritonEndpoint (grpc-js channel) per configured
 * target, and periodic readiness probes that learn each endpoint's
 * max_batch_size. Probe rounds never overlap: the next one is scheduled an
 * interval after the previous one finished.
 */
import { type Logger, pino } from "pino";
import { type Clock, systemClock, type TimerHandle } from "../../util/clock.js";
import type { BackendClient } from "../backend-client.js";
import { type EndpointSettings, TritonEndpoint } from "./endpoint.js";
import type { TensorNames } from "./readiness.js";
import type { OutputKind } from "./tensors.js";

export interface TritonBackendOptions {
  /** The config name, e.g. "student"; names the backend in logs and errors. */
  readonly name: string;
  /** gRPC targets: "host:port" or "dns:///host:port". */
  readonly endpoints: readonly string[];
  readonly model: string;
  /** "" (default) lets Triton pick by its version policy (latest). */
  readonly modelVersion?: string;
  /** Tensor names; defaults QUERY, DOCUMENT, LOGITS. */
  readonly tensors?: Partial<TensorNames>;
  /** What the output holds; default "logits" (softmaxed here). */
  readonly outputKind?: OutputKind;
  /** Call timeout when the CallContext has none; default 10000. */
  readonly timeoutMs?: number;
  /** Probe period and per-RPC probe deadline; defaults 5000 and 1000. */
  readonly readiness?: { readonly intervalMs?: number; readonly timeoutMs?: number };
  /** gRPC send and receive limit; default 64 MiB (grpc-js would otherwise receive only 4 MiB). */
  readonly maxMessageBytes?: number;
  /** The gateway's configured batch cap, to warn when Triton's is lower. */
  readonly configuredMaxBatchSize?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export const TRITON_DEFAULTS = {
  modelVersion: "",
  tensors: { query: "QUERY", document: "DOCUMENT", output: "LOGITS" },
  outputKind: "logits",
  timeoutMs: 10_000,
  readiness: { intervalMs: 5_000, timeoutMs: 1_000 },
  maxMessageBytes: 64 * 1024 * 1024,
} as const;

export function createTritonBackend(opts: TritonBackendOptions): BackendClient {
  const clock = opts.clock ?? systemClock;
  const logger = (opts.logger ?? pino({ level: "silent" })).child({ backend: opts.name });
  const intervalMs = opts.readiness?.intervalMs ?? TRITON_DEFAULTS.readiness.intervalMs;
  if (opts.endpoints.length === 0) throw new RangeError(`backend ${opts.name}: no endpoints configured`);
  let capWarned = false;
  const settings: EndpointSettings = {
    backend: opts.name,
    model: opts.model,
    modelVersion: opts.modelVersion ?? TRITON_DEFAULTS.modelVersion,
    tensors: { ...TRITON_DEFAULTS.tensors, ...opts.tensors },
    outputKind: opts.outputKind ?? TRITON_DEFAULTS.outputKind,
    timeoutMs: opts.timeoutMs ?? TRITON_DEFAULTS.timeoutMs,
    probeTimeoutMs: opts.readiness?.timeoutMs ?? TRITON_DEFAULTS.readiness.timeoutMs,
    logger,
    onBatchCap(endpoint, maxBatchSize) {
      const configured = opts.configuredMaxBatchSize;
      if (capWarned || configured === undefined || configured <= maxBatchSize) return;
      capWarned = true;
      logger.warn(
        { endpoint, configuredMaxBatchSize: configured, tritonMaxBatchSize: maxBatchSize },
        `backends.${opts.name}.batching.maxBatchSize ${configured} exceeds Triton's max_batch_size ${maxBatchSize} ` +
          `for model '${opts.model}'; batches are capped at ${maxBatchSize}`,
      );
    },
  };
  const maxMessageBytes = opts.maxMessageBytes ?? TRITON_DEFAULTS.maxMessageBytes;
  const endpoints = opts.endpoints.map((target) => new TritonEndpoint(target, settings, maxMessageBytes));

  let firstRound: Promise<void> | undefined;
  let timer: TimerHandle | undefined;
  let disposed = false;

  const round = async (): Promise<void> => {
    await Promise.all(endpoints.map((e) => e.probe()));
  };
  const scheduleNext = (): void => {
    if (disposed) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      if (disposed) return;
      void round().then(scheduleNext);
    }, intervalMs);
  };

  return {
    name: opts.name,
    kind: "triton",
    endpoints: () => endpoints,
    start() {
      if (disposed) return Promise.resolve();
      firstRound ??= round().then(scheduleNext);
      return firstRound;
    },
    isReady: () => endpoints.some((e) => e.state === "ready"),
    async [Symbol.asyncDispose]() {
      if (disposed) return;
      disposed = true;
      timer?.cancel();
      timer = undefined;
      for (const e of endpoints) e.close();
      logger.debug("triton backend closed");
    },
  };
}
