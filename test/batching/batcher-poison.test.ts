import { status } from "@grpc/grpc-js";
import t from "tap";
import { RetryBudget } from "../../src/backends/resilience/retry-budget.js";
import { IsolationBudget } from "../../src/batching/isolation-budget.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { expectRows, opts, setup, track } from "../helpers/batcher-harness.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

const MARKER = "POISON";

/** What Triton's mapping makes of a Python backend raising on one input (see backends/triton/errors.ts). */
function rejection(endpoint: string): GatewayError {
  return new GatewayError(
    "BACKEND_ERROR",
    `backend student: triton on ${endpoint} failed with INTERNAL: Failed to process the request(s) for model ` +
      "instance 'relevance_student_0_0', message: ValueError: the tokenizer cannot encode the input",
    { inputRejection: true },
  );
}

/** `count` documents "<prefix>#<from+i>", with the marker in front of those at `poisoned` indices. */
function docsWith(prefix: string, from: number, count: number, poisoned: number[] = []): string[] {
  return docs(prefix, from, count).map((d, i) => (poisoned.includes(i) ? `${MARKER}${d}` : d));
}

/**
 * Answers every call of `endpoints` as a model server would: a call carrying
 * the marker (or any call, with `rejectAll`) is rejected, the others scored;
 * until no call is left.
 */
async function serve(endpoints: ManualEndpoint[], rejectAll = false): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const calls = endpoints.flatMap((ep) => ep.calls.splice(0).map((c) => ({ ep, c })));
    if (calls.length === 0) return;
    for (const { ep, c } of calls) {
      if (rejectAll || c.batch.documents.some((d) => d.startsWith(MARKER))) c.fail(rejection(ep.id));
      else c.answer();
    }
    await settle();
  }
  throw new Error("calls kept coming");
}

/** The per-batch allowance of isolation calls (see Batcher#isolate), computed independently. */
const cap = (items: number, requests: number) => 2 * Math.ceil(Math.log2(items)) + requests;

t.test("a rejected document fails only its request; its batch-mates are answered", async (t) => {
  const { clock, batcher, ep, rec, metric } = setup({ maxBatchSize: 32, maxQueueDelayMs: 1 });
  const sizes = [3, 5, 4, 4];
  const requests = sizes.map((n, k) => {
    const d = docsWith(`r${k}`, k * 100, n, k === 2 ? [3] : []);
    return { d, state: track(batcher.submit("q", d, { ...opts, requestId: `r${k}` })) };
  });
  await clock.advance(1);
  t.same(ep.sizes, [16], "one batch of the four requests");
  await serve([ep]);
  for (const k of [0, 1, 3]) expectRows(t, requests[k]!.state.value, requests[k]!.d);
  const poisoned = requests[2]!.state.error;
  t.equal(poisoned?.code, status.INVALID_ARGUMENT);
  t.equal(poisoned?.reason, "DOCUMENT_REJECTED");
  t.match(poisoned?.message, /^documents\[3\]: backend student cannot score this document; the model server/);
  t.match(
    poisoned?.message,
    /failed with INTERNAL: Failed to process the request/,
    "with the server's words",
  );
  t.same(ep.faults, [], "not counted against the endpoint");
  t.same(rec.inputRejections, ["isolated"]);
  t.equal(rec.poisonItems, 1);
  const extra = ep.received - 1;
  t.equal(rec.isolationCalls, extra, "every extra call the endpoint received is counted");
  t.ok(extra >= 2 && extra <= cap(16, 4), `${extra} extra calls, within the cap of ${cap(16, 4)}`);
  t.equal(await metric("poison_isolation_calls_total"), extra);
  t.equal(await metric("poison_items_total"), 1);
  t.equal(await metric("input_rejections_total", { outcome: "isolated" }), 1);
  t.same(
    [...rec.answers.values()],
    [1, 1, 1, 1],
    "each request answered once (a late answer would show here)",
  );
  t.equal(batcher.inFlightBatches, 0);
});

t.test("a lone request: the rejected document is found by halving its items", async (t) => {
  for (const index of [0, 6, 9]) {
    const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    const r = track(batcher.submit("q", docsWith("a", 0, 10, [index]), opts));
    await clock.advance(1);
    await serve([ep]);
    t.equal(r.error?.reason, "DOCUMENT_REJECTED");
    t.match(r.error?.message, new RegExp(`^documents\\[${index}\\]: `), `names documents[${index}]`);
    t.same(ep.faults, []);
    t.ok(
      rec.isolationCalls <= cap(10, 1),
      `${rec.isolationCalls} extra calls, within the cap of ${cap(10, 1)}`,
    );
  }
});

