import t from "tap";
import { RetryBudget } from "../../../src/backends/resilience/retry-budget.js";
import { RetryPolicy } from "../../../src/backends/resilience/retry-policy.js";
import { ERROR_CATALOGUE, type ErrorReason } from "../../../src/util/error-catalogue.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const unavailable = new GatewayError("BACKEND_UNAVAILABLE", "connection refused");

function budget(minRetries: number, percent = 0): RetryBudget {
  return new RetryBudget({ percent, minRetries, windowMs: 10_000 }, new FakeClock());
}

t.test("a first attempt failed by its endpoint is retried", (t) => {
  t.same(new RetryPolicy(budget(1)).verdict(0, unavailable, false), { retry: true });
  t.end();
});

t.test("only once: a retry that fails is not retried again", (t) => {
  t.same(new RetryPolicy(budget(1)).verdict(1, unavailable, false), { retry: false, why: "retried_already" });
  t.end();
});

t.test("no budget configured: retries are off", (t) => {
  const policy = new RetryPolicy(undefined);
  t.same(policy.verdict(0, unavailable, false), { retry: false, why: "no_budget" });
  t.equal(policy.tryAcquire(), false);
  policy.recordCall(); // harmless without a budget
  t.end();
});

t.test("a draining gateway does not retry", (t) => {
  t.same(new RetryPolicy(budget(1)).verdict(0, unavailable, true), { retry: false, why: "draining" });
  t.end();
});

t.test("the verdict follows the error catalogue's retriable column, for every reason", (t) => {
  const policy = new RetryPolicy(budget(1));
  const reasons = Object.keys(ERROR_CATALOGUE) as ErrorReason[];
  t.ok(
    reasons.some((r) => ERROR_CATALOGUE[r].retriable),
    "some reasons are retriable",
  );
  t.ok(
    reasons.some((r) => !ERROR_CATALOGUE[r].retriable),
    "some are not",
  );
  for (const reason of reasons) {
    const expected = ERROR_CATALOGUE[reason].retriable
      ? { retry: true }
      : { retry: false, why: "not_retriable" };
    t.same(policy.verdict(0, new GatewayError(reason, "x"), false), expected, reason);
  }
  t.end();
});

t.test("tokens come from the budget: minRetries when quiet, then a share of the calls recorded", (t) => {
  const policy = new RetryPolicy(budget(2, 50));
  t.equal(policy.tryAcquire(), true);
  t.equal(policy.tryAcquire(), true);
  t.equal(policy.tryAcquire(), false, "the minimum is spent and no call was recorded");
  for (let i = 0; i < 4; i++) policy.recordCall();
  // 50% of 4 calls + 2 = 4 retries in the window; 2 taken.
  t.equal(policy.tryAcquire(), true);
  t.equal(policy.tryAcquire(), true);
  t.equal(policy.tryAcquire(), false);
  t.end();
});
