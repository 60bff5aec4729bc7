import t from "tap";
import { WakeTimer } from "../../src/util/clock.js";
import { FakeClock } from "../helpers/fake-clock.js";

t.test("a wake-up only moves earlier; it fires once at the earliest time asked", async (t) => {
  const clock = new FakeClock();
  const fired: number[] = [];
  const wake = new WakeTimer(clock, () => fired.push(clock.now()));
  const start = clock.now();
  wake.at(start + 10);
  wake.at(start + 20); // later: kept at 10
  wake.at(start + 5); // earlier: replaces
  t.equal(clock.pendingTimers, 1);
  await clock.advance(30);
  t.same(fired, [start + 5]);
  wake.at(start + 40); // after firing, a later time is armed again
  await clock.advance(20);
  t.same(fired, [start + 5, start + 40]);
  t.end();
});
