import t from "tap";
import { IsolationBudget } from "../../src/batching/isolation-budget.js";
import { FakeClock } from "../helpers/fake-clock.js";

t.test("isolation items: a share of the items sent in the window, plus a floor", async (t) => {
  const clock = new FakeClock();
  const budget = new IsolationBudget({ percent: 50, minItems: 10, windowMs: 1000 }, clock);
  t.ok(budget.tryTake(10), "the floor, with nothing sent");
  t.notOk(budget.tryTake(1), "nothing beyond it");
  budget.recordSent(100); // allows 10 + 50
  t.notOk(budget.tryTake(51), "all or nothing: 51 do not fit in the 50 left");
  t.ok(budget.tryTake(50));
  t.notOk(budget.tryTake(1));
  await clock.advance(1000);
  t.ok(budget.tryTake(10), "a window later, what was sent and taken has aged out");
  t.notOk(budget.tryTake(1));
  budget.recordSent(20);
  await clock.advance(500);
  t.ok(budget.tryTake(10), "half a window later the items sent still count");
  t.notOk(budget.tryTake(1));
});