t.test("the index named is the one in the client's request, for a request split over batches", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 4, maxQueueDelayMs: 1, maxConcurrentBatches: 3 });
  const r = track(batcher.submit("q", docsWith("a", 0, 10, [6]), opts));
  await clock.advance(1);
  t.same(ep.sizes, [4, 4, 2], "three batches");
  await serve([ep]);
  t.equal(r.error?.reason, "DOCUMENT_REJECTED");
  t.match(r.error?.message, /^documents\[6\]: /);
});

t.test(
  "every part of the split rejected too: the endpoint is at fault, reported and retried elsewhere",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const clock = new FakeClock();
    const { batcher, rec, metric } = setup(
      {
        maxBatchSize: 16,
        maxQueueDelayMs: 1,
        clock,
        retryBudget: new RetryBudget({ percent: 100, minRetries: 10, windowMs: 10_000 }, clock),
      },
      [a, b],
    );
    const d1 = docs("x", 0, 3);
    const d2 = docs("y", 0, 2);
    const r1 = track(batcher.submit("q", d1, { ...opts, requestId: "x" }));
    const r2 = track(batcher.submit("q", d2, { ...opts, requestId: "y" }));
    await clock.advance(1);
    t.same([a.sizes, b.sizes], [[5], []], "the batch went to a");
    a.calls.shift()!.fail(rejection("a"));
    await settle();
    t.same(a.sizes, [3, 2], "split by request");
    for (const c of a.calls.splice(0)) c.fail(rejection("a"));
    await settle();
    t.same(a.sizes, [2, 1, 1, 1], "both rejected: each half split once more");
    t.same(a.faults, [], "not blamed after one round");
    for (const c of a.calls.splice(0)) c.fail(rejection("a"));
    await settle();
    t.equal(a.faults.length, 1, "one fault reported against a");
    t.equal(a.faults[0]?.reason, "BACKEND_ERROR", "the backend's error");
    t.same(rec.retried, ["a"], "retried on the other endpoint");
    t.same(b.sizes, [5]);
    b.calls.shift()!.answer();
    await settle();
    expectRows(t, r1.value, d1);
    expectRows(t, r2.value, d2);
    t.same(rec.inputRejections, ["endpoint_fault"]);
    t.equal(await metric("input_rejections_total", { outcome: "endpoint_fault" }), 1);
    t.equal(await metric("poison_isolation_calls_total"), 2 + 4);
    t.equal(await metric("poison_items_total"), 0);
  },
);

t.test(
  "an endpoint that failed a split is reported at once until it answers again; then poison is isolated again",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    const batch = async (tag: string, poisoned: number[] = []) => {
      const states = [0, 1].map((k) =>
        track(
          batcher.submit("q", docsWith(`${tag}${k}`, 0, 3, k === 1 ? poisoned : []), {
            ...opts,
            requestId: `${tag}${k}`,
          }),
        ),
      );
      await clock.advance(1);
      return states;
    };
    const sick = await batch("s");
    await serve([ep], true);
    t.equal(ep.received, 1 + 2 + 4, "the batch, its two halves and their halves");
    t.same(
      sick.map((s) => s.error?.reason),
      ["BACKEND_ERROR", "BACKEND_ERROR"],
      "requests fail with the backend's error",
    );
    t.equal(ep.faults.length, 1);

    const again = await batch("t");
    await serve([ep], true);
    t.equal(ep.received, 7 + 1, "no split this time");
    t.same(
      again.map((s) => s.error?.reason),
      ["BACKEND_ERROR", "BACKEND_ERROR"],
    );
    t.equal(ep.faults.length, 2, "reported at once");

    const healed = await batch("h");
    await serve([ep]);
    t.ok(
      healed.every((s) => s.value !== undefined),
      "the endpoint answers again",
    );
    const poison = await batch("p", [1]);
    await serve([ep]);
    t.ok(poison[0]!.value, "the clean request is answered");
    t.equal(poison[1]!.error?.reason, "DOCUMENT_REJECTED");
    t.equal(ep.faults.length, 2, "no new fault");
    t.same(rec.inputRejections, ["endpoint_fault", "endpoint_fault", "isolated"]);
  },
);

t.test("a batch of one document cannot be split: its rejection counts against the endpoint", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const r = track(batcher.submit("q", docsWith("a", 0, 1, [0]), opts));
  await clock.advance(1);
  await serve([ep]);
  t.equal(r.error?.reason, "BACKEND_ERROR", "the backend's error");
  t.equal(ep.received, 1, "no extra call");
  t.equal(ep.faults.length, 1);
  t.same(rec.inputRejections, ["endpoint_fault"]);
});

