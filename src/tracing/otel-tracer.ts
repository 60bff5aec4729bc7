/**
 * Tracing on: the OpenTelemetry SDK behind the RequestTrace handles. Loaded
 * only by `Tracing.start()` (a dynamic import) when `tracing.enabled`.
 *
 *   client span (traceparent)
 *   └─ relevance.v1.RelevanceService/Score   SERVER, one per request
 *      ├─ queue wait                          INTERNAL, admission → its last items left in a batch
 *      └─ batch                               INTERNAL, under the batch's first sampled request,
 *         │                                   linked to every other request of the batch (and back)
 *         ├─ backend call (attempt 0)         CLIENT → traceparent to Triton / vLLM
 *         └─ backend call (attempt 1)         CLIENT, a retry on another endpoint
 *
 * Contexts are passed explicitly (no context manager, no global provider),
 * so several gateways in one process keep their traces apart.
 */
import { hostname } from "node:os";
import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { capClientText, MAX_MESSAGE_CHARS } from "../util/client-text.js";
import type { GatewayError } from "../util/gateway-error.js";
import { VERSION } from "../version.js";
import { ExportWatch } from "./export-watch.js";
import {
  type BatchTrace,
  type CallTrace,
  PropagatedContext,
  type RequestOutcome,
  type RequestTrace,
} from "./request-trace.js";
import { markTracingSdkLoaded } from "./sdk-state.js";
import type { TraceHeaders } from "./trace-headers.js";
import type { SdkTracer, TracingEnv, TracingOptions } from "./tracing.js";

markTracingSdkLoaded();

export const SCORE_SPAN = "relevance.v1.RelevanceService/Score";
export const QUEUE_WAIT_SPAN = "queue wait";
export const BATCH_SPAN = "batch";
export const BACKEND_CALL_SPAN = "backend call";

/** Span attribute keys: OpenTelemetry's RPC conventions where they apply, `relevance.*` for the rest. */
export const ATTR = {
  rpcSystem: "rpc.system",
  rpcService: "rpc.service",
  rpcMethod: "rpc.method",
  grpcStatusCode: "rpc.grpc.status_code",
  requestId: "relevance.request_id",
  documents: "relevance.documents",
  route: "relevance.route",
  backend: "relevance.backend",
  endpoint: "relevance.endpoint",
  items: "relevance.items",
  batchSize: "relevance.batch.size",
  trigger: "relevance.batch.trigger",
  attempt: "relevance.batch.attempt",
  requests: "relevance.batch.requests",
  errorReason: "relevance.error.reason",
  outcome: "relevance.outcome",
} as const;

/** Server-side codes that are the gateway's failure, not the client's (OpenTelemetry's gRPC conventions). */
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]);

const propagator = new W3CTraceContextPropagator();

/** The W3C headers of `span`'s context (its tracestate is the parent's, carried on by the SDK). */
function headersOf(span: Span): TraceHeaders {
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
  return { traceparent: carrier.traceparent ?? "", tracestate: carrier.tracestate };
}

function outcomeOf(error: GatewayError | undefined): string {
  return error === undefined ? "ok" : error.reason;
}

class OtelRequestTrace implements RequestTrace {
  readonly recording = true;
  readonly span: Span;
  readonly context: Context;
  readonly #tracer: Tracer;
  #queue: Span | undefined;

  constructor(tracer: Tracer, span: Span) {
    this.#tracer = tracer;
    this.span = span;
    this.context = trace.setSpan(ROOT_CONTEXT, span);
  }

  queueEntered(backend: string, items: number): void {
    this.#queue?.end();
    this.#queue = this.#tracer.startSpan(
      QUEUE_WAIT_SPAN,
      { kind: SpanKind.INTERNAL, attributes: { [ATTR.backend]: backend, [ATTR.items]: items } },
      this.context,
    );
  }

  queueLeft(): void {
    this.#queue?.end();
    this.#queue = undefined;
  }

  startBatch(backend: string, items: number, trigger: string): BatchTrace {
    return new OtelBatchTrace(this.#tracer, this, backend, items, trigger);
  }

  end(o: RequestOutcome): void {
    const queue = this.#queue;
    if (queue !== undefined) {
      // The request was answered (an error) while some of its items were still queued.
      queue.setAttribute(ATTR.outcome, o.reason ?? "ok");
      queue.end();
      this.#queue = undefined;
    }
    const span = this.span;
    const attributes: Attributes = {
      [ATTR.requestId]: o.requestId,
      [ATTR.documents]: o.documents,
      [ATTR.route]: o.route,
      [ATTR.backend]: o.backend,
      [ATTR.grpcStatusCode]: o.code,
    };
    if (o.reason !== undefined) attributes[ATTR.errorReason] = o.reason;
    span.setAttributes(attributes);
    if (SERVER_ERROR_CODES.has(o.code)) span.setStatus({ code: SpanStatusCode.ERROR, message: o.reason });
    span.end();
  }
}

