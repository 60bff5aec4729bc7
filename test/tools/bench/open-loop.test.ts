import t from "tap";
import { type LoadPhase, runOpenLoop } from "../../../src/tools/bench/open-loop.js";
import { exponentialGapMs, mulberry32 } from "../../../src/tools/common/rng.js";
import type { Clock } from "../../../src/util/clock.js";
import { FakeClock } from "../../helpers/fake-clock.js";

t.test("mulberry32: the same seed gives the same sequence, in [0, 1)", (t) => {
  const a = mulberry32(7);
  const b = mulberry32(7);
  const c = mulberry32(8);
  const xs = Array.from({ length: 1000 }, () => a());
  t.same(
    Array.from({ length: 1000 }, () => b()),
    xs,
  );
  t.not(c(), xs[0]);
  t.ok(
    xs.every((x) => x >= 0 && x < 1),
    "in [0, 1)",
  );
  t.end();
});

t.test("gaps are exponential with mean 1/λ", (t) => {
  const random = mulberry32(42);
  const ratePerS = 250;
  const n = 20_000;
  const gaps = Array.from({ length: n }, () => exponentialGapMs(random, ratePerS)).sort((x, y) => x - y);
  const meanMs = gaps.reduce((s, g) => s + g, 0) / n;
  const sd = Math.sqrt(gaps.reduce((s, g) => s + (g - meanMs) ** 2, 0) / (n - 1));
  t.ok(Math.abs(meanMs - 4) / 4 < 0.03, `mean gap ${meanMs.toFixed(3)} ms ≈ 4 ms`);
  t.ok(Math.abs(sd / meanMs - 1) < 0.05, `coefficient of variation ${(sd / meanMs).toFixed(3)} ≈ 1`);
  t.ok(
    gaps.every((g) => g >= 0 && Number.isFinite(g)),
    "finite and non-negative",
  );
  // Kolmogorov–Smirnov against Exp(λ): at 1% significance the statistic stays under 1.63/√n.
  let d = 0;
  for (const [i, g] of gaps.entries()) {
    const cdf = 1 - Math.exp(-(ratePerS / 1000) * g);
    d = Math.max(d, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
  }
  t.ok(d < 1.63 / Math.sqrt(n), `KS statistic ${d.toFixed(4)} < ${(1.63 / Math.sqrt(n)).toFixed(4)}`);
  t.equal(exponentialGapMs(random, 0), Number.POSITIVE_INFINITY, "rate 0 never arrives");
  t.end();
});

const phase = (name: string, durationMs: number, ratePerS: number, measured = true): LoadPhase => ({
  name,
  durationMs,
  ratePerS,
  measured,
});

/** Runs the loop on a fake clock; every request is answered `serviceMs` after it is sent. */
async function fakeRun(phases: LoadPhase[], opts: { seed?: number; serviceMs?: number; clock?: Clock } = {}) {
  const clock = new FakeClock();
  const timers: Clock = opts.clock ?? clock;
  const sends: number[] = [];
  const phaseStarts: [string, number][] = [];
  const start = clock.now();
  const run = runOpenLoop({
    phases,
    random: mulberry32(opts.seed ?? 1),
    clock: { now: () => clock.now(), setTimeout: (fn, ms) => timers.setTimeout(fn, ms) },
    send: () => {
      sends.push(clock.now() - start);
      return new Promise<void>((resolve) => clock.setTimeout(resolve, opts.serviceMs ?? 5));
    },
    onPhase: (p) => phaseStarts.push([p.name, clock.now() - start]),
  });
  const totalMs = phases.reduce((s, p) => s + p.durationMs, 0);
  await clock.advance(totalMs + 1000);
  return { results: await run, sends, phaseStarts };
}

t.test("open loop: Poisson arrivals at the phase's rate, latency from the scheduled time", async (t) => {
  const { results, sends, phaseStarts } = await fakeRun([
    phase("warm-up", 1000, 200, false),
    phase("measured", 10_000, 200),
  ]);
  t.same(
    phaseStarts,
    [
      ["warm-up", 0],
      ["measured", 1000],
    ],
    "each phase starts at its boundary",
  );
  t.equal(results.length, 1, "only measured phases are reported");
  const m = results[0]!;
  // 2000 expected; a Poisson count's standard deviation is √2000 ≈ 45.
  t.ok(Math.abs(m.sent - 2000) < 4 * 45, `${m.sent} sent ≈ 2000`);
  t.equal(m.answered, m.sent, "every request answered");
  t.equal(m.errors, 0);
  // The HDR histogram keeps 3 significant digits: 5 ms reads back as 5.003.
  const near = (x: number, y: number) => Math.abs(x - y) < 0.01;
  t.ok(
    near(m.latency.p50Ms, 5),
    `p50 ${m.latency.p50Ms} ms is the service time: the fake clock is never late`,
  );
  t.ok(near(m.latency.p99Ms, 5), `p99 ${m.latency.p99Ms} ms`);
  t.equal(m.maxSendLagMs, 0);
  const inWindow = sends.filter((s) => s >= 1000);
  t.equal(inWindow.length, m.sent, "the measured phase's sends fall inside it");
  const gaps = inWindow.slice(1).map((s, i) => s - inWindow[i]!);
  const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  t.ok(Math.abs(meanGap - 5) < 0.5, `mean gap ${meanGap.toFixed(2)} ms ≈ 1000/200`);
  const overMean = gaps.filter((g) => g > meanGap).length / gaps.length;
  t.ok(Math.abs(overMean - Math.exp(-1)) < 0.04, `P(gap > mean) ${overMean.toFixed(3)} ≈ e⁻¹`);
});

t.test("the same seed gives the same arrivals; another seed does not", async (t) => {
  const phases = [phase("measured", 2000, 300)];
  const a = await fakeRun(phases, { seed: 9 });
  const b = await fakeRun(phases, { seed: 9 });
  const c = await fakeRun(phases, { seed: 10 });
  t.same(b.sends, a.sends);
  t.not(c.sends.join(), a.sends.join());
});

t.test("each phase runs at its own rate; a zero-rate phase sends nothing but lasts", async (t) => {
  const { results, phaseStarts } = await fakeRun([
    phase("low", 2000, 100),
    phase("idle", 1000, 0),
    phase("high", 2000, 1000),
  ]);
  const [low, idle, high] = results;
  t.ok(Math.abs(low!.sent - 200) < 4 * Math.sqrt(200), `${low!.sent} ≈ 200`);
  t.equal(idle!.sent, 0);
  t.ok(Math.abs(high!.sent - 2000) < 4 * Math.sqrt(2000), `${high!.sent} ≈ 2000`);
  t.same(
    phaseStarts.map(([, at]) => at),
    [0, 2000, 3000],
  );
});

t.test("a late timer does not hide latency: it counts from the scheduled send", async (t) => {
  const clock = new FakeClock();
  const lateMs = 3;
  const late: Clock = {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms + lateMs),
  };
  const sends: number[] = [];
  const run = runOpenLoop({
    phases: [phase("measured", 5000, 20)],
    random: mulberry32(3),
    clock: late,
    send: () => {
      sends.push(clock.now());
      return new Promise<void>((resolve) => clock.setTimeout(resolve, 5));
    },
  });
  await clock.advance(10_000);
  const [m] = await run;
  t.ok(m!.sent > 50, `${m!.sent} sent`);
  t.ok(
    m!.latency.p50Ms >= 5 + lateMs - 0.01,
    `p50 ${m!.latency.p50Ms} ms includes the ${lateMs} ms the timer was late`,
  );
  t.ok(Math.abs(m!.maxSendLagMs - lateMs) < 0.01, `send lag ${m!.maxSendLagMs} ms`);
});

