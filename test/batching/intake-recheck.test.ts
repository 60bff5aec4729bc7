import t from "tap";
import { Balancer } from "../../src/backends/balancer.js";
import { Intake, RECHECK_INTERVAL_MS, RECHECK_TIME_SHARE } from "../../src/batching/intake.js";
import { ItemQueue } from "../../src/batching/item-queue.js";
import { Job } from "../../src/batching/job.js";
import { LimitsInForce } from "../../src/batching/limits.js";
import { noopObserver } from "../../src/batching/observer.js";
import type { GatewayError } from "../../src/util/gateway-error.js";
import { ManualEndpoint } from "../helpers/manual-endpoint.js";

/**
 * A recheck walks the whole queue; one that takes long (tens of thousands
 * of queued requests) spaces the next out, so rechecks take at most
 * RECHECK_TIME_SHARE of the time. The time a recheck takes is read from the
 * clock; here the clock moves on while the recheck answers a request, as a
 * long walk would move it.
 */
function stack(walkMs: number) {
  let clockMs = 0;
  const queue = new ItemQueue({ expired() {}, waited() {}, evicted() {} });
  const limits = new LimitsInForce(
    {
      maxBatchSize: 8,
      maxQueueDelayMs: 0,
      preferredBatchSizes: [],
      maxQueueItems: 10_000,
      maxConcurrentBatches: 1,
    },
    noopObserver,
  );
  // One batch of 8 items in 10 ms: 0.8 items/ms.
  limits.batchCompleted(8, 10, 0, 1);
  const intake = new Intake({
    backend: "student",
    queue,
    balancer: new Balancer(() => [new ManualEndpoint()]),
    limits,
    observer: noopObserver,
    shedUnreachableDeadlines: true,
    inFlightItems: () => 0,
    now: () => clockMs,
  });
  const push = (id: string, items: number, deadlineMs = Number.POSITIVE_INFINITY) => {
    const documents = Array.from({ length: items }, (_, i) => `${id}#${i}`);
    const job = new Job(
      { requestId: id, query: "q", documents, deadlineMs, admittedMs: 0, priority: "bulk", trace: undefined },
      () => {},
      () => {},
    );
    queue.push(job, 0, "c");
    return job;
  };
  const shed: string[] = [];
  const recheck = (atMs: number) => {
    clockMs = atMs;
    intake.recheck(atMs, (job: Job, error: GatewayError) => {
      shed.push(`${job.requestId} at ${atMs}: ${error.reason}`);
      job.fail(error);
      queue.drop(job);
      clockMs += walkMs;
    });
  };
  // 800 items ahead: a request of 8 behind them waits 808 / 0.8 = 1,010 ms.
  push("c0", 800);
  push("c1", 8, 50);
  push("c2", 8, 1050);
  return { recheck, shed };
}

t.test("a quick recheck: the next may run RECHECK_INTERVAL_MS later", async (t) => {
  const { recheck, shed } = stack(0);
  recheck(0);
  t.same(shed, ["c1 at 0: PREDICTED_DEADLINE_MISS"], "1,010 ms past a 50 ms deadline; c2 has 1,050 ms");
  recheck(RECHECK_INTERVAL_MS - 1);
  t.same(shed.length, 1, "too soon");
  // c1 gone, c2 still waits 1,010 ms: 100 ms on, only 950 ms are left.
  recheck(RECHECK_INTERVAL_MS);
  t.same(shed, ["c1 at 0: PREDICTED_DEADLINE_MISS", "c2 at 100: PREDICTED_DEADLINE_MISS"]);
});

t.test("a recheck that took 30 ms: the next waits 30 ms ÷ RECHECK_TIME_SHARE", async (t) => {
  const { recheck, shed } = stack(30);
  const spacedMs = 30 / RECHECK_TIME_SHARE;
  t.equal(spacedMs, 600);
  recheck(0);
  t.same(shed, ["c1 at 0: PREDICTED_DEADLINE_MISS"]);
  recheck(RECHECK_INTERVAL_MS);
  recheck(spacedMs - 1);
  t.same(shed.length, 1, "not before 600 ms");
  recheck(spacedMs);
  t.same(shed, ["c1 at 0: PREDICTED_DEADLINE_MISS", "c2 at 600: PREDICTED_DEADLINE_MISS"]);
});
