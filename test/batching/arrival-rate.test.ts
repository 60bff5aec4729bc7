import t from "tap";
import { ArrivalRate } from "../../src/batching/arrival-rate.js";

/** τ·(1 − e^(−span/τ)): what a steady 1 item/ms adds up to over `spanMs`. */
const over = (spanMs: number, tauMs: number) => tauMs * -Math.expm1(-spanMs / tauMs);
const near = (a: number, b: number) => Math.abs(a - b) < 1e-12 * Math.max(1, Math.abs(b));

t.test("items fade by e per time constant, over the span the flow has been seen", (t) => {
  const r = new ArrivalRate(1000);
  t.equal(r.perMs(0), 0, "nothing arrived");
  r.add(10, 0);
  t.ok(near(r.perMs(0), 10 / over(250, 1000)), "one arrival is read over 250 ms at least");
  t.ok(near(r.perMs(1000), 10 / Math.E / over(1000, 1000)), "a second later: faded by e, over 1 s");
  r.add(10, 1000);
  t.ok(near(r.perMs(1000), (10 / Math.E + 10) / over(1000, 1000)));
  t.end();
});

t.test("a flow that started a second ago is read at its rate", (t) => {
  const r = new ArrivalRate(2000);
  // 8 items every 20 ms (0.4 items/ms) for 1 s: 50 arrivals, from 0 to 980 ms.
  for (let ms = 0; ms < 1000; ms += 20) r.add(8, ms);
  // Read at 1000 ms: 8·Σ e^(−0.01·k), k = 1…50, over 2000·(1 − e^(−0.5)): 8·e^(−0.01) / (2000·(1 − e^(−0.01))),
  // 0.398 items/ms (the count alone, over 2000 ms, would say 0.157).
  const expected = (8 * Math.exp(-0.01)) / (1 - Math.exp(-0.01)) / 2000;
  t.ok(near(r.perMs(1000), expected), `${r.perMs(1000)} ≈ ${expected}`);
  t.ok(Math.abs(expected - 0.4) < 0.002, "0.4 items/ms, to the sampling's error");
  t.end();
});

t.test("a steady rate settles at itself; a pause longer than the time constant starts afresh", (t) => {
  const r = new ArrivalRate(2000);
  for (let ms = 0; ms < 40_000; ms += 20) r.add(8, ms);
  const expected = (8 * Math.exp(-0.01)) / (1 - Math.exp(-0.01)) / 2000;
  t.ok(near(r.perMs(40_000), expected), `${r.perMs(40_000)} ≈ ${expected}`);
  // 5 s of silence, then one request of 64: read as 64 items over 250 ms of span, not as the
  // remains of the old flow.
  r.add(64, 45_000);
  t.ok(near(r.perMs(45_000), 64 / over(250, 2000)));
  t.ok(r.faded(45_000 + 2000 * Math.log(6400)) === false, "64 items fade below 0.01 only after τ·ln 6400");
  t.ok(r.faded(45_001 + 2000 * Math.log(6400)));
  t.end();
});
