import type { Test } from "tap";
import { Batcher, type BatcherOptions, type ScoredItems } from "../../src/batching/batcher.js";
import type { BatcherObserver } from "../../src/batching/observer.js";
import { flowMetrics } from "../../src/observability/flow-metrics.js";
import { batcherMetrics, createMetrics, METRIC_PREFIX } from "../../src/observability/metrics.js";
import type { GatewayError } from "../../src/util/gateway-error.js";
import { FakeClock } from "./fake-clock.js";
import { ManualEndpoint, rowFor } from "./manual-endpoint.js";

/** A batcher on a fake clock and manual endpoints, recording what its observer is told. */
export interface Recorded {
  dispatched: { items: number; trigger: string }[];
  dropped: Record<string, number>;
  rejected: string[];
  waits: number[];
  retried: string[];
  /** (maxBatchSize, maxQueueItems) at start and on every reconfiguration. */
  limits: [number, number][];
  /** (batch size target, queue delay) whenever either changes. */
  targets: [number, number][];
  /** How each input rejection ended, in order. */
  inputRejections: string[];
  /** Extra calls made to isolate rejected inputs. */
  isolationCalls: number;
  /** Inputs found to be rejected. */
  poisonItems: number;
  /** Items served per "client/band". */
  served: Record<string, number>;
  /** Requests shed, as "client/band how". */
  shed: string[];
  /** Answers given, by request id (give requests distinct ids to check "exactly once"). */
  answers: Map<string, number>;
}

/**
 * The value of a gateway metric (name without the prefix) in `registry`; for a
 * histogram, `field` picks "count" or "sum". 0 when the series does not exist.
 */
export async function metricValue(
  registry: ReturnType<typeof createMetrics>["registry"],
  name: string,
  labels: Record<string, string>,
  field?: "count" | "sum",
): Promise<number> {
  const metric = registry.getSingleMetric(`${METRIC_PREFIX}${name}`);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const wanted = field ? `${METRIC_PREFIX}${name}_${field}` : undefined;
  const match = values.find(
    (v) =>
      (wanted === undefined || (v as { metricName?: string }).metricName === wanted) &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return match?.value ?? 0;
}

export function setup(overrides: Partial<BatcherOptions> = {}, endpoints = [new ManualEndpoint()]) {
  // A test that builds budgets on the batcher's clock passes its own.
  const clock = overrides.clock instanceof FakeClock ? overrides.clock : new FakeClock();
  const rec: Recorded = {
    dispatched: [],
    dropped: {},
    rejected: [],
    waits: [],
    retried: [],
    limits: [],
    targets: [],
    inputRejections: [],
    isolationCalls: 0,
    poisonItems: 0,
    served: {},
    shed: [],
    answers: new Map(),
  };
  // The batcher's real metrics (as the gateway wires them), told everything the recorder is told.
  const metrics = createMetrics({ collectDefault: false });
  const real: BatcherObserver = {
    ...batcherMetrics(metrics, "student"),
    ...flowMetrics(metrics.registry, "student", () => batcher.queuedByClient()),
  };
  const recorder: BatcherObserver = {
    batchDispatched: (items, trigger) => rec.dispatched.push({ items, trigger }),
    batchCompleted: () => {},
    queueWait: (ms) => rec.waits.push(ms),
    queueDepth: () => {},
    inFlight: () => {},
    itemsDropped: (reason, n) => {
      rec.dropped[reason] = (rec.dropped[reason] ?? 0) + n;
    },
    rejected: (reason) => rec.rejected.push(reason),
    retried: (endpoint) => rec.retried.push(endpoint),
    limits: (size, items) => rec.limits.push([size, items]),
    targets: (size, delayMs) => rec.targets.push([size, delayMs]),
    inputRejection: (_endpoint, outcome) => rec.inputRejections.push(outcome),
    isolationCall: () => rec.isolationCalls++,
    poisonItem: () => rec.poisonItems++,
    served: (client, band, items) => {
      const key = `${client}/${band}`;
      rec.served[key] = (rec.served[key] ?? 0) + items;
    },
    shed: (client, band, how) => rec.shed.push(`${client}/${band} ${how}`),
    requestAnswered: (id) => rec.answers.set(id, (rec.answers.get(id) ?? 0) + 1),
  };
  const observer = Object.fromEntries(
    Object.keys(recorder).map((key) => {
      const k = key as keyof BatcherObserver;
      return [
        k,
        (...args: unknown[]) => {
          (recorder[k] as (...a: unknown[]) => void)(...args);
          (real[k] as (...a: unknown[]) => void)(...args);
        },
      ];
    }),
  ) as unknown as BatcherObserver;
  const batcher: Batcher = new Batcher({
    backend: "student",
    maxBatchSize: 8,
    maxQueueDelayMs: 2,
    preferredBatchSizes: [],
    maxQueueItems: 1000,
    maxConcurrentBatches: 1,
    endpoints: () => endpoints,
    clock,
    observer,
    ...overrides,
  });
  const metric = (name: string, labels: Record<string, string> = {}, field?: "count" | "sum") =>
    metricValue(metrics.registry, name, { backend: "student", ...labels }, field);
  return { clock, batcher, rec, ep: endpoints[0]!, endpoints, metric };
}

/**
 * Tracks a promise's settlement so tests can assert "not yet" and "answered".
 * A promise settles once whatever the batcher does: "answered once" is
 * checked on the observer's `requestAnswered` calls (`rec.answers`).
 */
export function track<T>(p: Promise<T>) {
  const state: { value?: T; error?: GatewayError; settled: number } = { settled: 0 };
  p.then(
    (v) => {
      state.value = v;
      state.settled++;
    },
    (e: GatewayError) => {
      state.error = e;
      state.settled++;
    },
  );
  return state;
}

export function expectRows(t: Test, result: ScoredItems | undefined, documents: string[]) {
  t.ok(result, "request resolved");
  const expected = new Float32Array(documents.length * 5);
  documents.forEach((d, i) => {
    expected.set(rowFor(d), i * 5);
  });
  t.same(Array.from(result!.probabilities), Array.from(expected), "every document's scores, in order");
}

export const opts = { requestId: "r", priority: "interactive" as const };