t.test("failures are counted by class, not recorded as latencies", async (t) => {
  const clock = new FakeClock();
  let n = 0;
  const run = runOpenLoop({
    phases: [phase("measured", 2000, 100)],
    random: mulberry32(5),
    clock,
    send: () => (n++ % 4 === 0 ? Promise.reject(new Error("UNAVAILABLE")) : Promise.resolve()),
    classifyError: (err) => (err as Error).message,
  });
  await clock.advance(3000);
  const [m] = await run;
  t.equal(m!.errors, Math.ceil(m!.sent / 4));
  t.same(m!.errorCounts, { UNAVAILABLE: m!.errors });
  t.equal(m!.answered + m!.errors, m!.sent);
});

t.test("progress ticks carry the interval's answers", async (t) => {
  const clock = new FakeClock();
  const ticks: { phase: string; answered: number }[] = [];
  const run = runOpenLoop({
    phases: [phase("measured", 3000, 200)],
    random: mulberry32(11),
    clock,
    send: () => new Promise<void>((resolve) => clock.setTimeout(resolve, 2)),
    onTick: (tick) => ticks.push({ phase: tick.phase, answered: tick.answered }),
  });
  await clock.advance(3500);
  const [m] = await run;
  t.equal(ticks.length, 3, "one a second");
  t.equal(
    ticks.reduce((s, x) => s + x.answered, 0),
    m!.answered - 0,
    "the ticks add up to the answers (all answered within the 3 s)",
  );
});

t.test(
  "answers are also counted by when they came: a backlog's answers fall in the phase they arrive in",
  async (t) => {
    // A server that answers one request at a time, 10 ms each, first come first served: 100/s,
    // behind an offer of 200/s. Its queue grows, so most requests sent in the measured second
    // are answered after it, and the answers inside it are what the server delivered then.
    const clock = new FakeClock();
    const start = clock.now();
    const sends: number[] = [];
    const answers: number[] = [];
    let freeAtMs = start;
    const run = runOpenLoop({
      phases: [phase("warm-up", 1000, 200, false), phase("measured", 1000, 200)],
      random: mulberry32(21),
      clock,
      send: () => {
        sends.push(clock.now() - start);
        freeAtMs = Math.max(freeAtMs, clock.now()) + 10;
        const doneMs = freeAtMs;
        return new Promise<void>((resolve) =>
          clock.setTimeout(() => {
            answers.push(clock.now() - start);
            resolve();
          }, doneMs - clock.now()),
        );
      },
    });
    await clock.advance(5000);
    const [m] = await run;
    const inWindow = (ms: number) => ms >= 1000 && ms < 2000;
    t.equal(m!.answered, sends.filter(inWindow).length, "answered: the window's requests, answered whenever");
    t.equal(
      m!.answeredInPhase,
      answers.filter(inWindow).length,
      "answeredInPhase: answers inside the window",
    );
    // Busy the whole second (the backlog never empties after the first few requests): 100 answers.
    t.equal(m!.answeredInPhase, 100);
    t.ok(m!.answered > 150, `${m!.answered} of the window's requests answered in the end`);
  },
);

t.test("answers after the last phase ends count in no phase", async (t) => {
  const clock = new FakeClock();
  const run = runOpenLoop({
    phases: [phase("measured", 1000, 100)],
    random: mulberry32(4),
    clock,
    send: () => new Promise<void>((resolve) => clock.setTimeout(resolve, 2000)),
  });
  await clock.advance(4000);
  const [m] = await run;
  t.ok(m!.answered > 50, `${m!.answered} answered`);
  t.equal(m!.answeredInPhase, 0, "every answer came 2 s after its request, past the 1 s phase");
});
