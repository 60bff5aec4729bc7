import t from "tap";
import {
  type AdmissionInput,
  admit,
  predictWaitMs,
  serveTimeMs,
  serviceItemsPerMs,
} from "../../src/batching/admission.js";

const open: AdmissionInput = {
  backend: "student",
  items: 10,
  nowMs: 1_000,
  deadlineMs: 1_500,
  draining: false,
  cancelled: false,
  queuedItems: 100,
  maxQueueItems: 1_000,
  endpoints: { kind: "usable" },
  predictedWaitMs: undefined,
};

function refusal(input: AdmissionInput) {
  const a = admit(input);
  if (a.admitted) throw new Error("expected a refusal");
  return { reason: a.error.reason, code: a.error.code, message: a.error.message, count: a.count };
}

t.test("a request within every bound is admitted", (t) => {
  t.same(admit(open), { admitted: true, evict: 0 });
  t.same(admit({ ...open, deadlineMs: Number.POSITIVE_INFINITY, predictedWaitMs: 1e9 }), {
    admitted: true,
    evict: 0,
  });
  t.same(
    admit({ ...open, queuedItems: 990 }),
    { admitted: true, evict: 0 },
    "filling the queue exactly is allowed",
  );
  t.end();
});

t.test("shutting down: refused, not counted as load", (t) => {
  const r = refusal({ ...open, draining: true });
  t.equal(r.reason, "SHUTTING_DOWN");
  t.match(r.message, /backend student: gateway is shutting down/);
  t.equal(r.count, undefined);
  t.end();
});

t.test("already cancelled by the client", (t) => {
  t.equal(refusal({ ...open, cancelled: true }).reason, "CLIENT_CANCELLED");
  t.end();
});

t.test("a deadline already past drops the request's items, counted as such", (t) => {
  const r = refusal({ ...open, deadlineMs: 1_000 });
  t.equal(r.reason, "DEADLINE_EXCEEDED");
  t.same(r.count, { kind: "dropped", items: 10 });
  t.end();
});

t.test("a full queue refuses what does not fit, naming the numbers", (t) => {
  const r = refusal({ ...open, queuedItems: 991 });
  t.equal(r.reason, "BATCH_QUEUE_FULL");
  t.equal(r.code, 8, "RESOURCE_EXHAUSTED");
  t.equal(r.message, "backend student: queue full (991 of 1000 items waiting; request has 10 documents)");
  t.same(r.count, { kind: "rejected", reason: "queue_full" });
  t.end();
});

t.test("no endpoint: the cause picks the reason and the metric", (t) => {
  const open_ = refusal({
    ...open,
    endpoints: { kind: "unavailable", cause: "circuit_open", description: "a ejected" },
  });
  t.equal(open_.reason, "BACKEND_CIRCUIT_OPEN");
  t.match(open_.message, /circuit breakers open \(a ejected\)/);
  t.same(open_.count, { kind: "rejected", reason: "circuit_open" });
  const none = refusal({
    ...open,
    endpoints: { kind: "unavailable", cause: "no_ready_endpoint", description: "a not-ready" },
  });
  t.equal(none.reason, "NO_READY_ENDPOINT");
  t.match(none.message, /no ready endpoint \(a not-ready\)/);
  t.same(none.count, { kind: "rejected", reason: "no_ready_endpoint" });
  t.end();
});

t.test("a predicted wait that, with the margin, does not fit before the deadline sheds the request", (t) => {
  // 500 ms left. The margin is 5% of the prediction, at least 10 ms: 477 ms + 23.85 ms = 500.85 ms does not
  // fit, 476 ms + 23.8 ms = 499.8 ms does.
  const r = refusal({ ...open, predictedWaitMs: 477 });
  t.equal(r.reason, "PREDICTED_DEADLINE_MISS");
  t.match(
    r.message,
    /about 477 ms, past the request's deadline in 500 ms \(less 24 ms kept for the prediction's error\)/,
  );
  t.same(r.count, { kind: "rejected", reason: "deadline_unreachable" });
  t.same(admit({ ...open, predictedWaitMs: 476 }), { admitted: true, evict: 0 });
  // 100 ms left: 5% would be under 10 ms, so 10 ms is kept; 90 ms fits exactly, 90.5 ms does not.
  const near = { ...open, deadlineMs: open.nowMs + 100 };
  t.same(admit({ ...near, predictedWaitMs: 90 }), { admitted: true, evict: 0 });
  t.equal(refusal({ ...near, predictedWaitMs: 90.5 }).reason, "PREDICTED_DEADLINE_MISS");
  t.end();
});

