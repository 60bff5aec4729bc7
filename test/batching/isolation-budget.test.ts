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

t.test("items sent age out of the window a bucket (a tenth of it) at a time", async (t) => {
  const clock = new FakeClock();
  const budget = new IsolationBudget({ percent: 50, minItems: 10, windowMs: 1000 }, clock);
  budget.recordSent(100); // allows 10 + 50
  await clock.advance(50);
  t.ok(budget.tryTake(60), "half a bucket later: all of it");
  await clock.advance(849); // t = 899: the sending's bucket is 9 buckets old
  t.notOk(budget.tryTake(1), "what was taken in the window still counts");
  await clock.advance(1); // t = 900: the taking's bucket ages out with the sending's bucket at t = 1000
  t.notOk(budget.tryTake(1), "nine buckets on: still in the window");
  await clock.advance(99); // t = 999
  t.notOk(budget.tryTake(1));
  await clock.advance(1); // t = 1000: both aged out
  t.ok(budget.tryTake(10), "ten buckets on: the floor again");
  t.notOk(budget.tryTake(1));

  const fresh = new IsolationBudget({ percent: 50, minItems: 10, windowMs: 1000 }, clock);
  fresh.recordSent(100);
  await clock.advance(900); // one jump of nine buckets
  t.ok(fresh.tryTake(60), "after a jump of nine buckets the items sent still count");
  t.notOk(fresh.tryTake(1));
});
