/**
 * Tracing, off by default. Off, nothing of OpenTelemetry is loaded and the
 * request path pays only for reading the client's `traceparent` (one metadata
 * lookup) and, when there is one, passing it on unchanged to the model server:
 * a proxy that does not trace should not break the client's trace, and Triton's
 * own tracing can then join it. On, `start()` loads the SDK (otel-tracer.ts)
 * and every request gets spans exported over OTLP/HTTP. docs/tracing.md has the span model.
 */
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../util/clock.js";
import { PropagatedContext, type RequestTrace } from "./request-trace.js";
import type { TraceHeaders } from "./trace-headers.js";

/** The config's `tracing` block. */
export interface TracingOptions {
  readonly enabled: boolean;
  /** The collector's OTLP/HTTP traces URL, e.g. "http://127.0.0.1:4318/v1/traces". */
  readonly otlpEndpoint: string;
  /** The `service.name` resource attribute. */
  readonly serviceName: string;
  /** Share (0–1) of new traces recorded; a client's sampled (unsampled) context is always (never) followed. */
  readonly sampleRatio: number;
  /** Longest one export (with the exporter's retries) may take; also bounds the final flush at shutdown. */
  readonly exportTimeoutMs: number;
  /** How often queued spans are exported. */
  readonly exportIntervalMs: number;
  /** Ended spans waiting for export at most; more are dropped. */
  readonly maxQueueSpans: number;
  /** Extra HTTP headers of export requests. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface TracingEnv {
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface TracingStats {
  /** Spans the collector accepted. */
  readonly exportedSpans: number;
  /** Export requests that failed, after the exporter's own retries. */
  readonly failedExports: number;
  /** Spans lost with them. */
  readonly lostSpans: number;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Loads the SDK when enabled; until it resolves, requests are treated as with tracing off. */
  start(): Promise<void>;
  /**
   * The trace of one Score request, from the client's headers (undefined when
   * it sent none, or an invalid one). Off: a handle that passes the client's
   * context on, or none. On: a server span, child of the client's span.
   */
  startRequest(incoming: TraceHeaders | undefined): RequestTrace | undefined;
  stats(): TracingStats;
  /** Exports what is queued (waiting at most `exportTimeoutMs`) and stops the SDK. */
  shutdown(): Promise<void>;
}

/** What the SDK module (otel-tracer.ts) provides once loaded. */
export interface SdkTracer {
  startRequest(incoming: TraceHeaders | undefined): RequestTrace;
  stats(): TracingStats;
  shutdown(): Promise<void>;
}

const NO_STATS: TracingStats = Object.freeze({ exportedSpans: 0, failedExports: 0, lostSpans: 0 });

function propagateOnly(incoming: TraceHeaders | undefined): RequestTrace | undefined {
  return incoming === undefined ? undefined : new PropagatedContext(incoming);
}

/** Tracing off: no SDK, no spans; a client's context is passed on unchanged. */
export const disabledTracing: Tracing = Object.freeze({
  enabled: false,
  start: () => Promise.resolve(),
  startRequest: propagateOnly,
  stats: () => NO_STATS,
  shutdown: () => Promise.resolve(),
});

export function createTracing(opts: TracingOptions, env: TracingEnv): Tracing {
  if (!opts.enabled) return disabledTracing;
  let sdk: SdkTracer | undefined;
  let loading: Promise<void> | undefined;
  let stopped = false;
  return {
    enabled: true,
    start() {
      loading ??= import("./otel-tracer.js").then((m) => {
        if (!stopped) sdk = m.createSdkTracer(opts, env);
      });
      return loading;
    },
    startRequest(incoming) {
      return sdk === undefined ? propagateOnly(incoming) : sdk.startRequest(incoming);
    },
    stats: () => sdk?.stats() ?? NO_STATS,
    async shutdown() {
      stopped = true;
      await loading?.catch(() => undefined);
      const s = sdk;
      if (s === undefined) return;
      await s.shutdown();
    },
  };
}