t.test(
  "the isolation budget bounds the extra calls: past it, requests fail with the backend's error",
  async (t) => {
    const clock = new FakeClock();
    const budgeted = setup({
      maxBatchSize: 16,
      maxQueueDelayMs: 1,
      clock,
      // Eight items in all: no share of the traffic.
      isolationBudget: new IsolationBudget({ percent: 0, minItems: 8, windowMs: 60_000 }, clock),
    });
    const b = budgeted.batcher;
    const clean = track(b.submit("q", docsWith("c", 0, 4), { ...opts, requestId: "c" }));
    const dirty = track(b.submit("q", docsWith("d", 0, 4, [2]), { ...opts, requestId: "d" }));
    await clock.advance(1);
    await serve([budgeted.ep]);
    expectRows(t, clean.value, docs("c", 0, 4));
    t.equal(dirty.error?.reason, "BACKEND_ERROR", "no call left to find the document");
    t.equal(budgeted.rec.isolationCalls, 2);
    t.same(budgeted.ep.faults, [], "not counted against the endpoint");

    const next = [0, 1].map((k) =>
      track(b.submit("q", docsWith(`n${k}`, 0, 3, k === 0 ? [0] : []), { ...opts, requestId: `n${k}` })),
    );
    await clock.advance(1);
    await serve([budgeted.ep]);
    t.same(
      next.map((s) => s.error?.reason),
      ["BACKEND_ERROR", "BACKEND_ERROR"],
      "a rejected batch fails as it is, without a split",
    );
    t.equal(budgeted.rec.isolationCalls, 2, "no call beyond the budget");
    t.same(budgeted.rec.inputRejections, ["budget_exhausted", "budget_exhausted"]);
    t.equal(await budgeted.metric("input_rejections_total", { outcome: "budget_exhausted" }), 2);
  },
);

t.test("deadlines and cancellation hold during a split; every request is answered once", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const ac = new AbortController();
  const clean = track(batcher.submit("q", docs("c", 0, 3), { ...opts, requestId: "c" }));
  const late = track(
    batcher.submit("q", docsWith("l", 0, 3, [1]), { ...opts, requestId: "l", deadlineMs: clock.now() + 10 }),
  );
  const gone = track(batcher.submit("q", docs("g", 0, 2), { ...opts, requestId: "g", signal: ac.signal }));
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  const probes = ep.calls.splice(0);
  t.same(
    probes.map((c) => c.batch.documents.length),
    [3, 5],
    "split into whole requests, about half the items each",
  );
  t.same(
    probes.map((c) => c.ctx.timeoutMs),
    [undefined, undefined],
    "each split call runs as long as one of its requests may wait (the cancellable one has no deadline)",
  );
  ac.abort();
  await clock.advance(9);
  t.equal(late.error?.code, status.DEADLINE_EXCEEDED, "answered at its deadline");
  t.equal(gone.error?.code, status.CANCELLED);
  t.ok(probes[1]!.ctx.signal.aborted, "the call whose requests have all gone is aborted");
  t.notOk(probes[0]!.ctx.signal.aborted);
  probes[1]!.fail(new GatewayError("CLIENT_CANCELLED", "aborted"));
  probes[0]!.answer();
  await settle();
  expectRows(t, clean.value, docs("c", 0, 3));
  await serve([ep]);
  t.same(Object.fromEntries(rec.answers), { c: 1, l: 1, g: 1 }, "one answer each");
  t.equal(batcher.inFlightBatches, 0);
  t.same(ep.faults, []);
});

t.test("a drain waits for a split to finish", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const r = track(batcher.submit("q", docs("c", 0, 2), { ...opts, requestId: "c" }));
  const p = track(batcher.submit("q", docsWith("p", 0, 2, [0]), { ...opts, requestId: "p" }));
  await clock.advance(1);
  const drained = track(batcher.drain());
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  t.equal(drained.settled, 0, "not idle while the split's calls are out");
  await serve([ep]);
  t.ok(r.value);
  t.equal(p.error?.reason, "DOCUMENT_REJECTED");
  t.equal(drained.settled, 1);
});

t.test(
  "a rejected half of several requests is searched as a whole: its clean requests are answered",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    const d = [docsWith("a", 0, 2, [1]), docsWith("b", 0, 2), docsWith("c", 0, 2), docsWith("d", 0, 2)];
    const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [4, 4], "two halves of two requests each");
    // The rejected half answers first: nothing is known yet about the endpoint.
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    ep.calls.shift()!.answer();
    await settle();
    await serve([ep]);
    t.equal(states[0]!.error?.reason, "DOCUMENT_REJECTED");
    t.match(states[0]!.error?.message, /^documents\[1\]: /);
    for (const k of [1, 2, 3]) expectRows(t, states[k]!.value, d[k]!);
    t.same(rec.inputRejections, ["isolated"]);
  },
);

