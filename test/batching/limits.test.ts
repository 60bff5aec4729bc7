import t from "tap";
import type { BatchController } from "../../src/batching/controller.js";
import { LimitsInForce } from "../../src/batching/limits.js";
import { type BatcherObserver, noopObserver } from "../../src/batching/observer.js";
import type { BatchLimits } from "../../src/batching/options.js";

const limits: BatchLimits = {
  maxBatchSize: 64,
  maxQueueDelayMs: 5,
  preferredBatchSizes: [32, 8, 16],
  maxQueueItems: 4096,
  maxConcurrentBatches: 2,
};

function recorder() {
  const heard: string[] = [];
  const observer: BatcherObserver = {
    ...noopObserver,
    limits: (size, items) => heard.push(`limits ${size} ${items}`),
    targets: (size, delay) => heard.push(`targets ${size} ${delay}`),
  };
  return { heard, observer };
}

t.test(
  "the flush input: the cap is the smaller of the batcher's and the endpoint's; preferred sizes sorted",
  (t) => {
    const l = new LimitsInForce(limits, noopObserver);
    const input = l.flushInput(48, 100, 2, false);
    t.same(input, {
      queuedItems: 100,
      cap: 48,
      preferredBatchSizes: [8, 16, 32],
      oldestWaitMs: 2,
      maxQueueDelayMs: 5,
      draining: false,
    });
    t.equal(l.flushInput(undefined, 1, 0, true).cap, 64, "an endpoint without a cap of its own");
    t.end();
  },
);

t.test("the observer hears the limits when set and the targets only when they change", (t) => {
  const { heard, observer } = recorder();
  const l = new LimitsInForce(limits, observer);
  l.flushInput(undefined, 1, 0, false);
  l.flushInput(undefined, 2, 0, false);
  l.flushInput(16, 2, 0, false);
  l.set({ ...limits, maxQueueItems: 100 });
  t.same(heard, ["limits 64 4096", "targets 64 5", "targets 16 5", "limits 64 100"]);
  t.end();
});

t.test(
  "adaptive: the controller's size (floored, within [1, cap]) and delay; it hears what was measured",
  (t) => {
    const heard: string[] = [];
    let size = 20.7;
    const controller: BatchController = {
      batchSize: () => size,
      queueDelayMs: (max) => max / 5,
      itemsAdmitted: (n) => heard.push(`admitted ${n}`),
      batchCompleted: (n, ms) => heard.push(`batch ${n} ${ms}`),
      requestCompleted: (ms) => heard.push(`request ${ms}`),
    };
    const l = new LimitsInForce({ ...limits, controller }, noopObserver);
    t.equal(l.flushInput(undefined, 1, 0, false).cap, 20);
    t.equal(l.flushInput(undefined, 1, 0, false).maxQueueDelayMs, 1);
    size = 0.2;
    t.equal(l.batchTarget(64), 1, "never below one item");
    size = 500;
    t.equal(l.batchTarget(64), 64, "never above the cap");
    l.itemsAdmitted(3, 10);
    l.batchCompleted(3, 7, 17, 1);
    l.requestCompleted(10, 25);
    t.same(heard, ["admitted 3", "batch 3 7", "request 15"]);
    t.end();
  },
);

t.test("before a service rate is measured, the predicted wait uses a moving average of batch times", (t) => {
  const l = new LimitsInForce(limits, noopObserver);
  const wait = { aheadItems: 640, arrivals: [], ownItems: 1, inFlightItems: 0, usableEndpoints: 1 };
  t.equal(l.predictWaitMs(wait), undefined, "no batch measured yet");
  l.batchCompleted(64, 10, 0, 1);
  l.batchCompleted(64, 20, 0, 1);
  // Average 0.8·10 + 0.2·20 = 12 ms: 1 endpoint × 2 slots × 64 items per 12 ms, so the 640 items
  // ahead take 60 ms; then its own batch, 12 ms.
  t.equal(l.predictWaitMs(wait), 72);
  t.end();
});

t.test("the service rate is measured only while a full batch waits for a busy slot", (t) => {
  const l = new LimitsInForce(limits, noopObserver);
  const wait = { aheadItems: 640, arrivals: [], ownItems: 1, inFlightItems: 0, usableEndpoints: 1 };
  // Slots full but less than a batch (64) waiting, or a batch waiting with a slot free: not measured.
  l.pumped(63, true);
  for (let ms = 0; ms <= 400; ms += 40) l.batchCompleted(32, 40, ms, 1);
  l.pumped(640, false);
  for (let ms = 400; ms <= 800; ms += 40) l.batchCompleted(32, 40, ms, 1);
  // The batch-time estimate: 2 slots × 64 per 40 ms = 3.2 items/ms; 640 / 3.2 + 40 = 240 ms.
  t.equal(l.predictWaitMs(wait), 240);
  // Backlogged: 32 items every 40 ms (half-full batches, one slot's pace) is 0.8 items/ms,
  // counted once 250 ms have been (the first completion marks): 640 / 0.8 + 40 = 840 ms.
  l.pumped(64, true);
  for (let ms = 840; ms <= 840 + 280; ms += 40) l.batchCompleted(32, 40, ms, 1);
  const predicted = l.predictWaitMs(wait)!;
  t.ok(Math.abs(predicted - 840) < 1e-9, `840 ms (to rounding): ${predicted}`);
  t.end();
});
