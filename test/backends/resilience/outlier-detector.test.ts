import t from "tap";
import { OutlierDetector } from "../../../src/backends/resilience/outlier-detector.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const opts = {
  consecutiveFailures: 3,
  baseEjectionTimeMs: 100,
  maxEjectionTimeMs: 250,
  maxEjectionPercent: 50,
};

t.test(
  "consecutive failures eject; the ejection ends by itself; repeats last longer, up to the cap",
  async (t) => {
    const clock = new FakeClock();
    const ejections: number[] = [];
    const d = new OutlierDetector(opts, clock, (_, ms) => ejections.push(ms));
    d.recordFailure("a", 4);
    d.recordFailure("a", 4);
    t.notOk(d.isEjected("a"), "two failures: still in");
    d.recordFailure("a", 4);
    t.ok(d.isEjected("a"), "third consecutive failure ejects");
    await clock.advance(99);
    t.ok(d.isEjected("a"));
    await clock.advance(1);
    t.notOk(d.isEjected("a"), "back after the base ejection time");
    for (let i = 0; i < 3; i++) d.recordFailure("a", 4);
    await clock.advance(199);
    t.ok(d.isEjected("a"), "second ejection lasts twice as long");
    await clock.advance(1);
    for (let i = 0; i < 3; i++) d.recordFailure("a", 4);
    t.same(ejections, [100, 200, 250], "the third is capped at maxEjectionTimeMs");
  },
);

t.test("a success resets the streak", async (t) => {
  const d = new OutlierDetector(opts, new FakeClock());
  d.recordFailure("a", 2);
  d.recordFailure("a", 2);
  d.recordSuccess("a");
  d.recordFailure("a", 2);
  d.recordFailure("a", 2);
  t.notOk(d.isEjected("a"));
});

t.test("never more than maxEjectionPercent of the endpoints, but always one may go", async (t) => {
  const d = new OutlierDetector(opts, new FakeClock());
  for (const id of ["a", "b", "c"]) for (let i = 0; i < 3; i++) d.recordFailure(id, 4);
  t.same(
    ["a", "b", "c"].map((id) => d.isEjected(id)),
    [true, true, false],
    "50% of 4 endpoints: two ejected",
  );
  const single = new OutlierDetector({ ...opts, maxEjectionPercent: 10 }, new FakeClock());
  for (let i = 0; i < 3; i++) single.recordFailure("x", 2);
  t.ok(single.isEjected("x"), "one endpoint may always be ejected");
});

t.test("a success on an endpoint with no failure on record changes nothing", async (t) => {
  const d = new OutlierDetector(opts, new FakeClock());
  d.recordSuccess("a");
  t.notOk(d.isEjected("a"));
  for (let i = 0; i < 3; i++) d.recordFailure("a", 2);
  t.ok(d.isEjected("a"), "three failures after it still eject");
});

/** Ejects "a" (3 failures), waits `healthyMs` past the end of the ejection, then reports one success. */
async function ejectThenHeal(
  healthyMs: number,
): Promise<{ d: OutlierDetector; clock: FakeClock; ejections: number[] }> {
  const clock = new FakeClock();
  const ejections: number[] = [];
  const d = new OutlierDetector(opts, clock, (_, ms) => ejections.push(ms));
  for (let i = 0; i < 3; i++) d.recordFailure("a", 2);
  await clock.advance(100 + healthyMs); // the base ejection time, then the healthy spell
  d.recordSuccess("a");
  for (let i = 0; i < 3; i++) d.recordFailure("a", 2);
  return { d, clock, ejections };
}

t.test("ten base ejection times of good behaviour forget past ejections, no less", async (t) => {
  t.same((await ejectThenHeal(1001)).ejections, [100, 100], "healthy 1001 ms > 10 × 100 ms: base time again");
  t.same((await ejectThenHeal(1000)).ejections, [100, 200], "healthy exactly 10 × 100 ms: still a repeat");
  t.same((await ejectThenHeal(10)).ejections, [100, 200], "a success soon after: still a repeat");
  const { d, clock } = await ejectThenHeal(1001);
  await clock.advance(99);
  t.ok(d.isEjected("a"));
  await clock.advance(1);
  t.notOk(d.isEjected("a"), "the forgotten endpoint's new ejection lasts the base time");
});

t.test("an endpoint that left the backend and came back starts with a clean record", async (t) => {
  const clock = new FakeClock();
  const ejections: string[] = [];
  const d = new OutlierDetector(opts, clock, (id) => ejections.push(id));
  for (let i = 0; i < 3; i++) d.recordFailure("a", 4);
  d.recordFailure("b", 4);
  d.recordFailure("b", 4);
  t.ok(d.isEjected("a"));
  d.retain(new Set(["b", "c"]));
  t.notOk(d.isEjected("a"), "a left: no longer ejected");
  d.recordFailure("a", 4);
  d.recordFailure("a", 4);
  t.notOk(d.isEjected("a"), "its old streak is gone: two failures do not eject");
  d.recordFailure("b", 4);
  t.ok(d.isEjected("b"), "b stayed and kept its streak: the third failure ejects");
  t.same(ejections, ["a", "b"]);
});
