import t from "tap";
import { type EngineSeq, VllmScheduler, validateVllmCost } from "../../../../src/tools/sim/vllm/scheduler.js";
import { FakeClock } from "../../../helpers/fake-clock.js";

interface Probe extends EngineSeq {
  events: string[];
}

function seq(promptTokens: number, priority = 0): Probe {
  const events: string[] = [];
  return {
    promptTokens,
    priority,
    events,
    onStart: () => events.push("start"),
    onDone: () => events.push("done"),
    onAbort: () => events.push("abort"),
  };
}

const cost = { stepMs: 10, perSeqMs: 1, prefillMsPerToken: 0.5 };

t.test("a step costs stepMs + perSeqMs × sequences + prefillMsPerToken × tokens", async (t) => {
  const clock = new FakeClock();
  const engine = new VllmScheduler(clock, () => cost, { maxNumSeqs: 4, maxNumBatchedTokens: 1000 });
  const a = seq(100);
  const b = seq(20);
  engine.submit(a);
  engine.submit(b);
  t.equal(engine.waiting, 2, "arrivals wait for the next step");
  await clock.advance(0);
  t.same([engine.running, engine.waiting], [2, 0], "they share the first step");
  // 10 + 1 × 2 + 0.5 × 120 = 72 ms.
  await clock.advance(71);
  t.same([a.events, b.events], [["start"], ["start"]]);
  await clock.advance(1);
  t.same(
    [a.events, b.events],
    [
      ["start", "done"],
      ["start", "done"],
    ],
  );
  t.equal(engine.running, 0);
  t.equal(clock.pendingTimers, 0, "idle engine holds no timer");
});

t.test("max_num_seqs caps the running batch; the rest wait in FIFO order", async (t) => {
  const clock = new FakeClock();
  const engine = new VllmScheduler(clock, () => cost, { maxNumSeqs: 2, maxNumBatchedTokens: 1000 });
  const seqs = [1, 2, 3, 4, 5].map(() => seq(10));
  for (const s of seqs) engine.submit(s);
  await clock.advance(0);
  t.same([engine.running, engine.waiting], [2, 3]);
  t.same(
    seqs.map((s) => s.events.length),
    [1, 1, 0, 0, 0],
  );
  await clock.advance(1000);
  t.ok(seqs.every((s) => s.events.join() === "start,done"));
  t.equal(engine.maxRunningSeen, 2);
});

t.test("waiting sequences are admitted lowest priority first, in arrival order within one", async (t) => {
  const clock = new FakeClock();
  // One sequence at a time, each done in one step: the order they start is the order they are admitted.
  const engine = new VllmScheduler(clock, () => cost, { maxNumSeqs: 1, maxNumBatchedTokens: 1000 });
  const order: string[] = [];
  const submit = (name: string, priority: number) => {
    engine.submit({ ...seq(10, priority), onStart: () => order.push(name) });
  };
  submit("first", 5);
  await clock.advance(0); // "first" runs; the rest wait behind it
  submit("bulk-1", 1);
  submit("background", 2);
  submit("bulk-2", 1);
  submit("interactive", 0);
  submit("urgent", -1);
  await clock.advance(1000);
  t.same(order, ["first", "urgent", "interactive", "bulk-1", "bulk-2", "background"]);
});

t.test("chunked prefill spreads a long prompt over steps within the token budget", async (t) => {
  const clock = new FakeClock();
  const engine = new VllmScheduler(clock, () => ({ stepMs: 1, perSeqMs: 0, prefillMsPerToken: 0 }), {
    maxNumSeqs: 8,
    maxNumBatchedTokens: 100,
  });
  const long = seq(250);
  const short = seq(10);
  engine.submit(long);
  engine.submit(short);
  await clock.advance(0);
  t.same([engine.running, engine.waiting], [1, 1], "no budget left to admit the second");
  await clock.advance(1);
  t.same([engine.running, engine.waiting], [1, 1], "still prefilling: 100 of 250");
  await clock.advance(1);
  t.same([engine.running, engine.waiting], [2, 0], "50 tokens left, the short one joins");
  await clock.advance(1);
  t.same(
    [long.events, short.events],
    [
      ["start", "done"],
      ["start", "done"],
    ],
  );
});

t.test("cancel frees a waiting or running sequence without callbacks", async (t) => {
  const clock = new FakeClock();
  const engine = new VllmScheduler(clock, () => cost, { maxNumSeqs: 1, maxNumBatchedTokens: 1000 });
  const a = seq(10);
  const b = seq(10);
  const ta = engine.submit(a);
  const tb = engine.submit(b);
  await clock.advance(0);
  t.same([engine.running, engine.waiting], [1, 1]);
  tb.cancel();
  t.same([engine.running, engine.waiting], [1, 0]);
  ta.cancel();
  t.equal(engine.running, 0);
  await clock.advance(1000);
  t.same([a.events, b.events], [["start"], []]);
});

t.test("close aborts everything, later submissions at once", async (t) => {
  const clock = new FakeClock();
  const engine = new VllmScheduler(clock, () => cost, { maxNumSeqs: 1, maxNumBatchedTokens: 1000 });
  const a = seq(10);
  const b = seq(10);
  engine.submit(a);
  engine.submit(b);
  await clock.advance(0);
  engine.close();
  t.same([a.events, b.events], [["start", "abort"], ["abort"]]);
  const c = seq(1);
  engine.submit(c);
  t.same(c.events, ["abort"]);
  t.equal(clock.pendingTimers, 0);
});

t.test("cost and limits are validated", async (t) => {
  t.throws(() => validateVllmCost({ ...cost, stepMs: -1 }), RangeError);
  t.throws(() => validateVllmCost({ ...cost, perSeqMs: Number.NaN }), RangeError);
  t.throws(() => new VllmScheduler(new FakeClock(), () => cost, { maxNumSeqs: 0, maxNumBatchedTokens: 1 }));
});
