import t from "tap";
import { ArrivalRate } from "../../src/batching/arrival-rate.js";

t.test("items count over the time constant and fade by e per time constant", (t) => {
  const r = new ArrivalRate(1000);
  t.equal(r.perMs(0), 0, "nothing arrived");
  r.add(10, 0);
  t.equal(r.perMs(0), 0.01);
  t.equal(r.perMs(1000), 0.01 / Math.E);
  r.add(10, 1000);
  t.equal(r.perMs(1000), (10 / Math.E + 10) / 1000);
  t.equal(r.perMs(500), r.perMs(1000), "a time before the last arrival reads as that arrival's");
  t.end();
});

t.test("a steady rate settles at itself", (t) => {
  const r = new ArrivalRate(2000);
  // 8 items every 20 ms (0.4 items/ms) for 40 s: 2,000 arrivals, twenty time constants.
  for (let ms = 0; ms < 40_000; ms += 20) r.add(8, ms);
  // Read just before the next arrival: 8·Σ e^(−0.01·k) for k = 1…2000, over 2000 ms.
  const expected = (8 * Math.exp(-0.01) * (1 - Math.exp(-20))) / (1 - Math.exp(-0.01)) / 2000;
  t.ok(Math.abs(r.perMs(40_000) - expected) < 1e-12, `${r.perMs(40_000)} ≈ ${expected}`);
  t.ok(Math.abs(expected - 0.4) < 0.002, "0.4 items/ms, to the sampling's error");
  t.end();
});
