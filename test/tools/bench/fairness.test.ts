import t from "tap";
import { runStreams, type StreamResult } from "../../../src/tools/bench/load-streams.js";
import {
  bulkShareOfRefusals,
  capacityItemsPerS,
  countStatus,
  fullBatchMs,
  requestedItemsAnswered,
  servedShares,
  streamFigures,
} from "../../../src/tools/bench/scenarios/fairness-figures.js";
import { FAIRNESS_SIM } from "../../../src/tools/bench/scenarios/fairness-plan.js";
import type { LatencySummary } from "../../../src/tools/common/latency-stats.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const NO_LATENCY: LatencySummary = { count: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 };

const result = (
  client: string,
  docs: number,
  answered: number,
  errorCounts = {},
  answeredInWindow = answered,
): StreamResult => ({
  client,
  docsPerRequest: docs,
  deadlineMs: 10_000,
  measuredMs: 2000,
  sent: answered + Object.values<number>(errorCounts).reduce((a, b) => a + b, 0),
  answered,
  answeredInWindow,
  errors: Object.values<number>(errorCounts).reduce((a, b) => a + b, 0),
  errorCounts,
  latency: { ...NO_LATENCY, count: answered, p50Ms: 10, p95Ms: 20, p99Ms: 30, maxMs: 40, meanMs: 12 },
  errorLatency: {},
});

t.test("capacity and batch time from the simulator's cost model", (t) => {
  t.equal(fullBatchMs({ baseMs: 20, perItemMs: 0.25, instances: 2, maxBatchSize: 64 }), 36);
  // 2 instances × 64 items per 36 ms.
  t.equal(Math.round(capacityItemsPerS(FAIRNESS_SIM)), 3556);
  t.equal(
    capacityItemsPerS({ baseMs: 3, perItemMs: 0.03, instances: 1, maxBatchSize: 256 }),
    256_000 / 10.68,
  );
  t.end();
});

t.test("shares are of served items, not requests, and count a client's streams together", (t) => {
  // a: 10 requests of 64 = 640 items; b: 40 of 8 + 10 of 32 = 640 items.
  const rs = [result("a", 64, 10), result("b", 8, 40), result("b", 32, 10), result("c", 8, 40)];
  t.same(servedShares(rs, ["a", "b"]), { a: 50, b: 50 }, "c is not one of the clients shared between");
  t.same(servedShares(rs, ["a", "b", "c"]), { a: 40, b: 40, c: 20 });
  t.same(servedShares([result("a", 64, 30), result("b", 64, 10)], ["a", "b"]), { a: 75, b: 25 });
  // Served is by answer time: "a" had 30 of its window's requests answered, but only 10 of the
  // answers came inside the window (its queue grew); "b" had 20 answered in it (10 from the warm-up).
  t.same(
    servedShares([result("a", 64, 30, {}, 10), result("b", 64, 10, {}, 30)], ["a", "b"]),
    { a: 25, b: 75 },
    "items answered inside the window, not requests sent in it",
  );
  t.same(
    servedShares(
      [result("a", 64, 30, {}, 10), result("b", 64, 10, {}, 30)],
      ["a", "b"],
      requestedItemsAnswered,
    ),
    { a: 75, b: 25 },
    "the former reading, by the window's requests answered whenever",
  );
  const none = servedShares([result("a", 8, 0)], ["a", "b"]);
  t.ok(Number.isNaN(none.a) && Number.isNaN(none.b), "nothing served: no shares");
  t.end();
});

t.test("refusals by client and status; bulk's part of the refusals", (t) => {
  const rs = [
    result("bulk", 32, 5, { RESOURCE_EXHAUSTED: 3, DEADLINE_EXCEEDED: 1 }),
    result("background", 32, 5, { RESOURCE_EXHAUSTED: 9 }),
  ];
  t.equal(countStatus(rs, "bulk"), 3, "RESOURCE_EXHAUSTED by default");
  t.equal(countStatus(rs, "bulk", "DEADLINE_EXCEEDED"), 1);
  t.equal(countStatus(rs, "background"), 9);
  t.equal(countStatus(rs, "interactive"), 0);
  t.equal(bulkShareOfRefusals(3, 9), 25);
  t.equal(bulkShareOfRefusals(0, 9), 0, "background shed first");
  t.ok(Number.isNaN(bulkShareOfRefusals(0, 0)), "nothing refused: no order to judge");
  t.end();
});