t.test("the first failing check names the refusal", (t) => {
  const all: AdmissionInput = {
    ...open,
    draining: true,
    cancelled: true,
    deadlineMs: 0,
    queuedItems: 1_000,
    endpoints: { kind: "unavailable", cause: "circuit_open", description: "" },
    predictedWaitMs: 1e9,
  };
  const order: string[] = [];
  let input = all;
  for (const clear of [
    { draining: false },
    { cancelled: false },
    { deadlineMs: 1_500 },
    { queuedItems: 0 },
    { endpoints: { kind: "usable" } as const },
    { predictedWaitMs: undefined },
  ]) {
    const a = admit(input);
    order.push(a.admitted ? "admitted" : a.error.reason);
    input = { ...input, ...clear };
  }
  order.push(admit(input).admitted ? "admitted" : "refused");
  t.same(order, [
    "SHUTTING_DOWN",
    "CLIENT_CANCELLED",
    "DEADLINE_EXCEEDED",
    "BATCH_QUEUE_FULL",
    "BACKEND_CIRCUIT_OPEN",
    "PREDICTED_DEADLINE_MISS",
    "admitted",
  ]);
  t.end();
});

t.test(
  "predicted wait: in flight and ahead at the service rate, then its own items, a batch time at least",
  (t) => {
    const base = {
      aheadItems: 1_000,
      arrivals: [],
      ownItems: 10,
      inFlightItems: 256,
      measuredItemsPerEndpointMs: undefined,
      recentBatchMs: 20,
      usableEndpoints: 2,
      maxConcurrentBatches: 2,
      batchTarget: 64,
    };
    // Not measured: 2 endpoints × 2 slots × 64 items per 20 ms = 12.8 items/ms.
    t.equal(serviceItemsPerMs(base), 12.8);
    // (256 + 1000) / 12.8 = 98.125 ms, then its own 10 items: a batch time, 20 ms.
    t.equal(predictWaitMs(base), 118.125);
    // Measured, 2 items/ms per endpoint: 1256 / 4 = 314 ms, + 20.
    const measured = { ...base, measuredItemsPerEndpointMs: 2 };
    t.equal(predictWaitMs(measured), 334);
    // 300 items of its own take longer than a batch time: 300 / 4 = 75 ms.
    t.equal(predictWaitMs({ ...measured, ownItems: 300 }), 389);
    // No usable endpoint still counts one: 1 × 2 × 64 / 20 = 6.4 items/ms; 1256 / 6.4 = 196.25, + 20.
    t.equal(predictWaitMs({ ...base, usableEndpoints: 0 }), 216.25);
    t.equal(predictWaitMs({ ...base, aheadItems: 0 }), undefined, "no queue: nothing to predict");
    t.equal(predictWaitMs({ ...base, recentBatchMs: undefined }), undefined, "no batch measured yet");
    // Work arriving ahead of it at 2 of the 4 items/ms: the 1266 items take 1266 / (4 − 2) = 633 ms,
    // then what is left of its last batch's 20 ms after its own 10 items' 2.5: 17.5 ms.
    const aboveSends = (perMs: number) => [{ perMs, room: Number.POSITIVE_INFINITY }];
    t.equal(predictWaitMs({ ...measured, arrivals: aboveSends(2) }), 650.5);
    t.equal(
      predictWaitMs({ ...measured, arrivals: aboveSends(4) }),
      Number.POSITIVE_INFINITY,
      "as fast as the backend serves: never",
    );
    t.end();
  },
);

