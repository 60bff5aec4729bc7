import t from "tap";
import { LatencyRecorder } from "../../../src/tools/common/latency-stats.js";

t.test("percentiles of a known distribution, in milliseconds", async (t) => {
  const r = new LatencyRecorder();
  // 0.1 ms .. 100 ms in 0.1 ms steps, shuffled order must not matter.
  const values = Array.from({ length: 1000 }, (_, i) => (i + 1) / 10).reverse();
  for (const v of values) r.record(v);
  const s = r.summary();
  t.equal(s.count, 1000);
  // HDR with 3 significant digits: within 0.1% of the exact order statistic.
  t.ok(Math.abs(s.p50Ms - 50) / 50 < 0.001, `p50 ${s.p50Ms}`);
  t.ok(Math.abs(s.p95Ms - 95) / 95 < 0.001, `p95 ${s.p95Ms}`);
  t.ok(Math.abs(s.p99Ms - 99) / 99 < 0.001, `p99 ${s.p99Ms}`);
  t.ok(Math.abs(s.maxMs - 100) / 100 < 0.001, `max ${s.maxMs}`);
  t.ok(Math.abs(s.meanMs - 50.05) / 50.05 < 0.001, `mean ${s.meanMs}`);
});

t.test("sub-millisecond latencies keep their resolution; a stall is its own tail", async (t) => {
  const r = new LatencyRecorder();
  for (let i = 0; i < 990; i++) r.record(0.25);
  for (let i = 0; i < 10; i++) r.record(1500);
  const s = r.summary();
  t.ok(Math.abs(s.p50Ms - 0.25) < 0.001, `p50 ${s.p50Ms}`);
  t.ok(Math.abs(s.p99Ms - 0.25) < 0.001, "p99 is the 990th value of 1000");
  t.ok(Math.abs(s.maxMs - 1500) / 1500 < 0.001, `max ${s.maxMs}`);
});

t.test("nothing recorded: all zeros, no NaN", async (t) => {
  t.same(new LatencyRecorder().summary(), { count: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 });
});
