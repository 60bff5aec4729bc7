/**
 * A span exporter that counts what the one it wraps achieves and logs its
 * failures, at most once a minute with what happened since: a collector that
 * is down must neither flood the log nor go unnoticed. Failures are the
 * exporter's results after its own retries; they never reach the request path.
 */
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../util/clock.js";
import type { TracingStats } from "./tracing.js";

/** At most one failure log line per this period. */
export const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

export interface ExportWatchOptions {
  /** Named in the log. */
  readonly endpoint: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

export class ExportWatch implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #opts: ExportWatchOptions;
  #exportedSpans = 0;
  #failedExports = 0;
  #lostSpans = 0;
  #lastLogMs = Number.NEGATIVE_INFINITY;
  #unloggedFailures = 0;

  constructor(inner: SpanExporter, opts: ExportWatchOptions) {
    this.#inner = inner;
    this.#opts = opts;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const n = spans.length;
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.#exportedSpans += n;
      else this.#failed(n, result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }

  stats(): TracingStats {
    return {
      exportedSpans: this.#exportedSpans,
      failedExports: this.#failedExports,
      lostSpans: this.#lostSpans,
    };
  }

  #failed(spans: number, error: Error | undefined): void {
    this.#failedExports++;
    this.#lostSpans += spans;
    this.#unloggedFailures++;
    const now = this.#opts.clock.now();
    if (now - this.#lastLogMs < EXPORT_FAILURE_LOG_INTERVAL_MS) return;
    this.#opts.logger.warn(
      {
        endpoint: this.#opts.endpoint,
        error: error?.message,
        failuresSinceLastLog: this.#unloggedFailures,
        failedExports: this.#failedExports,
        lostSpans: this.#lostSpans,
      },
      "trace export failed; its spans are dropped",
    );
    this.#lastLogMs = now;
    this.#unloggedFailures = 0;
  }
}
