/**
 * The Triton backend: one TritonEndpoint (one HTTP/2 connection) per configured
 * `host:port` target and per resolved address of a `dns:///name:port` target,
 * and periodic readiness probes that learn each endpoint's max_batch_size.
 * Probe rounds never overlap: the next one is scheduled an interval after the
 * previous one finished; an endpoint that joins between rounds is probed at once.
 *
 * `dns:///` targets are resolved here, as a gRPC client's resolver would, but
 * with one endpoint per address rather than one channel picking the first
 * (pick_first): the batcher spreads batches over every pod and counts each
 * pod's batches in flight.
 */
import { type Logger, pino } from "pino";
import { type Clock, systemClock } from "../../util/clock.js";
import type { BackendClient, BandPriorities } from "../backend-client.js";
import type { Resolver } from "../discovery.js";
import { createProbedBackend } from "../probed-backend.js";
import type { OutputKind } from "./codec.js";
import { TRITON_DEFAULTS } from "./defaults.js";
import { type EndpointSettings, TritonEndpoint } from "./endpoint.js";
import type { TensorNames } from "./readiness.js";
import { parseTritonTarget, tritonVirtualHost } from "./target.js";

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
  /**
   * Re-resolution of `dns:///` targets: period (default 30000) and the
   * resolver (default: the system's, all addresses; tests inject one).
   */
  readonly discovery?: { readonly intervalMs?: number; readonly resolve?: Resolver };
  /** gRPC send and receive limit; default 64 MiB (gRPC clients' usual default is 4 MiB). */
  readonly maxMessageBytes?: number;
  /**
   * TLS (grpcs) instead of plaintext h2c: PEM CA bundle (default: the
   * system's roots), an optional client certificate and key (mutual TLS), and
   * the name the server's certificate must carry when it is not the
   * endpoint's host (a discovered endpoint checks the DNS name it came from).
   */
  readonly tls?: TritonTlsOptions | undefined;
  /**
   * The `priority` request parameter each band's batches are sent with (a
   * batch goes at its highest band's); default interactive 1, bulk 2,
   * background 3; null sends none. Triton serves lower levels first and
   * treats 0, or a level above the model's `priority_levels`, as the model's
   * default level.
   */
  readonly bandPriorities?: BandPriorities | null;
  /** The gateway's configured batch cap, to warn when Triton's is lower. */
  readonly configuredMaxBatchSize?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface TritonTlsOptions {
  readonly ca?: Buffer | undefined;
  readonly identity?: { readonly certificate: Buffer; readonly privateKey: Buffer } | undefined;
  readonly serverName?: string | undefined;
}

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
    bandPriorities: opts.bandPriorities === undefined ? TRITON_DEFAULTS.bandPriorities : opts.bandPriorities,
    timeoutMs: opts.timeoutMs ?? TRITON_DEFAULTS.timeoutMs,
    probeTimeoutMs: opts.readiness?.timeoutMs ?? TRITON_DEFAULTS.readiness.timeoutMs,
    logger,
    tls:
      opts.tls === undefined
        ? undefined
        : { ca: opts.tls.ca, identity: opts.tls.identity, serverName: opts.tls.serverName },
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
  return createProbedBackend<TritonEndpoint>({
    name: opts.name,
    kind: "triton",
    endpoints: {
      targets: opts.endpoints,
      parse: parseTritonTarget,
      create: (id, address, target) =>
        new TritonEndpoint(
          id,
          settings,
          maxMessageBytes,
          address === undefined ? undefined : tritonVirtualHost(target),
        ),
      resolve: opts.discovery?.resolve,
      intervalMs: opts.discovery?.intervalMs,
    },
    probeIntervalMs: intervalMs,
    clock,
    logger,
  });
}
