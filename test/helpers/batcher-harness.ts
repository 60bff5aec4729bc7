import type { Test } from "tap";
import { Batcher, type BatcherOptions, type ScoredItems } from "../../src/batching/batcher.js";
import type { BatcherObserver } from "../../src/batching/observer.js";
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
}

export function setup(overrides: Partial<BatcherOptions> = {}, endpoints = [new ManualEndpoint()]) {
  const clock = new FakeClock();
  const rec: Recorded = {
    dispatched: [],
    dropped: {},
    rejected: [],
    waits: [],
    retried: [],
    limits: [],
    targets: [],
  };
  const observer: BatcherObserver = {
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
  };
  const batcher = new Batcher({
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
  return { clock, batcher, rec, ep: endpoints[0]!, endpoints };
}

/** Tracks a promise's settlement so tests can assert "not yet" and "exactly once". */
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
