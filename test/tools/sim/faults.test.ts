import { Registry } from "prom-client";
import t, { type Test } from "tap";
import {
  type FaultDecision,
  FaultHoldAborted,
  FaultInjector,
  type FaultSpec,
  faultCounter,
  type HoldOutcome,
  seededRandom,
  TRITON_MALFORMED_KINDS,
  VLLM_MALFORMED_KINDS,
  validateFaultSpec,
} from "../../../src/tools/sim/faults.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const injector = (spec?: FaultSpec, seed?: number, clock = new FakeClock()) =>
  new FaultInjector({
    malformedKinds: TRITON_MALFORMED_KINDS,
    clock,
    ...(spec ? { spec } : {}),
    ...(seed === undefined ? {} : { seed }),
  });

function tally(f: FaultInjector, n: number): Record<FaultDecision, number> {
  const out: Record<FaultDecision, number> = { error: 0, hang: 0, malformed: 0, reset: 0, ok: 0 };
  for (let i = 0; i < n; i++) out[f.decide()]++;
  return out;
}

const near = (t: Test, actual: number, expected: number, what: string) =>
  t.ok(Math.abs(actual - expected) <= 50, `${what}: ${actual} is within ${expected} ± 50`);

t.test("rates are shares of the decisions", (t) => {
  const f = injector({ errorRate: 0.3 });
  const one = tally(f, 1000);
  near(t, one.error, 300, "errorRate 0.3");
  t.equal(one.error + one.ok, 1000);

  f.set({ errorRate: 0.1, hangRate: 0.2, malformedRate: 0.3, resetRate: 0.15 });
  const mix = tally(f, 1000);
  near(t, mix.error, 100, "error");
  near(t, mix.hang, 200, "hang");
  near(t, mix.malformed, 300, "malformed");
  near(t, mix.reset, 150, "reset");
  near(t, mix.ok, 250, "ok");

  t.same(tally(injector({}), 200).ok, 200, "no spec: every call is ok");
  t.same(tally(injector({ resetRate: 1 }), 200).reset, 200, "rate 1: every call");
  t.end();
});

t.test("decisions are reproducible from the seed, and set() restarts them", (t) => {
  const spec = { errorRate: 0.25, hangRate: 0.25, malformedRate: 0.25 };
  const run = (f: FaultInjector) => Array.from({ length: 64 }, () => f.decide());
  const a = injector(spec, 7);
  const first = run(a);
  t.same(run(injector(spec, 7)), first, "same seed, same sequence");
  t.not(run(injector(spec, 8)).join(), first.join(), "another seed, another sequence");
  t.not(run(a).join(), first.join(), "the sequence moves on");
  a.set(spec);
  t.same(run(a), first, "set() starts again from the seed");
  t.same(
    Array.from({ length: 3 }, seededRandom(1)),
    Array.from({ length: 3 }, seededRandom(1)),
    "the PRNG itself is deterministic",
  );
  t.end();
});

t.test("counts by kind, with latency counted per delayed call", (t) => {
  const f = injector({ errorRate: 1, addedLatencyMs: 5 });
  tally(f, 10);
  f.set({ hangRate: 1 });
  tally(f, 3);
  t.same(f.counts(), {
    error: 10,
    hang: 3,
    malformed: 0,
    reset: 0,
    latency: 10,
    slow: 0,
    poison: 0,
    internal: 0,
  });
  t.end();
});

t.test("current(), clear() and the malformed kind", (t) => {
  const f = injector({ malformedRate: 0.5, addedLatencyMs: 20 });
  t.same(f.current(), { malformedRate: 0.5, addedLatencyMs: 20 });
  t.equal(f.addedLatencyMs, 20);
  t.equal(f.malformed, "missing-output", "the sim's first kind is the default");
  f.set({ malformed: "short-raw" });
  t.equal(f.malformed, "short-raw");
  f.clear();
  t.same(f.current(), {});
  t.equal(f.addedLatencyMs, 0);
  t.throws(() => f.set({ hangRate: 2 }), { name: "RangeError", message: /hangRate: must be a number/ });
  t.same(f.current(), {}, "a rejected spec changes nothing");
  t.throws(() => new FaultInjector({ malformedKinds: VLLM_MALFORMED_KINDS, seed: 1.5 }), /faultSeed/);
  t.end();
});

