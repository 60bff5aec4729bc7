/**
 * One Triton endpoint: one HTTP/2 connection (transport.ts) carrying ModelInfer
 * calls through the hand-written codec with BYTES tensors [n,1] and the
 * readiness probes, and its readiness state.
 */
import type { Logger } from "pino";
import type { ModelInferRequestMessage, ModelInferResponseMessage } from "../../codec/index.js";
import { TRACEPARENT, TRACESTATE, type TraceHeaders } from "../../tracing/trace-headers.js";
import { GatewayError } from "../../util/gateway-error.js";
import { VERSION } from "../../version.js";
import type {
  BackendEndpoint,
  BandPriorities,
  CallContext,
  EndpointState,
  InferBatch,
  InferResult,
  ModelIdentity,
} from "../backend-client.js";
import { type OutputKind, packBytesTensor, readProbabilities } from "./codec.js";
import { mapTritonError, type TritonCallSite } from "./errors.js";
import type { UnaryCallError } from "./grpc-wire.js";
import { inferenceMethods } from "./kserve-service.js";
import { type ProbeOutcome, probeEndpoint, type TensorNames } from "./readiness.js";
import { H2UnaryChannel, type UnaryCallHandle } from "./transport.js";

export interface EndpointSettings {
  readonly backend: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly tensors: TensorNames;
  readonly outputKind: OutputKind;
  /** The `priority` parameter of a batch by its highest band; null: none sent. */
  readonly bandPriorities: BandPriorities | null;
  readonly timeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly logger: Logger;
  /** Called after every successful probe with the max_batch_size Triton reported. */
  readonly onBatchCap: (endpoint: string, maxBatchSize: number) => void;
  /** Set for TLS: the CA, client identity and the name Triton's certificate must carry, when it is not the endpoint's host. */
  readonly tls:
    | {
        readonly ca: Buffer | undefined;
        readonly identity: { readonly certificate: Buffer; readonly privateKey: Buffer } | undefined;
        readonly serverName: string | undefined;
      }
    | undefined;
}

/**
 * No keepalive pings on the connection: Triton's server accepts at most one
 * ping per 5 minutes without data (min_recv_ping_interval_without_data
 * 300000 ms, max_ping_strikes 2) and answers more with GOAWAY. The readiness
 * probes already exercise the connection every few seconds, on the same
 * connection as ModelInfer, so readiness speaks for the data path.
 */
const USER_AGENT = `relevance-gateway/${VERSION}`;

/** A ModelInfer call's extra headers: the trace context, which Triton's OpenTelemetry tracing continues. */
function callHeaders(trace: TraceHeaders | undefined): Record<string, string> | undefined {
  if (trace === undefined) return undefined;
  if (trace.tracestate === undefined) return { [TRACEPARENT]: trace.traceparent };
  return { [TRACEPARENT]: trace.traceparent, [TRACESTATE]: trace.tracestate };
}

/** "triton.ml.svc:8001" → "triton.ml.svc"; "[::1]:8001" → "::1". */
function authorityHost(authority: string | undefined): string | undefined {
  if (authority === undefined) return undefined;
  const host = authority.replace(/:\d+$/, "");
  return host.replace(/^\[(.*)\]$/, "$1");
}

export class TritonEndpoint implements BackendEndpoint {
  readonly id: string;
  readonly #channel: H2UnaryChannel;
  readonly #s: EndpointSettings;
  readonly #site: TritonCallSite;
  readonly #where: string;
  readonly #probeCalls = new Set<UnaryCallHandle>();
  #state: EndpointState = "unknown";
  #maxBatchSize: number | undefined;
  #model: ModelIdentity | undefined;
  #notReady: { readonly cause: string; readonly reason: string } | undefined;
  #closed = false;
  /** ModelInfer calls on the wire, including cancelled ones whose callback has not run yet. */
  #calls = 0;
  #drained: (() => void)[] = [];