t.test(
  "a rejected part whose poisoned request has gone meanwhile is tried again, not blamed on the others",
  async (t) => {
    const { clock, batcher, ep } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    const ac = new AbortController();
    const p = track(
      batcher.submit("q", docsWith("p", 0, 2, [0]), { ...opts, requestId: "p", signal: ac.signal }),
    );
    const c = track(batcher.submit("q", docsWith("c", 0, 1), { ...opts, requestId: "c" }));
    const others = [0, 1].map((k) =>
      track(batcher.submit("q", docsWith(`o${k}`, 0, 3), { ...opts, requestId: `o${k}` })),
    );
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [3, 6], "halves: the poisoned and the one-document request, and the two others");
    ep.calls.splice(1, 1)[0]!.answer();
    await settle();
    ac.abort(); // the poisoned request goes while its half's answer is on the way
    await settle();
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [1], "the request left is tried again on its own");
    await serve([ep]);
    t.equal(p.error?.code, status.CANCELLED);
    expectRows(t, c.value, docs("c", 0, 1));
    for (const [k, o] of others.entries()) expectRows(t, o.value, docs(`o${k}`, 0, 3));
  },
);

t.test(
  "two rejected halves on a lone endpoint answering nothing else: split once more before blaming it",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    // Two poisoned requests, one in each half, and no other endpoint to retry on.
    const d = [docsWith("p", 0, 2, [1]), docsWith("c", 0, 2), docsWith("q", 0, 2, [0]), docsWith("e", 0, 2)];
    const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [4, 4], "two halves of two requests each");
    for (const c of ep.calls.splice(0)) c.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [2, 2, 2, 2], "both rejected: each half split again, request by request");
    t.same(ep.faults, [], "not blamed yet");
    await serve([ep]);
    t.match(states[0]!.error?.message, /^documents\[1\]: /);
    t.match(states[2]!.error?.message, /^documents\[0\]: /);
    expectRows(t, states[1]!.value, d[1]!);
    expectRows(t, states[3]!.value, d[3]!);
    t.same(ep.faults, [], "never blamed on the endpoint");
    t.same(rec.inputRejections, ["isolated"]);
    // 2 + 4 for the two rounds of splits, then each poisoned request halved once.
    t.equal(rec.isolationCalls, 2 + 4 + 2);
    t.ok(rec.isolationCalls <= cap(8, 4), "within the per-batch allowance");
  },
);

t.test("two rejected halves while the endpoint answers other batches: the inputs are at fault", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 4, maxQueueDelayMs: 1, maxConcurrentBatches: 2 });
  const d = [docsWith("a", 0, 2, [0]), docsWith("b", 0, 2, [1])];
  const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
  const other = track(batcher.submit("q", docsWith("o", 0, 4), { ...opts, requestId: "o" }));
  await clock.advance(1);
  t.same(ep.sizes, [4, 4], "the poisoned batch and another");
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  // The endpoint answers the other batch while the halves are out.
  ep.calls.shift()!.answer();
  await settle();
  expectRows(t, other.value, docs("o", 0, 4));
  await serve([ep]);
  t.match(states[0]!.error?.message, /^documents\[0\]: /);
  t.match(states[1]!.error?.message, /^documents\[1\]: /);
  t.same(ep.faults, [], "not blamed on the endpoint");
  t.same(rec.inputRejections, ["isolated"]);
});

t.test(
  "a batch blamed on one endpoint and rejected alike by another: the inputs are at fault after all",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const clock = new FakeClock();
    const { batcher, rec } = setup(
      {
        maxBatchSize: 16,
        maxQueueDelayMs: 1,
        clock,
        retryBudget: new RetryBudget({ percent: 100, minRetries: 10, windowMs: 10_000 }, clock),
      },
      [a, b],
    );
    // Two poisoned one-document requests: no split can tell them from a sick endpoint.
    const d = [docsWith("p", 0, 1, [0]), docsWith("q", 0, 1, [0])];
    const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
    await clock.advance(1);
    await serve([a, b]);
    t.equal(a.faults.length, 1, "the first endpoint was blamed");
    t.same(rec.retried, ["a"]);
    t.same(b.faults, [], "the second was not");
    t.equal(a.received, 3, "the batch and its halves, which cannot be split again");
    t.equal(b.received, 3, "the retry, searched at once: split into its two requests");
    for (const s of states) {
      t.equal(s.error?.reason, "DOCUMENT_REJECTED");
      t.match(s.error?.message, /^documents\[0\]: /);
    }
    t.same(rec.inputRejections, ["endpoint_fault", "isolated"]);
  },
);

t.test("a one-document request rejected by two endpoints is rejected itself", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  const clock = new FakeClock();
  const { batcher } = setup(
    {
      maxBatchSize: 16,
      maxQueueDelayMs: 1,
      clock,
      retryBudget: new RetryBudget({ percent: 100, minRetries: 10, windowMs: 10_000 }, clock),
    },
    [a, b],
  );
  const r = track(batcher.submit("q", docsWith("p", 0, 1, [0]), opts));
  await clock.advance(1);
  await serve([a, b]);
  t.equal(r.error?.reason, "DOCUMENT_REJECTED");
  t.match(r.error?.message, /^documents\[0\]: /);
  t.equal(a.faults.length + b.faults.length, 1, "one endpoint blamed (the first), not both");
});