t.test("serve time: items at the rate while others add theirs, each up to its room", (t) => {
  const inf = Number.POSITIVE_INFINITY;
  t.equal(serveTimeMs(100, 2, []), 50, "nothing arrives: 100 items at 2 a ms");
  t.equal(serveTimeMs(100, 2, [{ perMs: 1, room: inf }]), 100, "a band above takes half: 100 / (2 − 1)");
  t.equal(serveTimeMs(100, 2, [{ perMs: 2, room: inf }]), inf, "a band above takes it all");
  // Room for 20: full after 20 ms, long before the 100 ms it would take at 2 − 1: then (100 + 20) / 2.
  t.equal(serveTimeMs(100, 2, [{ perMs: 1, room: 20 }]), 60);
  t.equal(serveTimeMs(100, 2, [{ perMs: 1, room: 500 }]), 100, "room for 500: not full by 100 ms");
  // Two: the second (room 10) fills at 10 ms; then 90 + 10 items at 3 − 1 a ms: 50 ms, within the
  // first's room (1000 items at 1 a ms). Check: 3 × 50 = 90 + 10 + 50.
  t.equal(
    serveTimeMs(90, 3, [
      { perMs: 1, room: 1000 },
      { perMs: 1, room: 10 },
    ]),
    50,
  );
  t.equal(serveTimeMs(100, 2, [{ perMs: 0, room: 50 }]), 50, "nothing arriving adds nothing");
  t.equal(serveTimeMs(100, 2, [{ perMs: 1, room: 0 }]), 50, "no room adds nothing");
  t.end();
});

t.test("a wait that never ends is refused against a deadline or a bound, never without", (t) => {
  const inf = Number.POSITIVE_INFINITY;
  const a = admit({ ...open, predictedWaitMs: inf });
  if (a.admitted) throw new Error("expected a refusal");
  t.equal(a.error.reason, "PREDICTED_DEADLINE_MISS");
  t.match(a.error.message, /work arriving ahead of this request .* past the request's deadline in 500 ms/);
  t.equal(a.error.retryAfterMs, 1000);
  t.same(admit({ ...open, deadlineMs: inf, predictedWaitMs: inf }), { admitted: true, evict: 0 });
  t.end();
});

t.test(
  "a full queue admits a request that lower-priority work can make room for, naming how much to evict",
  (t) => {
    t.same(admit({ ...open, queuedItems: 995, evictable: 5 }), { admitted: true, evict: 5 });
    t.equal(refusal({ ...open, queuedItems: 995, evictable: 4 }).reason, "BATCH_QUEUE_FULL");
    t.same(
      admit({ ...open, queuedItems: 990, evictable: 500 }),
      { admitted: true, evict: 0 },
      "room enough: none",
    );
    t.end();
  },
);

t.test("a client over its own queue cap is refused, naming the client and the cap", (t) => {
  const r = refusal({ ...open, client: { name: "indexer", queued: 95, max: 100 } });
  t.equal(r.reason, "BATCH_QUEUE_FULL");
  t.equal(
    r.message,
    "backend student: client indexer has 95 items queued, at most 100 (maxQueueItemsPerClient); request has 10 documents",
  );
  t.same(r.count, { kind: "rejected", reason: "client_queue_full" });
  t.same(admit({ ...open, client: { name: "indexer", queued: 90, max: 100 } }), { admitted: true, evict: 0 });
  t.same(admit({ ...open, client: { name: "indexer", queued: 1e6, max: null } }), {
    admitted: true,
    evict: 0,
  });
  t.end();
});

t.test("maxQueueWaitMs bounds the predicted wait with or without a deadline, with retry advice", (t) => {
  const noDeadline = { ...open, deadlineMs: Number.POSITIVE_INFINITY, maxQueueWaitMs: 2_000 };
  const a = admit({ ...noDeadline, predictedWaitMs: 2_500 });
  if (a.admitted) throw new Error("expected a refusal");
  t.equal(a.error.reason, "PREDICTED_DEADLINE_MISS");
  t.match(a.error.message, /about 2500 ms, past the queue's bound of 2000 ms \(maxQueueWaitMs\)/);
  t.equal(a.error.retryAfterMs, 500);
  t.same(admit({ ...noDeadline, predictedWaitMs: 2_000 }), { admitted: true, evict: 0 });
  // A deadline nearer than the bound is the bound.
  const b = admit({ ...open, maxQueueWaitMs: 2_000, predictedWaitMs: 600 });
  if (b.admitted) throw new Error("expected a refusal");
  t.match(b.error.message, /past the request's deadline in 500 ms/);
  // 600 ms predicted + 30 ms margin − 500 ms left.
  t.equal(b.error.retryAfterMs, 130);
  t.end();
});
