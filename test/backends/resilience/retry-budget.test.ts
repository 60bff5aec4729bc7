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