t.test("a rejected batch whose requests have all gone is not searched", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const ac = new AbortController();
  const r = track(batcher.submit("q", docsWith("p", 0, 2, [0]), { ...opts, signal: ac.signal }));
  await clock.advance(1);
  ac.abort();
  await settle();
  t.equal(r.error?.reason, "CLIENT_CANCELLED");
  // The model server rejected the batch before it saw the abort.
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  t.equal(batcher.inFlightBatches, 0, "the rejection was dealt with");
  t.equal(ep.received, 1, "no isolation call");
  t.same(rec.inputRejections, [], "no search to report on");
  t.same(ep.faults, []);
});

t.test("a rejected batch left with one live document is blamed on the endpoint", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const ac = new AbortController();
  track(batcher.submit("q", docsWith("g", 0, 1), { ...opts, requestId: "g", signal: ac.signal }));
  const p = track(batcher.submit("q", docsWith("p", 0, 1, [0]), { ...opts, requestId: "p" }));
  await clock.advance(1);
  ac.abort();
  await settle();
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  t.equal(p.error?.reason, "BACKEND_ERROR", "one document cannot be split");
  t.equal(ep.faults.length, 1);
  t.equal(rec.isolationCalls, 0);
  t.same(rec.inputRejections, ["endpoint_fault"]);
});

/** An endpoint whose client has no way to be told of a fault (reportFault is optional). */
function silentEndpoint(): ManualEndpoint {
  return Object.assign(new ManualEndpoint(), { reportFault: undefined });
}

t.test("an endpoint without reportFault: a rejection blamed on it still answers its requests", async (t) => {
  for (const [name, d, rejectAll] of [
    ["a lone document", docsWith("p", 0, 1, [0]), false],
    ["every part rejected", docsWith("s", 0, 4), true],
  ] as const) {
    const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 }, [silentEndpoint()]);
    const r = track(batcher.submit("q", [...d], opts));
    await clock.advance(1);
    await serve([ep], rejectAll);
    t.equal(r.error?.reason, "BACKEND_ERROR", name);
    t.same(rec.inputRejections, ["endpoint_fault"], name);
  }
});

t.test(
  "a part that fails otherwise while the other is rejected: nothing to conclude, each request gets its failure",
  async (t) => {
    const { clock, batcher, ep, rec, metric } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    const x = track(batcher.submit("q", docsWith("x", 0, 2, [0]), { ...opts, requestId: "x" }));
    const y = track(batcher.submit("q", docsWith("y", 0, 2), { ...opts, requestId: "y" }));
    await clock.advance(1);
    const first = rejection("ep-a");
    ep.calls.shift()!.fail(first);
    await settle();
    t.same(ep.sizes, [2, 2]);
    ep.calls.shift()!.fail(rejection("ep-a"));
    ep.calls.shift()!.fail(new GatewayError("BACKEND_UNAVAILABLE", "connection reset"));
    await settle();
    t.equal(y.error?.reason, "BACKEND_UNAVAILABLE", "its own failure");
    t.equal(x.error, first, "the batch's rejection");
    t.equal(ep.received, 3, "no further split");
    t.same(ep.faults, [], "not blamed on the endpoint");
    t.same(rec.inputRejections, ["inconclusive"]);
    t.equal(await metric("input_rejections_total", { outcome: "inconclusive" }), 1);
  },
);

t.test("no part answered and none rejected: inconclusive, not 'not reproduced'", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const x = track(batcher.submit("q", docsWith("x", 0, 2), { ...opts, requestId: "x" }));
  const y = track(batcher.submit("q", docsWith("y", 0, 2), { ...opts, requestId: "y" }));
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  for (const c of ep.calls.splice(0)) {
    c.fail(new GatewayError("BACKEND_UNAVAILABLE", "connection reset"));
  }
  await settle();
  t.same([x.error?.reason, y.error?.reason], ["BACKEND_UNAVAILABLE", "BACKEND_UNAVAILABLE"]);
  t.same(rec.inputRejections, ["inconclusive"]);
});

t.test("a part answered and the other failing otherwise: the rejection was not reproduced", async (t) => {
  const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const x = track(batcher.submit("q", docsWith("x", 0, 2), { ...opts, requestId: "x" }));
  const y = track(batcher.submit("q", docsWith("y", 0, 2), { ...opts, requestId: "y" }));
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  ep.calls.shift()!.answer();
  ep.calls.shift()!.fail(new GatewayError("BACKEND_UNAVAILABLE", "connection reset"));
  await settle();
  expectRows(t, x.value, docsWith("x", 0, 2));
  t.equal(y.error?.reason, "BACKEND_UNAVAILABLE");
  t.same(rec.inputRejections, ["not_reproduced"]);
});

