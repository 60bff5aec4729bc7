import { status as grpcStatus } from "@grpc/grpc-js";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { BatcherObserver } from "../batching/observer.js";
import { controlMetrics } from "./control-metrics.js";

export const METRIC_PREFIX = "relevance_gateway_";

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ITEM_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * Every metric of the gateway, defined once. Labels are low-cardinality by
 * construction: backend and route names come from the config, codes from the
 * gRPC enum, reasons and triggers from fixed sets.
 */
export function createMetrics(opts: { collectDefault: boolean; registry?: Registry }) {
  const registry = opts.registry ?? new Registry();
  if (opts.collectDefault) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const p = METRIC_PREFIX;
  const registers = [registry];

  const metrics = {
    registry,
    ...controlMetrics(p, registers),
    requests: new Counter({
      name: `${p}requests_total`,
      help: "Score requests answered, by route, backend and gRPC status code.",
      labelNames: ["route", "backend", "code"] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: `${p}request_duration_seconds`,
      help: "Time from receiving a Score request to answering it.",
      labelNames: ["route", "backend"] as const,
      buckets: LATENCY_BUCKETS_S,
      registers,
    }),
    requestDocuments: new Histogram({
      name: `${p}request_documents`,
      help: "Documents per Score request.",
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers,
    }),
    batchSize: new Histogram({
      name: `${p}batch_size_items`,
      help: "Items (query, document pairs) per batch sent to a backend.",
      labelNames: ["backend"] as const,
      buckets: ITEM_BUCKETS,
      registers,
    }),
    batches: new Counter({
      name: `${p}batches_total`,
      help: "Batches sent, by what made them leave: full, preferred, delay or drain.",
      labelNames: ["backend", "trigger"] as const,
      registers,
    }),
    queueWait: new Histogram({
      name: `${p}queue_wait_seconds`,
      help: "Time a request's items waited in the batcher's queue.",
      labelNames: ["backend"] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    backendCallDuration: new Histogram({
      name: `${p}backend_call_duration_seconds`,
      help: "Duration of one batch call to a backend, by outcome (OK or the gRPC status code name).",
      labelNames: ["backend", "outcome"] as const,
      buckets: LATENCY_BUCKETS_S,
      registers,
    }),
    queueDepth: new Gauge({
      name: `${p}queue_depth_items`,
      help: "Items waiting in a backend's batcher queue.",
      labelNames: ["backend"] as const,
      registers,
    }),
    batchesInFlight: new Gauge({
      name: `${p}batches_in_flight`,
      help: "Batches sent to a backend and not yet answered.",
      labelNames: ["backend"] as const,
      registers,
    }),
    itemsDropped: new Counter({
      name: `${p}items_dropped_total`,
      help: "Queued items never sent to a backend, by reason (deadline, cancelled, shutdown, evicted, unreachable).",
      labelNames: ["backend", "reason"] as const,
      registers,
    }),
    rejected: new Counter({
      name: `${p}requests_rejected_total`,
      help: "Requests refused before queueing, by reason (queue_full, client_queue_full, deadline_unreachable, no_ready_endpoint, circuit_open).",
      labelNames: ["backend", "reason"] as const,
      registers,
    }),
    backendReady: new Gauge({
      name: `${p}backend_ready`,
      help: "1 when at least one endpoint of the backend is ready.",
      labelNames: ["backend"] as const,
      registers,
    }),
    endpointReady: new Gauge({
      name: `${p}endpoint_ready`,
      help: "Endpoint readiness: 1 ready, 0 not ready or ejected (breaker open, outlier), -1 not yet probed.",
      labelNames: ["backend", "endpoint"] as const,
      registers,
    }),
    endpointNotReady: new Gauge({
      name: `${p}endpoint_not_ready`,
      help:
        "1 for the cause the last readiness probe gave for a not-ready endpoint (Triton: server_not_ready, " +
        "model_not_found, model_unavailable, model_misconfigured, probe_failed); no series while ready.",
      labelNames: ["backend", "endpoint", "cause"] as const,
      registers,
    }),
    retries: new Counter({
      name: `${p}retries_total`,
      help: "Batches sent again to another endpoint after failing UNAVAILABLE (within the retry budget).",
      labelNames: ["backend"] as const,
      registers,
    }),
    poisonIsolationCalls: new Counter({
      name: `${p}poison_isolation_calls_total`,
      help: "Extra backend calls made to find the input that made a backend reject a batch.",
      labelNames: ["backend"] as const,
      registers,
    }),
    poisonItems: new Counter({
      name: `${p}poison_items_total`,
      help: "Inputs found to make a backend reject a batch; their requests failed DOCUMENT_REJECTED.",
      labelNames: ["backend"] as const,
      registers,
    }),
    inputRejections: new Counter({
      name: `${p}input_rejections_total`,
      help:
        "Batches a backend rejected in a way one input may cause, by outcome " +
        "(isolated, endpoint_fault, budget_exhausted, not_reproduced, inconclusive).",
      labelNames: ["backend", "outcome"] as const,
      registers,
    }),
    breakerState: new Gauge({
      name: `${p}breaker_state`,
      help: "Circuit breaker of an endpoint: 0 closed, 1 half-open, 2 open.",
      labelNames: ["backend", "endpoint"] as const,
      registers,
    }),
    breakerTransitions: new Counter({
      name: `${p}breaker_transitions_total`,
      help: "Circuit breaker state changes, by the state entered.",
      labelNames: ["backend", "state"] as const,
      registers,
    }),
    outlierEjections: new Counter({
      name: `${p}outlier_ejections_total`,
      help: "Endpoints ejected by outlier detection (consecutive failures).",
      labelNames: ["backend"] as const,
      registers,
    }),
    shadowDropped: new Counter({
      name: `${p}shadow_dropped_total`,
      help: "Shadow requests that produced no comparison, by reason (queue_full, unavailable, deadline, error).",
      labelNames: ["experiment", "reason"] as const,
      registers,
    }),
    shadowRequests: new Counter({
      name: `${p}shadow_comparisons_total`,
      help: "Shadowed requests compared with the teacher.",
      labelNames: ["experiment"] as const,
      registers,
    }),
    shadowDocuments: new Counter({
      name: `${p}shadow_documents_total`,
      help: "Documents compared (student vs teacher).",
      labelNames: ["experiment"] as const,
      registers,
    }),
    shadowLabelsAgreed: new Counter({
      name: `${p}shadow_labels_agreed_total`,
      help: "Compared documents whose student and teacher labels (argmax) agree; label agreement = this / documents.",
      labelNames: ["experiment"] as const,
      registers,
    }),
    shadowAbsError: new Counter({
      name: `${p}shadow_expected_relevance_abs_error_total`,
      help: "Sum over compared documents of |student − teacher expected relevance|; MAE = this / documents.",
      labelNames: ["experiment"] as const,
      registers,
    }),
    shadowKendallTau: new Histogram({
      name: `${p}shadow_kendall_tau`,
      help: "Per-request Kendall tau-b between student and teacher expected relevance.",
      labelNames: ["experiment"] as const,
      buckets: [-0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1],
      registers,
    }),
    shadowNdcg: new Histogram({
      name: `${p}shadow_ndcg`,
      help: "Per-request NDCG@k of the student's ranking with the teacher's expected relevance as gains.",
      labelNames: ["experiment"] as const,
      buckets: [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1],
      registers,
    }),
    shadowTopKOverlap: new Histogram({
      name: `${p}shadow_top_k_overlap`,
      help: "Per-request share of the student's top k that is in the teacher's top k.",
      labelNames: ["experiment"] as const,
      buckets: [0.2, 0.4, 0.6, 0.8, 0.9, 1],
      registers,
    }),
    shadowTeacherDuration: new Histogram({
      name: `${p}shadow_teacher_duration_seconds`,
      help: "Time from mirroring a request to the teacher's answer.",
      buckets: LATENCY_BUCKETS_S,
      registers,
    }),
    shadowNoiseDocuments: new Counter({
      name: `${p}shadow_noise_floor_documents_total`,
      help: "Documents the teacher scored twice (noise floor sample).",
      labelNames: ["experiment"] as const,
      registers,
    }),
    shadowNoiseLabelsAgreed: new Counter({
      name: `${p}shadow_noise_floor_labels_agreed_total`,
      help: "Noise floor: documents whose two teacher labels agree.",
      labelNames: ["experiment"] as const,
      registers,
    }),
    shadowNoiseAbsError: new Counter({
      name: `${p}shadow_noise_floor_abs_error_total`,
      help: "Noise floor: sum of |teacher − teacher expected relevance|.",
      labelNames: ["experiment"] as const,
      registers,
    }),
    comparisonLogWritten: new Counter({
      name: `${p}shadow_log_records_total`,
      help: "Records written to the comparison log.",
      registers,
    }),
    comparisonLogDropped: new Counter({
      name: `${p}shadow_log_dropped_total`,
      help: "Comparison log records dropped, by reason (queue_full: the disk is slower than the traffic; write_error).",
      labelNames: ["reason"] as const,
      registers,
    }),
    buildInfo: new Gauge({
      name: `${p}build_info`,
      help: "Always 1; labels carry the gateway version and Node.js version.",
      labelNames: ["version", "node"] as const,
      registers,
    }),
  };
  return metrics;
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;

/** gRPC status code name (e.g. "UNAVAILABLE") for a numeric code. */
export function codeName(code: number): string {
  return grpcStatus[code] ?? String(code);
}

/** A batcher observer feeding the metrics of one backend; label children are resolved once. */
export function batcherMetrics(metrics: GatewayMetrics, backend: string): BatcherObserver {
  const batchSize = metrics.batchSize.labels(backend);
  const queueWait = metrics.queueWait.labels(backend);
  const queueDepth = metrics.queueDepth.labels(backend);
  const inFlight = metrics.batchesInFlight.labels(backend);
  const batchMaxSize = metrics.batchMaxSize.labels(backend);
  const batchSizeTarget = metrics.batchSizeTarget.labels(backend);
  const batchWaitTarget = metrics.batchWaitTarget.labels(backend);
  const queueCapacity = metrics.queueCapacity.labels(backend);
  const triggers = new Map<string, ReturnType<typeof metrics.batches.labels>>();
  const outcomes = new Map<string, ReturnType<typeof metrics.backendCallDuration.labels>>();
  return {
    batchDispatched(items, trigger) {
      batchSize.observe(items);
      let counter = triggers.get(trigger);
      if (!counter) {
        counter = metrics.batches.labels(backend, trigger);
        triggers.set(trigger, counter);
      }
      counter.inc();
    },
    batchCompleted(_endpoint, durationMs, error) {
      const outcome = error ? codeName(error.code) : "OK";
      let h = outcomes.get(outcome);
      if (!h) {
        h = metrics.backendCallDuration.labels(backend, outcome);
        outcomes.set(outcome, h);
      }
      h.observe(durationMs / 1000);
    },
    queueWait(ms) {
      queueWait.observe(ms / 1000);
    },
    queueDepth(items) {
      queueDepth.set(items);
    },
    inFlight(batches) {
      inFlight.set(batches);
    },
    itemsDropped(reason, items) {
      metrics.itemsDropped.labels(backend, reason).inc(items);
    },
    rejected(reason) {
      metrics.rejected.labels(backend, reason).inc();
    },
    // Answers are counted per route and code by requests_total, where the response leaves.
    requestAnswered() {},
    retried() {
      metrics.retries.labels(backend).inc();
    },
    inputRejection(_endpoint, outcome) {
      metrics.inputRejections.labels(backend, outcome).inc();
    },
    isolationCall() {
      metrics.poisonIsolationCalls.labels(backend).inc();
    },
    poisonItem() {
      metrics.poisonItems.labels(backend).inc();
    },
    // By client and band: observability/flow-metrics.ts.
    served() {},
    shed() {},
    limits(maxBatchSize, maxQueueItems) {
      batchMaxSize.set(maxBatchSize);
      queueCapacity.set(maxQueueItems);
    },
    targets(batchSize, queueDelayMs) {
      batchSizeTarget.set(batchSize);
      batchWaitTarget.set(queueDelayMs / 1000);
    },
  };
}

const BREAKER_STATE_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;

/** Resilience hooks (see backends/resilience) feeding the breaker and ejection metrics of one backend. */
export function resilienceMetrics(
  metrics: GatewayMetrics,
  backend: string,
): {
  breakerState(endpoint: string, state: keyof typeof BREAKER_STATE_VALUE): void;
  ejected(endpoint: string, durationMs: number): void;
} {
  return {
    breakerState(endpoint, state) {
      metrics.breakerState.labels(backend, endpoint).set(BREAKER_STATE_VALUE[state]);
      metrics.breakerTransitions.labels(backend, state).inc();
    },
    ejected() {
      metrics.outlierEjections.labels(backend).inc();
    },
  };
}

interface ComparisonFigures {
  readonly documents: number;
  readonly agreedLabels: number;
  readonly meanAbsErDelta: number;
  readonly kendallTau: number | undefined;
  readonly ndcgAtK: number | undefined;
  readonly topKOverlap: number;
}

/** The shadow path's observer (see shadow/shadow-sender.ts); `experiment` is "" or a configured name. */
export function shadowMetrics(metrics: GatewayMetrics) {
  const label = (experiment: string) => (experiment === "" ? "none" : experiment);
  return {
    dropped(experiment: string, reason: string) {
      metrics.shadowDropped.labels(label(experiment), reason).inc();
    },
    compared(experiment: string, c: ComparisonFigures, teacherLatencyMs: number) {
      const e = label(experiment);
      metrics.shadowRequests.labels(e).inc();
      metrics.shadowDocuments.labels(e).inc(c.documents);
      metrics.shadowLabelsAgreed.labels(e).inc(c.agreedLabels);
      metrics.shadowAbsError.labels(e).inc(c.meanAbsErDelta * c.documents);
      if (c.kendallTau !== undefined) metrics.shadowKendallTau.labels(e).observe(c.kendallTau);
      if (c.ndcgAtK !== undefined) metrics.shadowNdcg.labels(e).observe(c.ndcgAtK);
      metrics.shadowTopKOverlap.labels(e).observe(c.topKOverlap);
      metrics.shadowTeacherDuration.observe(teacherLatencyMs / 1000);
    },
    noiseFloor(experiment: string, c: ComparisonFigures) {
      const e = label(experiment);
      metrics.shadowNoiseDocuments.labels(e).inc(c.documents);
      metrics.shadowNoiseLabelsAgreed.labels(e).inc(c.agreedLabels);
      metrics.shadowNoiseAbsError.labels(e).inc(c.meanAbsErDelta * c.documents);
    },
  };
}
