import t from "tap";
import type { BackendEndpoint } from "../../../src/backends/backend-client.js";
import { backendBatchCap, planSweep } from "../../../src/tools/tune/grid.js";

const endpoint = (id: string, maxBatchSize: number | undefined): BackendEndpoint => ({
  id,
  state: "ready",
  maxBatchSize,
  infer: () => Promise.reject(new Error("not called")),
});

t.test("every combination, batch size outermost, each axis ascending and deduplicated", async (t) => {
  const plan = planSweep({ batchSizes: [32, 8, 32], delaysMs: [5, 0], concurrency: [16, 4] }, undefined);
  t.same(plan.batchSizes, [8, 32]);
  t.equal(plan.capped, undefined);
  t.same(
    plan.points.map((p) => [p.maxBatchSize, p.maxQueueDelayMs, p.concurrency]),
    [
      [8, 0, 4],
      [8, 0, 16],
      [8, 5, 4],
      [8, 5, 16],
      [32, 0, 4],
      [32, 0, 16],
      [32, 5, 4],
      [32, 5, 16],
    ],
  );
});

t.test("sizes above the backend's cap are measured once, as the cap, and reported", async (t) => {
  const plan = planSweep({ batchSizes: [16, 64, 128, 256], delaysMs: [2], concurrency: [4] }, 100);
  t.same(plan.batchSizes, [16, 64, 100], "128 and 256 would both run as 100-item batches");
  t.same(plan.capped, { requested: [128, 256], cap: 100 });
  t.same(
    plan.points.map((p) => p.maxBatchSize),
    [16, 64, 100],
  );
  const exact = planSweep({ batchSizes: [32, 64], delaysMs: [0], concurrency: [1] }, 64);
  t.equal(exact.capped, undefined, "a size equal to the cap is not capped");
});

t.test("the cap is the smallest max_batch_size any endpoint reports", async (t) => {
  t.equal(backendBatchCap([]), undefined);
  t.equal(backendBatchCap([endpoint("a", undefined)]), undefined, "vLLM reports none");
  t.equal(backendBatchCap([endpoint("a", 64), endpoint("b", undefined), endpoint("c", 32)]), 32);
});
