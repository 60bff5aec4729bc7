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
    l.batchCompleted(3, 7, 17);
    l.requestCompleted(10, 25);
    t.same(heard, ["admitted 3", "batch 3 7", "request 15"]);
    t.end();
  },
);

t.test("the predicted wait uses a moving average of batch times (0.8 old, 0.2 new)", (t) => {
  const l = new LimitsInForce(limits, noopObserver);
  t.equal(l.predictWaitMs(640, 1), undefined, "no batch measured yet");
  l.batchCompleted(64, 10, 0);
  l.batchCompleted(64, 20, 0);
  // average 0.8·10 + 0.2·20 = 12 ms; ⌈640/64⌉ = 10 batches over 1×2 slots = 5 rounds, + 1: 6 × 12 ms.
  t.equal(l.predictWaitMs(640, 1), 72);
  t.end();
});