t.test("every part of the split answered: the rejection was not reproduced", async (t) => {
  const { clock, batcher, ep, rec, metric } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const d = [docsWith("x", 0, 2), docsWith("y", 0, 3)];
  const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  await serve([ep]);
  for (const [k, s] of states.entries()) expectRows(t, s.value, d[k]!);
  t.same(rec.inputRejections, ["not_reproduced"]);
  t.equal(await metric("input_rejections_total", { outcome: "not_reproduced" }), 1);
  t.equal(rec.poisonItems, 0);
});

t.test("a rejected document's error carries the backend's rejection as its cause", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const r = track(batcher.submit("q", docsWith("p", 0, 4, [2]), opts));
  await clock.advance(1);
  const first = rejection("ep-a");
  ep.calls.shift()!.fail(first);
  await settle();
  await serve([ep]);
  t.equal(r.error?.reason, "DOCUMENT_REJECTED");
  t.equal(r.error?.cause, first);
});

t.test("a search may use its whole call allowance, and no more", async (t) => {
  for (const [name, size, poisoned, outcome] of [
    // 8 one-document requests, all but the first poisoned: 2 + 4 + 8 splits = cap(8, 8) = 14 calls.
    ["exactly the allowance", 1, [1, 2, 3, 4, 5, 6, 7], "isolated"],
    // 8 two-document requests, all but the first poisoned: the 14 split calls, then one more per
    // poisoned request to find its document: 21 calls, past cap(16, 8) = 16.
    ["past the allowance", 2, [1, 2, 3, 4, 5, 6, 7], "budget_exhausted"],
  ] as const) {
    const { clock, batcher, ep, rec } = setup({
      maxBatchSize: 8 * size,
      maxQueueDelayMs: 1,
      maxConcurrentBatches: 2,
    });
    const states = Array.from({ length: 8 }, (_, k) =>
      track(
        batcher.submit(
          "q",
          docsWith(`r${k}`, 0, size, (poisoned as readonly number[]).includes(k) ? [0] : []),
          {
            ...opts,
            requestId: `r${k}`,
          },
        ),
      ),
    );
    await clock.advance(1);
    const other = track(batcher.submit("q", docsWith("o", 0, 1), { ...opts, requestId: "o" }));
    await clock.advance(1);
    t.same(ep.sizes, [8 * size, 1], `${name}: the poisoned batch and another`);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    ep.calls.shift()!.answer(); // the other batch: the endpoint is healthy
    await settle();
    t.ok(other.value, name);
    await serve([ep]);
    const allowance = cap(8 * size, 8);
    t.ok(rec.isolationCalls <= allowance, `${name}: ${rec.isolationCalls} calls, within ${allowance}`);
    t.same(rec.inputRejections, [outcome], name);
    t.ok(states[0]!.value, `${name}: the clean request is answered`);
    const reasons = states.slice(1).map((s) => s.error?.reason);
    if (outcome === "isolated") {
      t.equal(rec.isolationCalls, allowance, `${name}: every call used`);
      t.ok(
        reasons.every((r) => r === "DOCUMENT_REJECTED"),
        `${name}: every poisoned request rejected`,
      );
    } else {
      t.ok(reasons.includes("BACKEND_ERROR"), `${name}: the requests left fail with the backend's error`);
    }
  }
});

t.test("retrying the requests left of a rejected part takes from the isolation budget", async (t) => {
  const clock = new FakeClock();
  const { batcher, ep, rec } = setup({
    maxBatchSize: 16,
    maxQueueDelayMs: 1,
    clock,
    // Exactly the items of the first split (9): nothing left for another call.
    isolationBudget: new IsolationBudget({ percent: 0, minItems: 9, windowMs: 60_000 }, clock),
  });
  const ac = new AbortController();
  track(batcher.submit("q", docsWith("p", 0, 2, [0]), { ...opts, requestId: "p", signal: ac.signal }));
  const c = track(batcher.submit("q", docsWith("c", 0, 1), { ...opts, requestId: "c" }));
  for (const k of [0, 1])
    track(batcher.submit("q", docsWith(`o${k}`, 0, 3), { ...opts, requestId: `o${k}` }));
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  t.same(ep.sizes, [3, 6]);
  ep.calls.splice(1, 1)[0]!.answer();
  await settle();
  ac.abort();
  await settle();
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  t.equal(ep.calls.length, 0, "no call to try the request left again");
  t.equal(c.error?.reason, "BACKEND_ERROR");
  t.same(rec.inputRejections, ["budget_exhausted"]);
});

t.test("halving a request's items takes only the left half's items from the budget", async (t) => {
  const clock = new FakeClock();
  const { batcher, ep, rec } = setup({
    maxBatchSize: 16,
    maxQueueDelayMs: 1,
    clock,
    // The split (10 items), then the left halves of [5, 10) and [8, 10): 3 and 1 items.
    isolationBudget: new IsolationBudget({ percent: 0, minItems: 14, windowMs: 60_000 }, clock),
  });
  const r = track(batcher.submit("q", docsWith("a", 0, 10, [9]), opts));
  await clock.advance(1);
  await serve([ep]);
  t.equal(r.error?.reason, "DOCUMENT_REJECTED");
  t.match(r.error?.message, /^documents\[9\]: /);
  t.same(rec.inputRejections, ["isolated"]);
});