t.test("a stream's window as a round of the report", (t) => {
  // 100 of the window's requests answered; 90 answers came inside the 2 s window.
  const f = streamFigures(result("a", 8, 100, { RESOURCE_EXHAUSTED: 4 }, 90), { gateway: 0.5 });
  t.same(
    [f.requests, f.items, f.measuredS, f.reqPerS, f.itemsPerS, f.p99Ms, f.errors],
    [90, 720, 2, 45, 360, 30, 4],
    "throughput from the answers inside the window",
  );
  t.same(f.errorCounts, { RESOURCE_EXHAUSTED: 4 });
  t.same(f.cores, { gateway: 0.5 });
  t.end();
});

t.test("streams: each client's requests are its own; a burst leaves as the window opens", async (t) => {
  const clock = new FakeClock();
  const start = clock.now();
  const sends: [number, number][] = [];
  const phases: [string, number][] = [];
  const run = runStreams({
    streams: [
      {
        client: "steady",
        workload: { kind: "score", docsPerRequest: 8, seed: 1 },
        arrivals: { kind: "poisson", warmupRatePerS: 100, ratePerS: 200 },
        deadlineMs: 1000,
      },
      {
        client: "refused",
        workload: { kind: "score", docsPerRequest: 64, seed: 1 },
        arrivals: { kind: "poisson", warmupRatePerS: 0, ratePerS: 100 },
        deadlineMs: 1000,
      },
      {
        client: "burst",
        workload: { kind: "score", docsPerRequest: 300, seed: 1 },
        arrivals: { kind: "burst", count: 32 },
        deadlineMs: 20_000,
      },
    ],
    warmupMs: 1000,
    measureMs: 4000,
    seed: 3,
    clock,
    send: (i) => {
      sends.push([i, clock.now() - start]);
      // "refused" is refused after 2 ms; the others are answered after 10 ms.
      return new Promise((resolve, reject) =>
        clock.setTimeout(
          () => (i === 1 ? reject(new Error("RESOURCE_EXHAUSTED")) : resolve(undefined)),
          i === 1 ? 2 : 10,
        ),
      );
    },
    classifyError: (err) => (err as Error).message,
    onPhase: (name, measured) =>
      phases.push([`${name}${measured ? " (measured)" : ""}`, clock.now() - start]),
  });
  await clock.advance(6000);
  const [steady, refused, burst] = await run;
  t.same(phases, [
    ["warm-up", 0],
    ["measured (measured)", 1000],
    ["end", 5000],
  ]);

  t.equal(steady!.client, "steady");
  t.ok(Math.abs(steady!.sent - 800) < 120, `about 200/s for 4 s in the window (${steady!.sent})`);
  t.equal(steady!.answered, steady!.sent);
  // Answered 10 ms after leaving: the answers inside [1000, 5000) are those of the requests
  // sent in [990, 4990), the warm-up's last ones included.
  const steadyIn = sends.filter(([i, at]) => i === 0 && at >= 990 && at < 4990).length;
  t.equal(steady!.answeredInWindow, steadyIn, "answers inside the window, by when they came");
  t.ok(
    sends.some(([i, at]) => i === 0 && at >= 990 && at < 1000),
    "(a warm-up request was answered inside the window)",
  );
  const near = (x: number | undefined, y: number) => x !== undefined && Math.abs(x - y) < 0.02;
  t.ok(near(steady!.latency.p50Ms, 10), `answered in 10 ms (${steady!.latency.p50Ms})`);
  t.same(steady!.errorLatency, {});

  t.equal(refused!.answered, 0);
  t.equal(refused!.errors, refused!.sent);
  t.same(refused!.errorCounts, { RESOURCE_EXHAUSTED: refused!.sent });
  t.ok(near(refused!.errorLatency.RESOURCE_EXHAUSTED?.p99Ms, 2), "a refusal's latency, from when it left");
  t.notOk(
    sends.some(([i, at]) => i === 1 && at < 1000),
    "no warm-up load from a stream whose warm-up rate is 0",
  );

  const burstSends = sends.filter(([i]) => i === 2);
  t.equal(burstSends.length, 32);
  t.ok(
    burstSends.every(([, at]) => at === 1000),
    "the whole burst leaves as the window opens",
  );
  t.same(
    [burst!.sent, burst!.answered, burst!.answeredInWindow, burst!.errors, burst!.docsPerRequest],
    [32, 32, 32, 0, 300],
  );
  t.ok(near(burst!.latency.maxMs, 10), "a burst's latency, from the burst");
  t.equal(burst!.measuredMs, 10, "a burst's window: until its last answer");
  t.equal(steady!.measuredMs, 4000);
});
