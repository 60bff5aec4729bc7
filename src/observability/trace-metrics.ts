import { Counter, type Registry } from "prom-client";
import { METRIC_PREFIX } from "./metrics.js";

/** What the tracing exporter has done so far (monotonic counts). */
export interface TraceExportCounts {
  readonly exportedSpans: number;
  readonly failedExports: number;
  readonly lostSpans: number;
}

/**
 * Counters of span export, read from the exporter when Prometheus scrapes
 * (nothing on the request path). They stay at 0 while tracing is off.
 */
export function registerTraceMetrics(registry: Registry, counts: () => TraceExportCounts): void {
  const registers = [registry];
  const mirror = (name: string, help: string, read: (c: TraceExportCounts) => number) =>
    new Counter({
      name: `${METRIC_PREFIX}${name}`,
      help,
      registers,
      collect() {
        // The exporter keeps the running total; the counter shows it.
        this.reset();
        this.inc(read(counts()));
      },
    });
  mirror("trace_spans_exported_total", "Spans the OTLP collector accepted.", (c) => c.exportedSpans);
  mirror(
    "trace_export_failures_total",
    "OTLP export requests that failed after the exporter's retries.",
    (c) => c.failedExports,
  );
  mirror("trace_spans_lost_total", "Spans lost with failed exports.", (c) => c.lostSpans);
}