t.test("a part answered while others are out: rejected parts are searched at once", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const d = [docsWith("a", 0, 2, [0]), docsWith("b", 0, 2), docsWith("c", 0, 2, [0]), docsWith("d", 0, 2)];
  const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  for (const c of ep.calls.splice(0)) c.fail(rejection("ep-a"));
  await settle();
  const quarter = (tag: string) =>
    ep.calls.splice(
      ep.calls.findIndex((c) => c.batch.documents[1] === `${tag}#1`),
      1,
    )[0]!;
  t.equal(ep.calls.length, 4, "one call per request");
  const [a, b, c, dd] = ["a", "b", "c", "d"].map(quarter);
  a!.fail(rejection("ep-a"));
  await settle();
  t.equal(ep.calls.length, 0, "nothing known yet");
  b!.answer();
  await settle();
  t.same(
    ep.calls.map((x) => x.batch.documents),
    [[`${MARKER}a#0`]],
    "b answered: a is searched without waiting for c and d",
  );
  c!.fail(rejection("ep-a"));
  await settle();
  t.same(
    ep.calls.map((x) => x.batch.documents),
    [[`${MARKER}a#0`], [`${MARKER}c#0`]],
    "c rejected after that: searched at once too",
  );
  dd!.answer();
  await serve([ep]);
  t.same(
    states.map((s) => s.error?.reason),
    ["DOCUMENT_REJECTED", undefined, "DOCUMENT_REJECTED", undefined],
  );
});

t.test(
  "confirmed by another batch's answer, a rejected half's search settles each request at once",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({
      maxBatchSize: 4,
      maxQueueDelayMs: 1,
      maxConcurrentBatches: 2,
    });
    const d = [docsWith("a", 0, 2, [0]), docsWith("b", 0, 2, [1])];
    const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
    track(batcher.submit("q", docsWith("o", 0, 4), { ...opts, requestId: "o" }));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    ep.calls.shift()!.answer();
    await settle();
    for (const c of ep.calls.splice(0)) c.fail(rejection("ep-a"));
    await settle();
    t.same(
      ep.calls.map((c) => c.batch.documents),
      [[`${MARKER}a#0`], ["b#0"]],
      "each request's left half",
    );
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.match(states[0]!.error?.message, /^documents\[0\]: /, "a settled while b's search is out");
    t.equal(states[1]!.settled, 0);
    await serve([ep]);
    t.match(states[1]!.error?.message, /^documents\[1\]: /);
    t.same(rec.inputRejections, ["isolated"]);
  },
);

t.test(
  "confirmed by another batch's answer, one-document parts are settled without further calls",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({
      maxBatchSize: 2,
      maxQueueDelayMs: 1,
      maxConcurrentBatches: 2,
    });
    const d = [docsWith("p", 0, 1, [0]), docsWith("q", 0, 1, [0])];
    const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
    track(batcher.submit("q", docsWith("o", 0, 2), { ...opts, requestId: "o" }));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    ep.calls.shift()!.answer();
    await settle();
    for (const c of ep.calls.splice(0)) c.fail(rejection("ep-a"));
    await settle();
    t.equal(ep.calls.length, 0);
    t.same(
      states.map((s) => s.error?.reason),
      ["DOCUMENT_REJECTED", "DOCUMENT_REJECTED"],
    );
    t.same(rec.inputRejections, ["isolated"], "the search is reported over");
  },
);

t.test("splits of requests sent over several batches halve the items the batch holds", async (t) => {
  {
    const { clock, batcher, ep } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    track(batcher.submit("q", docsWith("a", 0, 10, [7]), opts));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [5, 5], "a lone request: two halves");
  }
  {
    const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1, maxConcurrentBatches: 2 });
    track(batcher.submit("q", docsWith("a", 0, 16, [13]), opts));
    await clock.advance(1);
    ep.calls.shift()!.answer();
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(
      ep.calls.map((c) => c.batch.documents),
      [docs("a", 8, 4), docsWith("a", 12, 4, [1])],
      "items 8 to 15: 8 to 11 and 12 to 15",
    );
  }
  {
    const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1, maxConcurrentBatches: 2 });
    track(batcher.submit("q", docsWith("a", 0, 10), { ...opts, requestId: "a" }));
    track(batcher.submit("q", docsWith("b", 0, 3, [0]), { ...opts, requestId: "b" }));
    track(batcher.submit("q", docsWith("c", 0, 3), { ...opts, requestId: "c" }));
    await clock.advance(1);
    t.same(ep.sizes, [8, 8]);
    ep.calls.shift()!.answer();
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.same(ep.sizes, [5, 3], "a's last two items with b, then c: as even as request boundaries allow");
  }
  {
    const { clock, batcher, ep, rec } = setup({
      maxBatchSize: 8,
      maxQueueDelayMs: 1,
      maxConcurrentBatches: 2,
    });
    const r = track(batcher.submit("q", docsWith("a", 0, 9, [8]), opts));
    await clock.advance(1);
    ep.calls.shift()!.answer();
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.equal(r.error?.reason, "BACKEND_ERROR", "a batch of its ninth item alone cannot be split");
    t.equal(rec.isolationCalls, 0);
    t.equal(ep.faults.length, 1);
  }
});