  /** `authority`: the service name when `target` is one resolved address of it. */
  constructor(target: string, settings: EndpointSettings, maxMessageBytes: number, authority?: string) {
    this.id = target;
    this.#s = settings;
    const { tls } = settings;
    const serverName = tls === undefined ? undefined : (tls.serverName ?? authorityHost(authority));
    this.#channel = new H2UnaryChannel({
      target,
      // A discovered endpoint dials an address but names the service, as
      // grpc's own dns resolver would (proxies and sidecars route on
      // :authority); over TLS it also checks the certificate against the name.
      authority,
      maxMessageBytes,
      userAgent: USER_AGENT,
      tls:
        tls === undefined
          ? undefined
          : {
              ca: tls.ca,
              cert: tls.identity?.certificate,
              key: tls.identity?.privateKey,
              // Unset, Node checks the dialled host (and sends it as SNI unless it is an address).
              servername: serverName,
            },
      // The server may come back with another model: the identity is unknown (nothing is
      // answered from the score cache) until a probe, started at once, reads it again.
      onConnectionLost: () => {
        this.#model = undefined;
        if (!this.#closed) void this.probe().catch(() => {});
      },
    });
    this.#site = { backend: settings.backend, endpoint: target, model: settings.model };
    this.#where = `backend ${settings.backend} on ${target}`;
  }

  get model(): ModelIdentity | undefined {
    return this.#model;
  }

  get state(): EndpointState {
    return this.#state;
  }

  get maxBatchSize(): number | undefined {
    return this.#maxBatchSize;
  }

  get notReady(): { readonly cause: string; readonly reason: string } | undefined {
    return this.#state === "not-ready" ? this.#notReady : undefined;
  }

  infer(batch: InferBatch, ctx: CallContext): Promise<InferResult> {
    const n = batch.queries.length;
    if (batch.documents.length !== n) {
      const message = `${this.#where}: batch has ${n} queries but ${batch.documents.length} documents`;
      return Promise.reject(new GatewayError("INTERNAL", message));
    }
    const { signal } = ctx;
    if (signal.aborted) return Promise.reject(this.#abortError(signal));
    if (this.#closed) {
      const message = `${this.#where}: the backend client is closed`;
      return Promise.reject(new GatewayError("SHUTTING_DOWN", message));
    }
    const timeoutMs = ctx.timeoutMs ?? this.#s.timeoutMs;
    if (!(timeoutMs > 0)) {
      const message = `${this.#where}: no time left for the call (timeout ${timeoutMs} ms)`;
      return Promise.reject(new GatewayError("DEADLINE_EXCEEDED", message));
    }
    const { tensors, outputKind, bandPriorities } = this.#s;
    const req: ModelInferRequestMessage = {
      modelName: this.#s.model,
      modelVersion: this.#s.modelVersion,
      id: ctx.batchId ?? "",
      parameters:
        bandPriorities === null || ctx.band === undefined
          ? {}
          : { priority: { kind: "int64", value: bandPriorities[ctx.band] } },
      inputs: [
        { name: tensors.query, datatype: "BYTES", shape: [n, 1], parameters: {}, contents: undefined },
        { name: tensors.document, datatype: "BYTES", shape: [n, 1], parameters: {}, contents: undefined },
      ],
      outputs: [{ name: tensors.output, parameters: {} }],
      rawInputContents: [packBytesTensor(batch.queries), packBytesTensor(batch.documents)],
    };
    const method = inferenceMethods.ModelInfer;
    return new Promise<InferResult>((resolve, reject) => {
      let settled = false;
      let call: UnaryCallHandle | undefined;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        call?.cancel();
        reject(this.#abortError(signal));
      };
      const onReply = (err: UnaryCallError | null, res: ModelInferResponseMessage | undefined): void => {
        this.#callEnded();
        signal.removeEventListener("abort", onAbort);
        if (settled) return;
        settled = true;
        if (err || !res) {
          reject(mapTritonError(err ?? new Error("ModelInfer returned no message"), this.#site));
          return;
        }
        try {
          const probabilities = readProbabilities(res, {
            name: tensors.output,
            kind: outputKind,
            n,
            where: this.#where,
          });
          resolve({
            probabilities,
            model: { name: res.modelName || this.#s.model, version: res.modelVersion },
          });
        } catch (e) {
          reject(GatewayError.from(e));
        }
      };
      // Counted until the callback runs, which it does once for every started
      // call, cancelled or not; close() waits for the count to reach 0.
      this.#calls++;
      signal.addEventListener("abort", onAbort, { once: true });
      call = this.#channel.call(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        req,
        callHeaders(ctx.traceHeaders),
        timeoutMs,
        onReply,
      );
    });
  }

  async probe(): Promise<void> {
    const outcome = await probeEndpoint({
      channel: this.#channel,
      site: this.#site,
      modelVersion: this.#s.modelVersion,
      tensors: this.#s.tensors,
      timeoutMs: this.#s.probeTimeoutMs,
      calls: this.#probeCalls,
    });
    if (!this.#closed) this.#apply(outcome);
  }

  /**
   * Refuses new calls at once and resolves when the calls in flight have
   * finished: the connection closes gracefully (HTTP/2 GOAWAY), so they
   * complete normally, each bounded by its deadline.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const call of this.#probeCalls) call.cancel();
      this.#probeCalls.clear();
      this.#channel.close();
    }
    if (this.#calls === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#drained.push(resolve));
  }

  #callEnded(): void {
    this.#calls--;
    if (this.#calls > 0) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  #apply(outcome: ProbeOutcome): void {
    const log = this.#s.logger;
    const previous = this.#state;
    if (outcome.ready) {
      this.#maxBatchSize = outcome.maxBatchSize;
      this.#model = outcome.model;
      this.#s.onBatchCap(this.id, outcome.maxBatchSize);
      this.#state = "ready";
      this.#notReady = undefined;
      if (previous !== "ready") {
        log.info(
          { endpoint: this.id, from: previous, maxBatchSize: outcome.maxBatchSize },
          "triton endpoint ready",
        );
      }
      return;
    }
    this.#state = "not-ready";
    // Log on a transition or a new reason, not on every probe of a lasting outage.
    if (previous === "not-ready" && outcome.reason === this.#notReady?.reason) return;
    this.#notReady = { cause: outcome.cause, reason: outcome.reason };
    const fields = { endpoint: this.id, from: previous, cause: outcome.cause, reason: outcome.reason };
    if (outcome.misconfigured)
      log.error(fields, "triton endpoint not ready: model does not match the configuration");
    else log.warn(fields, "triton endpoint not ready");
  }

  #abortError(signal: AbortSignal): GatewayError {
    if (signal.reason instanceof GatewayError) return signal.reason;
    return new GatewayError("CLIENT_CANCELLED", `${this.#where}: call cancelled`);
  }
}
