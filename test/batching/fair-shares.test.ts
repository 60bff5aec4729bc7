import fc from "fast-check";
import t from "tap";
import { FairShares, type Share, shareIn } from "../../src/batching/fair-shares.js";

/** The sum FairShares answers, flow by flow. */
const direct = (flows: readonly Share[], rounds: number) =>
  flows.reduce((sum, f) => sum + Math.min(f.items, rounds * f.weight), 0);

t.test("servedIn: each flow's whole queue once the rounds reach it, its weight per round before", (t) => {
  // Queues in rounds: 10 items of weight 1 and 30 of weight 3 take 10 rounds, 12 of weight 0.5, 24.
  const flows = [
    { items: 10, weight: 1 },
    { items: 30, weight: 3 },
    { items: 12, weight: 0.5 },
  ];
  const shares = new FairShares(flows);
  t.equal(shares.servedIn(0), 0);
  t.equal(shares.servedIn(6), 6 + 18 + 3);
  t.equal(shares.servedIn(10), 10 + 30 + 5, "two queues done exactly at 10 rounds");
  t.equal(shares.servedIn(20), 10 + 30 + 10);
  t.equal(shares.servedIn(1000), 52, "every queue done");
  t.equal(new FairShares([]).servedIn(5), 0, "no flows");
  t.equal(shareIn(flows[2]!, 20), 10);
  t.equal(shareIn(flows[2]!, 24), 12);
  t.end();
});

t.test("servedIn agrees with the sum taken flow by flow, for any flows and rounds", (t) => {
  const flow = fc.record({
    items: fc.integer({ min: 0, max: 40_000 }),
    weight: fc.double({ min: 0.01, max: 1000, noNaN: true }),
  });
  fc.assert(
    fc.property(
      fc.array(flow, { maxLength: 60 }),
      fc.double({ min: 0, max: 1e6, noNaN: true }),
      (flows, rounds) => {
        const got = new FairShares(flows).servedIn(rounds);
        const want = direct(flows, rounds);
        return Math.abs(got - want) <= 1e-9 * Math.max(1, want);
      },
    ),
    { numRuns: 2000 },
  );
  t.end();
});
