import t from "tap";
import { decideFlush, type FlushInput } from "../../src/batching/flush-policy.js";

const input: FlushInput = {
  queuedItems: 3,
  cap: 8,
  preferredBatchSizes: [],
  oldestWaitMs: 0,
  maxQueueDelayMs: 2,
  draining: false,
};

t.test("a partial batch waits for its delay, then leaves", (t) => {
  t.same(decideFlush({ ...input, oldestWaitMs: 0.5 }), { kind: "wait", dueInMs: 1.5 });
  t.same(decideFlush({ ...input, oldestWaitMs: 2 }), { kind: "dispatch", size: 3, trigger: "delay" });
  t.end();
});

t.test("a timer that fires an ulp short of due dispatches instead of re-arming for ~0 ms", (t) => {
  // 0.1 + 0.2 ≠ 0.3 in floating point: a clock at 0.1 + 0.2 with a 0.3 ms delay from 0.
  const oldestWaitMs = 0.1 + 0.2 - 1e-12;
  t.ok(oldestWaitMs < 0.3);
  t.same(decideFlush({ ...input, maxQueueDelayMs: 0.3, oldestWaitMs }), {
    kind: "dispatch",
    size: 3,
    trigger: "delay",
  });
  t.end();
});

t.test("a full queue leaves at the cap; preferred sizes go first", (t) => {
  t.same(decideFlush({ ...input, queuedItems: 9 }), { kind: "dispatch", size: 8, trigger: "full" });
  t.same(decideFlush({ ...input, queuedItems: 5, preferredBatchSizes: [2, 4] }), {
    kind: "dispatch",
    size: 4,
    trigger: "preferred",
  });
  t.same(decideFlush({ ...input, queuedItems: 0 }), { kind: "idle" });
  t.same(decideFlush({ ...input, draining: true }), { kind: "dispatch", size: 3, trigger: "drain" });
  t.end();
});

t.test("with preferred sizes, a full queue leaves at the largest preferred size it fills", (t) => {
  t.same(decideFlush({ ...input, queuedItems: 9, preferredBatchSizes: [2, 4] }), {
    kind: "dispatch",
    size: 4,
    trigger: "preferred",
  });
  t.same(decideFlush({ ...input, queuedItems: 9, preferredBatchSizes: [2, 8] }), {
    kind: "dispatch",
    size: 8,
    trigger: "preferred",
  });
  t.end();
});

t.test(
  "preferred sizes all above the cap: a batch at the cap waits for its delay and leaves as full",
  (t) => {
    const above = { ...input, queuedItems: 9, preferredBatchSizes: [16] };
    t.same(decideFlush({ ...above, oldestWaitMs: 1 }), { kind: "wait", dueInMs: 1 });
    t.same(decideFlush({ ...above, oldestWaitMs: 2 }), { kind: "dispatch", size: 8, trigger: "full" });
    t.same(decideFlush({ ...above, queuedItems: 5, oldestWaitMs: 2 }), {
      kind: "dispatch",
      size: 5,
      trigger: "delay",
    });
    t.end();
  },
);

t.test("an item exactly at the due tolerance is due", (t) => {
  t.same(decideFlush({ ...input, oldestWaitMs: input.maxQueueDelayMs - 1e-6 }), {
    kind: "dispatch",
    size: 3,
    trigger: "delay",
  });
  t.same(decideFlush({ ...input, oldestWaitMs: input.maxQueueDelayMs - 2e-6 }).kind, "wait");
  t.end();
});