t.test("validation names the field", (t) => {
  const v = (raw: unknown) => validateFaultSpec(raw, VLLM_MALFORMED_KINDS);
  t.same(v({}), {});
  t.same(v({ errorRate: 0, hangRate: 1, addedLatencyMs: 0, malformed: "missing-items" }), {
    errorRate: 0,
    hangRate: 1,
    addedLatencyMs: 0,
    malformed: "missing-items",
  });
  t.equal(v([]), "fault spec: expected a JSON object");
  t.equal(v(null), "fault spec: expected a JSON object");
  t.match(v({ errorrate: 0.1 }), /^errorrate: unknown field \(expected one of errorRate, /);
  t.equal(v({ errorRate: 1.5 }), "errorRate: must be a number from 0 to 1, got 1.5");
  t.equal(v({ hangRate: -0.1 }), "hangRate: must be a number from 0 to 1, got -0.1");
  t.equal(v({ resetRate: "0.1" }), 'resetRate: must be a number from 0 to 1, got "0.1"');
  t.equal(v({ malformedRate: null }), "malformedRate: must be a number from 0 to 1, got null");
  t.match(v({ malformedRate: Number.NaN }), /^malformedRate: must be a number/);
  t.equal(
    v({ errorRate: 0.6, resetRate: 0.6 }),
    "errorRate + hangRate + malformedRate + resetRate: must add up to at most 1, got 1.2",
  );
  t.match(v({ addedLatencyMs: -1 }), /^addedLatencyMs: must be a number from 0 to \d+, got -1$/);
  t.match(v({ addedLatencyMs: 1e12 }), /^addedLatencyMs: must be a number from 0 to/);
  t.equal(
    v({ malformed: "short-raw" }),
    'malformed: must be one of "bad-json", "wrong-shape", "missing-items", got "short-raw"',
  );
  t.match(validateFaultSpec({ malformed: "short-raw" }, TRITON_MALFORMED_KINDS), { malformed: "short-raw" });
  t.match(v({ malformed: 3 }), /^malformed: must be one of/);
  t.end();
});

t.test(
  "holds: latency runs out, set/clear releases, close aborts, a dropped hold stays silent",
  async (t) => {
    const clock = new FakeClock();
    const f = injector({}, 1, clock);
    const seen: string[] = [];
    const note = (name: string) => (outcome: HoldOutcome) => seen.push(`${name}:${outcome}`);

    f.hold(10, note("latency"));
    f.hold(Number.POSITIVE_INFINITY, note("hang"));
    const drop = f.hold(Number.POSITIVE_INFINITY, note("dropped"));
    t.equal(f.held, 3);
    await clock.advance(9);
    t.same(seen, []);
    await clock.advance(1);
    t.same(seen, ["latency:go"]);
    drop();
    f.clear();
    await clock.advance(0);
    t.same(seen, ["latency:go", "hang:go"], "clear() releases the hang; the dropped hold never answers");
    t.equal(f.held, 0);

    f.hold(Number.POSITIVE_INFINITY, note("second"));
    f.set({ errorRate: 0.5 });
    await clock.advance(0);
    t.same(seen.at(-1), "second:go", "replacing the spec releases too");

    f.hold(Number.POSITIVE_INFINITY, note("at-close"));
    f.hold(1000, note("slow"));
    f.close();
    await clock.advance(0);
    t.same(seen.slice(-2), ["at-close:aborted", "slow:aborted"]);
    f.hold(5, note("late"));
    await clock.advance(0);
    t.same(seen.at(-1), "late:aborted", "after close, holds abort at once");
    t.equal(clock.pendingTimers, 0, "no timer is left behind");
  },
);

t.test("a hang decided under a spec that is gone is not held", async (t) => {
  const f = injector({ hangRate: 1 });
  const generation = f.generation;
  f.clear();
  t.not(f.generation, generation);
  const seen: HoldOutcome[] = [];
  f.hold(Number.POSITIVE_INFINITY, (o) => seen.push(o), generation);
  await new Promise((r) => setImmediate(r));
  t.same(seen, ["go"]);
  t.equal(f.held, 0);
});

t.test("wait(): resolves on release, rejects on abort and on close", async (t) => {
  const clock = new FakeClock();
  const f = injector({}, 1, clock);
  const released = f.wait(Number.POSITIVE_INFINITY, new AbortController().signal);
  f.clear();
  await t.resolves(released);

  const ac = new AbortController();
  const aborted = f.wait(Number.POSITIVE_INFINITY, ac.signal);
  ac.abort(new Error("client gone"));
  await t.rejects(aborted, { message: "client gone" });
  t.equal(f.held, 0);

  const closing = f.wait(50, new AbortController().signal);
  f.close();
  await t.rejects(closing, FaultHoldAborted);
});

t.test("sim_injected_faults_total has every kind from the start", async (t) => {
  const registry = new Registry();
  const inc = faultCounter(registry);
  const f = new FaultInjector({ malformedKinds: TRITON_MALFORMED_KINDS, onInjected: inc });
  f.set({ resetRate: 1 });
  f.decide();
  const text = await registry.metrics();
  for (const kind of ["error", "hang", "malformed", "latency"]) {
    t.match(text, `sim_injected_faults_total{kind="${kind}"} 0`);
  }
  t.match(text, 'sim_injected_faults_total{kind="reset"} 1');
});

t.test("slowRate: an even, deterministic share of calls delayed by slowMs on top of added latency", (t) => {
  const f = injector({ slowRate: 0.7, slowMs: 4000, addedLatencyMs: 5 });
  const delays = Array.from({ length: 20 }, () => f.delayMs());
  // By hand: the accumulator gains 0.7 per call; a call reaching 1 is slow and takes 1 off.
  const S = 4005;
  const N = 5;
  t.same(delays, [N, S, S, N, S, S, N, S, S, S, N, S, S, N, S, S, N, S, S, S]);
  let run = 0;
  let longest = 0;
  for (const d of delays) {
    run = d === S ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  t.equal(longest, 3, "never more than three slow calls in a row at 0.7");
  t.equal(f.counts().slow, 14);
  f.set({ slowRate: 0.7, slowMs: 4000 });
  t.same(
    Array.from({ length: 4 }, () => f.delayMs()),
    [0, 4000, 4000, 0],
    "set() restarts the accumulator",
  );
  f.set({ slowRate: 1, slowMs: 10 });
  t.same(
    Array.from({ length: 3 }, () => f.delayMs()),
    [10, 10, 10],
  );
  f.clear();
  t.equal(f.delayMs(), 0);
  t.end();
});

t.test("slowRate validation names the field", (t) => {
  const v = (raw: unknown) => validateFaultSpec(raw, TRITON_MALFORMED_KINDS);
  t.same(v({ slowRate: 0.7, slowMs: 4000 }), { slowRate: 0.7, slowMs: 4000 });
  t.same(
    v({ slowRate: 0.7, slowMs: 1, errorRate: 1 }),
    { errorRate: 1, slowRate: 0.7, slowMs: 1 },
    "not a band",
  );
  t.equal(v({ slowRate: 1.5, slowMs: 1 }), "slowRate: must be a number from 0 to 1, got 1.5");
  t.match(v({ slowRate: 0.5, slowMs: -1 }), /^slowMs: must be a number from 0 to \d+, got -1$/);
  t.equal(v({ slowRate: 0.5 }), "slowMs: required with slowRate");
  t.end();
});

t.test("poisonMarker and failAll: validated, decided before any draw, counted", (t) => {
  const v = (raw: unknown) => validateFaultSpec(raw, VLLM_MALFORMED_KINDS);
  t.same(v({ poisonMarker: "BAD", failAll: false }), { poisonMarker: "BAD", failAll: false });
  t.match(v({ poisonMarker: "" }), /^poisonMarker: must be a string of 1 to 1024 characters, got ""$/);
  t.match(v({ poisonMarker: 7 }), /^poisonMarker: must be a string/);
  t.match(v({ poisonMarker: "x".repeat(1025) }), /^poisonMarker: must be a string of 1 to 1024/);
  t.equal(v({ failAll: "yes" }), 'failAll: must be true or false, got "yes"');

  const spec = { errorRate: 0.5, poisonMarker: "BAD" };
  const injector = new FaultInjector({ malformedKinds: VLLM_MALFORMED_KINDS, seed: 9, spec });
  const oracle = new FaultInjector({
    malformedKinds: VLLM_MALFORMED_KINDS,
    seed: 9,
    spec: { errorRate: 0.5 },
  });
  const fates: string[] = [];
  const want: string[] = [];
  for (let i = 0; i < 20; i++) {
    const poisoned = i % 3 === 0;
    const fault = injector.inputFault(poisoned ? ["fine", "a BAD one"] : ["fine", "also fine"]);
    if (poisoned) {
      fates.push(fault ?? "none");
      want.push("poison");
    } else {
      t.equal(fault, undefined);
      fates.push(injector.decide());
      want.push(oracle.decide());
    }
  }
  t.same(fates, want, "poisoned calls draw nothing: the other calls meet the fates they would without them");
  t.match(injector.counts(), { poison: 7, internal: 0 });

  injector.set({ failAll: true, poisonMarker: "BAD" });
  t.equal(injector.inputFault(["BAD"]), "poison", "a poisoned call is poison even on a sick server");
  t.equal(injector.inputFault(["ok"]), "internal");
  t.match(injector.counts(), { poison: 8, internal: 1 });
  t.end();
});