class OtelBatchTrace implements BatchTrace {
  readonly #tracer: Tracer;
  readonly #lead: OtelRequestTrace;
  readonly #span: Span;
  readonly #context: Context;
  readonly #backend: string;
  readonly #trigger: string;
  #requests = 0;

  constructor(tracer: Tracer, lead: OtelRequestTrace, backend: string, items: number, trigger: string) {
    this.#tracer = tracer;
    this.#lead = lead;
    this.#backend = backend;
    this.#trigger = trigger;
    this.#span = tracer.startSpan(
      BATCH_SPAN,
      {
        kind: SpanKind.INTERNAL,
        attributes: { [ATTR.backend]: backend, [ATTR.batchSize]: items, [ATTR.trigger]: trigger },
      },
      lead.context,
    );
    this.#context = trace.setSpan(ROOT_CONTEXT, this.#span);
  }

  addRequest(request: RequestTrace | undefined): void {
    if (request === undefined) return;
    this.#requests++;
    // The batch belongs to the lead's trace; every other request's trace reaches it by a link, both ways.
    if (request === this.#lead || !(request instanceof OtelRequestTrace)) return;
    this.#span.addLink({ context: request.span.spanContext() });
    request.span.addLink({ context: this.#span.spanContext() });
  }

  startCall(endpoint: string, attempt: number, items: number): CallTrace {
    const span = this.#tracer.startSpan(
      BACKEND_CALL_SPAN,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTR.backend]: this.#backend,
          [ATTR.endpoint]: endpoint,
          [ATTR.batchSize]: items,
          [ATTR.trigger]: this.#trigger,
          [ATTR.attempt]: attempt,
        },
      },
      this.#context,
    );
    return new OtelCallTrace(span);
  }

  end(error: GatewayError | undefined): void {
    this.#span.setAttribute(ATTR.requests, this.#requests);
    endWith(this.#span, error);
  }
}

class OtelCallTrace implements CallTrace {
  readonly headers: TraceHeaders;
  readonly #span: Span;

  constructor(span: Span) {
    this.#span = span;
    this.headers = headersOf(span);
  }

  end(error: GatewayError | undefined): void {
    endWith(this.#span, error);
  }
}

function endWith(span: Span, error: GatewayError | undefined): void {
  span.setAttribute(ATTR.outcome, outcomeOf(error));
  // A backend's message may quote a client's document: bounded like the status message.
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: capClientText(error.message, MAX_MESSAGE_CHARS) });
  }
  span.end();
}

export function createSdkTracer(opts: TracingOptions, env: TracingEnv): SdkTracer {
  const log = env.logger.child({ component: "tracing" });
  const watch = new ExportWatch(
    new OTLPTraceExporter({
      url: opts.otlpEndpoint,
      headers: { ...opts.headers },
      timeoutMillis: opts.exportTimeoutMs,
    }),
    { endpoint: opts.otlpEndpoint, logger: log, clock: env.clock },
  );
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        "service.name": opts.serviceName,
        "service.version": VERSION,
        "host.name": hostname(),
      }),
    ),
    // A client's sampled context is always followed, an unsampled one never; new traces by ratio.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: watch,
        maxQueueSize: opts.maxQueueSpans,
        maxExportBatchSize: Math.min(512, opts.maxQueueSpans),
        scheduledDelayMillis: opts.exportIntervalMs,
        exportTimeoutMillis: opts.exportTimeoutMs,
      }),
    ],
  });
  const tracer = provider.getTracer("relevance-gateway", VERSION);
  log.info(
    { otlpEndpoint: opts.otlpEndpoint, sampleRatio: opts.sampleRatio, serviceName: opts.serviceName },
    "tracing on: exporting spans over OTLP/HTTP",
  );

  return {
    startRequest(incoming) {
      const parent =
        incoming === undefined
          ? ROOT_CONTEXT
          : propagator.extract(ROOT_CONTEXT, incoming, defaultTextMapGetter);
      const span = tracer.startSpan(
        SCORE_SPAN,
        {
          kind: SpanKind.SERVER,
          attributes: {
            [ATTR.rpcSystem]: "grpc",
            [ATTR.rpcService]: "relevance.v1.RelevanceService",
            [ATTR.rpcMethod]: "Score",
          },
        },
        parent,
      );
      // Not sampled: nothing to record, but the model server still learns the trace and the decision.
      if (!span.isRecording()) return new PropagatedContext(headersOf(span));
      return new OtelRequestTrace(tracer, span);
    },
    stats: () => watch.stats(),
    async shutdown() {
      let timer: ReturnType<TracingEnv["clock"]["setTimeout"]> | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = env.clock.setTimeout(() => resolve("timeout"), opts.exportTimeoutMs);
      });
      const outcome = await Promise.race([
        provider.shutdown().then(
          () => "done" as const,
          () => "done" as const,
        ),
        timedOut,
      ]);
      timer?.cancel();
      if (outcome === "timeout") {
        log.warn({ timeoutMs: opts.exportTimeoutMs }, "tracing: final span export did not finish in time");
      }
      log.debug(watch.stats(), "tracing stopped");
    },
  };
}