t.test(
  "a request whose items come back from a retry in several parts still aborts its other batch when it goes",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const clock = new FakeClock();
    const { batcher } = setup(
      {
        maxBatchSize: 8,
        maxQueueDelayMs: 1,
        maxConcurrentBatches: 2,
        clock,
        retryBudget: new RetryBudget({ percent: 100, minRetries: 10, windowMs: 10_000 }, clock),
      },
      [a, b],
    );
    const ac = new AbortController();
    const r = track(batcher.submit("q", docs("x", 0, 12), { ...opts, signal: ac.signal }));
    await clock.advance(1);
    t.same([a.sizes, b.sizes], [[8], [4]]);
    const other = b.calls.shift()!;
    a.calls.shift()!.fail(rejection("a"));
    await settle();
    await serve([a], true); // every split rejected: a is at fault
    t.equal(a.faults.length, 1);
    t.same(b.sizes, [8], "the first batch's items, retried on b");
    b.calls.shift()!.answer();
    await settle();
    t.equal(r.settled, 0, "items 8 to 11 are still out");
    ac.abort();
    await settle();
    t.equal(r.error?.reason, "CLIENT_CANCELLED");
    t.ok(other.ctx.signal.aborted, "the batch still out is aborted");
  },
);

t.test("rejected parts whose requests have all gone meanwhile are not blamed on the endpoint", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
  const acs = [new AbortController(), new AbortController()];
  const states = acs.map((ac, k) =>
    track(batcher.submit("q", docsWith(`r${k}`, 0, 2), { ...opts, requestId: `r${k}`, signal: ac.signal })),
  );
  await clock.advance(1);
  ep.calls.shift()!.fail(rejection("ep-a"));
  await settle();
  t.same(ep.sizes, [2, 2]);
  for (const ac of acs) ac.abort();
  await settle();
  t.same(
    states.map((s) => s.error?.reason),
    ["CLIENT_CANCELLED", "CLIENT_CANCELLED"],
  );
  // Rejected all the same: the model server had them before the aborts.
  for (const c of ep.calls.splice(0)) c.fail(rejection("ep-a"));
  await settle();
  t.equal(batcher.inFlightBatches, 0, "the search is over");
  t.equal(ep.received, 3, "nothing left to split");
  t.same(ep.faults, [], "not blamed on the endpoint");
});

t.test(
  "no part answered and none rejected while the endpoint answers other batches: inconclusive",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({
      maxBatchSize: 4,
      maxQueueDelayMs: 1,
      maxConcurrentBatches: 2,
    });
    const d = [docsWith("x", 0, 2), docsWith("y", 0, 2)];
    const states = d.map((x, k) => track(batcher.submit("q", x, { ...opts, requestId: `r${k}` })));
    const other = track(batcher.submit("q", docsWith("o", 0, 4), { ...opts, requestId: "o" }));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    ep.calls.shift()!.answer();
    await settle();
    t.ok(other.value);
    for (const c of ep.calls.splice(0)) {
      c.fail(new GatewayError("BACKEND_UNAVAILABLE", "connection reset"));
    }
    await settle();
    t.same(
      states.map((s) => s.error?.reason),
      ["BACKEND_UNAVAILABLE", "BACKEND_UNAVAILABLE"],
    );
    t.same(rec.inputRejections, ["inconclusive"]);
  },
);

t.test(
  "a rejected part whose requests have gone, once the endpoint is known healthy, is not searched",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxBatchSize: 16, maxQueueDelayMs: 1 });
    const ac = new AbortController();
    const x = track(batcher.submit("q", docsWith("x", 0, 2), { ...opts, requestId: "x" }));
    track(batcher.submit("q", docsWith("y", 0, 2, [0]), { ...opts, requestId: "y", signal: ac.signal }));
    await clock.advance(1);
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    ep.calls.shift()!.answer();
    await settle();
    expectRows(t, x.value, docsWith("x", 0, 2));
    ac.abort();
    await settle();
    ep.calls.shift()!.fail(rejection("ep-a"));
    await settle();
    t.equal(batcher.inFlightBatches, 0, "the search is over");
    t.equal(ep.received, 3, "no call for a request that has gone");
    t.same(rec.inputRejections, ["not_reproduced"]);
  },
);
