import t from "tap";
import { RetryBudget } from "../../../src/backends/resilience/retry-budget.js";
import { FakeClock } from "../../helpers/fake-clock.js";

t.test("retries stay within minRetries + percent of recent calls", async (t) => {
  const clock = new FakeClock();
  const budget = new RetryBudget({ percent: 20, minRetries: 1, windowMs: 1000 }, clock);
  t.ok(budget.tryAcquire(), "minRetries allows one with no calls");
  t.notOk(budget.tryAcquire(), "then the budget is spent");
  for (let i = 0; i < 10; i++) budget.recordCall();
  t.ok(budget.tryAcquire(), "10 calls add 2 retries");
  t.ok(budget.tryAcquire());
  t.notOk(budget.tryAcquire(), "1 + 20% of 10 = 3 retries in all");
  await clock.advance(1000);
  t.ok(budget.tryAcquire(), "the window moved on: old retries no longer count");
  t.notOk(budget.tryAcquire());
});

/**
 * How many retries a fresh budget (100% of calls, no minimum, a 1000 ms window of ten 100 ms
 * buckets) grants at `probeMs` after calls at the given times: the calls it still counts.
 */
async function countedCalls(callsAtMs: readonly number[], probeMs: number): Promise<number> {
  const clock = new FakeClock(); // starts at 1000 ms
  const budget = new RetryBudget({ percent: 100, minRetries: 0, windowMs: 1000 }, clock);
  for (const at of callsAtMs) {
    await clock.advance(at - clock.now());
    budget.recordCall();
  }
  await clock.advance(probeMs - clock.now());
  let granted = 0;
  while (budget.tryAcquire()) granted++;
  return granted;
}

t.test(
  "the window rolls bucket by bucket: calls count until their 100 ms bucket is ten buckets old",
  async (t) => {
    // One call in the bucket [1000, 1100), two in [1100, 1200), four in [1200, 1300).
    const calls = [1000, 1100, 1100, 1250, 1250, 1250, 1250];
    t.equal(await countedCalls(calls, 1250), 7, "all three buckets count");
    t.equal(await countedCalls(calls, 1999), 7, "the oldest bucket still counts at 1999 ms");
    t.equal(await countedCalls(calls, 2000), 6, "at 2000 ms [1000, 1100) has left the window");
    t.equal(await countedCalls(calls, 2099), 6);
    t.equal(await countedCalls(calls, 2100), 4, "at 2100 ms [1100, 1200) has left too");
    t.equal(await countedCalls(calls, 2199), 4);
    t.equal(await countedCalls(calls, 2200), 0, "at 2200 ms nothing is left");
    t.equal(await countedCalls(calls, 9000), 0, "long after the window: nothing");
    // Calls every 50 ms: the window holds the last 1000 ms of buckets, however often it rolls.
    const steady = Array.from({ length: 30 }, (_, i) => 1000 + 50 * i); // 1000 … 2450
    t.equal(await countedCalls(steady, 2450), 20, "buckets [1500, 2500): 20 calls");
  },
);
