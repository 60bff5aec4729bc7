import { status } from "@grpc/grpc-js";
import t from "tap";
import type { ScoredItems } from "../../src/batching/batcher.js";
import { CallCancellation } from "../../src/util/cancel-signal.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { expectRows, opts, setup, track } from "../helpers/batcher-harness.js";
import { settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

t.test("delay bound: a partial batch leaves when its oldest item has waited maxQueueDelayMs", async (t) => {
  const { clock, batcher, ep, rec, metric } = setup({ maxQueueDelayMs: 2 });
  const d = docs("a", 0, 3);
  const r = track(batcher.submit("q", d, opts));
  await clock.advance(1);
  t.equal(ep.calls.length, 0, "not sent before the delay");
  const second = track(batcher.submit("q", docs("b", 0, 1), opts));
  await clock.advance(0.9);
  t.equal(ep.calls.length, 0, "still waiting at 1.9 ms");
  await clock.advance(0.1);
  t.same(ep.sizes, [4], "both requests leave together at 2 ms");
  t.same(rec.dispatched, [{ items: 4, trigger: "delay" }]);
  t.equal(await metric("batches_total", { trigger: "delay" }), 1);
  t.equal(await metric("batches_total", { trigger: "full" }), 0);
  t.equal(await metric("queue_wait_seconds", {}, "count"), 2, "one wait per request");
  t.ok(
    Math.abs((await metric("queue_wait_seconds", {}, "sum")) - (0.002 + 0.001)) < 1e-9,
    "the first waited 2 ms, the second 1 ms",
  );
  ep.calls[0]!.answer();
  await settle();
  expectRows(t, r.value, d);
  expectRows(t, second.value, docs("b", 0, 1));
});

t.test("size bound: a full batch leaves at once, without waiting for the delay", async (t) => {
  const { clock, batcher, ep, rec, metric } = setup({
    maxBatchSize: 4,
    maxQueueDelayMs: 100,
    maxConcurrentBatches: 3,
  });
  const d = docs("a", 0, 10);
  const r = track(batcher.submit("q", d, opts));
  await settle();
  t.same(ep.sizes, [4, 4], "two full batches sent immediately");
  t.same(
    rec.dispatched.map((x) => x.trigger),
    ["full", "full"],
  );
  await clock.advance(99);
  t.same(ep.sizes, [4, 4], "the rest waits for the delay");
  await clock.advance(1);
  t.same(ep.sizes, [4, 4, 2]);
  t.equal(await metric("batches_total", { trigger: "full" }), 2);
  t.equal(await metric("batches_total", { trigger: "delay" }), 1);
  t.equal(await metric("queue_wait_seconds", {}, "count"), 3, "one wait per segment sent");
  t.ok(
    Math.abs((await metric("queue_wait_seconds", {}, "sum")) - 0.1) < 1e-9,
    "0 ms, 0 ms, then 100 ms for the rest",
  );
  // Answer out of order: reassembly follows document order, not completion order.
  ep.calls[2]!.answer();
  ep.calls[0]!.answer();
  await settle();
  t.equal(r.settled, 0, "not answered before every part is back");
  ep.calls[1]!.answer();
  await settle();
  expectRows(t, r.value, d);
});

t.test("busy slots: a due batch keeps filling up to maxBatchSize while it waits", async (t) => {
  const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
  track(batcher.submit("q", docs("a", 0, 1), opts));
  await clock.advance(1);
  t.same(ep.sizes, [1]);
  for (let i = 0; i < 12; i++) track(batcher.submit("q", docs("b", i, 1), opts));
  await clock.advance(5);
  t.same(ep.sizes, [1], "slot busy: nothing else sent");
  ep.calls[0]!.answer();
  await settle();
  t.same(ep.sizes, [1, 8], "the waiting batch left full");
});

t.test("preferred sizes: the largest fillable preferred size leaves at once", async (t) => {
  const { clock, batcher, ep, rec, metric } = setup({
    maxBatchSize: 16,
    preferredBatchSizes: [4, 2],
    maxConcurrentBatches: 4,
    maxQueueDelayMs: 10,
  });
  track(batcher.submit("q", docs("a", 0, 1), opts));
  await settle();
  t.same(ep.sizes, [], "1 item: no preferred size fillable");
  track(batcher.submit("q", docs("b", 0, 2), opts));
  await settle();
  t.same(ep.sizes, [2], "3 items: the preferred size 2 leaves");
  track(batcher.submit("q", docs("c", 0, 9), opts));
  await settle();
  t.same(ep.sizes, [2, 4, 4, 2], "10 items: preferred sizes 4, 4, 2 at once, even though 16 would fit");
  t.same(
    rec.dispatched.map((d) => d.trigger),
    ["preferred", "preferred", "preferred", "preferred"],
  );
  t.equal(await metric("batches_total", { trigger: "preferred" }), 4);
  for (const c of ep.calls) c.answer();
  await settle();
  track(batcher.submit("q", docs("d", 0, 1), opts));
  await clock.advance(9.9);
  t.same(ep.sizes, [2, 4, 4, 2], "a lone item waits for its delay");
  await clock.advance(0.1);
  t.same(ep.sizes, [2, 4, 4, 2, 1], "then leaves as it is");
  t.equal(rec.dispatched.at(-1)?.trigger, "delay");
});

t.test("split and reassembly: many requests of many sizes each get their own scores", async (t) => {
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  const { clock, batcher, rec } = setup({ maxBatchSize: 7, maxConcurrentBatches: 2 }, [a, b]);
  const requests = [1, 13, 7, 2, 30, 5].map((n, k) => {
    const d = docs(`r${k}`, k * 100, n);
    return { d, state: track(batcher.submit(`q${k}`, d, { ...opts, requestId: `r${k}` })) };
  });
  for (let round = 0; round < 20; round++) {
    await clock.advance(2);
    for (const ep of [b, a]) for (const c of ep.calls.splice(0)) c.answer();
    await settle();
  }
  for (const { d, state } of requests) expectRows(t, state.value, d);
  t.same(
    Object.fromEntries(rec.answers),
    { r0: 1, r1: 1, r2: 1, r3: 1, r4: 1, r5: 1 },
    "each request answered once",
  );
  t.ok(
    [...a.sizes, ...b.sizes].every((s) => s <= 7),
    "no batch above maxBatchSize",
  );
});

t.test("batches never exceed the endpoint's own maxBatchSize", async (t) => {
  const ep = new ManualEndpoint("a", 3);
  const { batcher } = setup({ maxBatchSize: 8, maxConcurrentBatches: 10 }, [ep]);
  track(batcher.submit("q", docs("a", 0, 10), opts));
  await settle();
  t.same(ep.sizes, [3, 3, 3], "capped at 3; the remainder waits for its delay");
});

t.test(
  "deadline: queued items whose deadline passes are answered DEADLINE_EXCEEDED and never sent",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxQueueDelayMs: 0 });
    const first = track(batcher.submit("q", docs("a", 0, 2), { ...opts, requestId: "first" }));
    await settle();
    t.same(ep.sizes, [2], "slot taken");
    const late = track(
      batcher.submit("q", docs("b", 0, 3), { ...opts, requestId: "late", deadlineMs: clock.now() + 5 }),
    );
    await clock.advance(4.9);
    t.equal(late.settled, 0);
    await clock.advance(0.1);
    t.equal(late.error?.code, status.DEADLINE_EXCEEDED, "answered at its deadline");
    t.match(late.error?.message, /deadline exceeded waiting for backend student/);
    t.equal(rec.dropped.deadline, 3, "its items counted as dropped");
    t.equal(batcher.queuedItems, 0);
    ep.calls[0]!.answer();
    await clock.advance(10);
    t.same(ep.sizes, [2], "the expired items were never sent");
    expectRows(t, first.value, docs("a", 0, 2));
    t.same(Object.fromEntries(rec.answers), { first: 1, late: 1 }, "each answered once");
  },
);

t.test(
  "deadline: an in-flight batch carries its latest deadline and is aborted when all its requests are gone",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxQueueDelayMs: 0 });
    const r = track(batcher.submit("q", docs("a", 0, 2), { ...opts, deadlineMs: clock.now() + 5 }));
    await settle();
    t.equal(ep.calls[0]!.ctx.timeoutMs, 5, "backend call told the time left");
    await clock.advance(5);
    t.equal(r.error?.code, status.DEADLINE_EXCEEDED);
    t.ok(ep.calls[0]!.ctx.signal.aborted, "backend call aborted");
    ep.calls[0]!.answer();
    await settle();
    t.equal(batcher.inFlightBatches, 0, "the late answer has been taken in");
    t.equal(rec.answers.get("r"), 1, "and did not answer the request again");
  },
);

t.test(
  "deadline: a request whose deadline passes in flight fails alone; the call runs for those still waiting",
  async (t) => {
    const { clock, batcher, ep, rec } = setup({ maxQueueDelayMs: 1 });
    const soon = track(
      batcher.submit("q", docs("s", 0, 2), { ...opts, requestId: "soon", deadlineMs: clock.now() + 5 }),
    );
    const later = track(
      batcher.submit("q", docs("l", 0, 2), { ...opts, requestId: "later", deadlineMs: clock.now() + 50 }),
    );
    await clock.advance(1);
    t.same(ep.sizes, [4], "one batch carries both");
    t.equal(ep.calls[0]!.ctx.timeoutMs, 49, "the call may run until the later deadline");
    await clock.advance(4);
    t.equal(soon.error?.code, status.DEADLINE_EXCEEDED, "the first expires at its deadline");
    t.notOk(ep.calls[0]!.ctx.signal.aborted, "the call goes on: a request still waits for it");
    await clock.advance(15);
    ep.calls[0]!.answer();
    await settle();
    expectRows(t, later.value, docs("l", 0, 2));
    t.same(Object.fromEntries(rec.answers), { soon: 1, later: 1 }, "each answered once");
  },
);

t.test("deadline already passed at submit: rejected at once", async (t) => {
  const { clock, batcher, ep } = setup();
  const r = track(batcher.submit("q", docs("a", 0, 1), { ...opts, deadlineMs: clock.now() }));
  await settle();
  t.equal(r.error?.code, status.DEADLINE_EXCEEDED);
  t.same(ep.sizes, []);
});

for (const kind of ["AbortController", "CallCancellation"] as const) {
  t.test(
    `cancellation (${kind}): a cancelled request's queued items are dropped and it is answered CANCELLED`,
    async (t) => {
      const { clock, batcher, ep, rec } = setup({ maxQueueDelayMs: 0 });
      track(batcher.submit("q", docs("a", 0, 1), opts));
      await settle();
      const ac = kind === "AbortController" ? new AbortController() : new CallCancellation();
      const signal = ac instanceof AbortController ? ac.signal : ac;
      const r = track(batcher.submit("q", docs("b", 0, 4), { ...opts, signal }));
      const other = track(batcher.submit("q", docs("c", 0, 2), opts));
      ac.abort();
      await settle();
      t.equal(r.error?.code, status.CANCELLED);
      t.equal(rec.dropped.cancelled, 4);
      ep.calls[0]!.answer();
      await clock.advance(1);
      t.same(ep.calls[1]!.batch.documents, ["c#0", "c#1"], "only the live request's items were sent");
      ep.calls[1]!.answer();
      await settle();
      t.equal(other.settled, 1);
    },
  );
}

t.test("queue bound: a request that does not fit is rejected RESOURCE_EXHAUSTED at once", async (t) => {
  const { batcher, rec, metric } = setup({ maxQueueItems: 10, maxQueueDelayMs: 0 });
  track(batcher.submit("q", docs("a", 0, 1), opts)); // takes the only slot
  await settle();
  const fits = track(batcher.submit("q", docs("b", 0, 6), opts));
  const overflow = track(batcher.submit("q", docs("c", 0, 5), opts));
  await settle();
  t.equal(overflow.error?.code, status.RESOURCE_EXHAUSTED);
  t.match(overflow.error?.message, /queue full \(6 of 10 items waiting; request has 5 documents\)/);
  t.equal(fits.settled, 0, "the one that fitted is still queued");
  const exact = track(batcher.submit("q", docs("d", 0, 4), opts));
  await settle();
  t.equal(exact.settled, 0, "filling the queue exactly is allowed");
  t.same(rec.rejected, ["queue_full"]);
  t.equal(await metric("requests_rejected_total", { reason: "queue_full" }), 1);
});

t.test("priority: interactive items are dispatched before bulk items queued earlier", async (t) => {
  const { batcher, ep } = setup({ maxBatchSize: 2, maxQueueDelayMs: 0 });
  track(batcher.submit("q", docs("first", 0, 2), opts));
  await settle();
  track(batcher.submit("q", docs("bulk", 0, 2), { ...opts, priority: "bulk" }));
  track(batcher.submit("q", docs("inter", 0, 2), { ...opts, priority: "interactive" }));
  ep.calls[0]!.answer();
  await settle();
  t.same(ep.calls[1]!.batch.documents, ["inter#0", "inter#1"]);
  ep.calls[1]!.answer();
  await settle();
  t.same(ep.calls[2]!.batch.documents, ["bulk#0", "bulk#1"]);
});

t.test(
  "least-loaded: batches spread over endpoints and respect maxConcurrentBatches per endpoint",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const { batcher } = setup({ maxBatchSize: 1, maxConcurrentBatches: 2 }, [a, b]);
    track(batcher.submit("q", docs("x", 0, 6), opts));
    await settle();
    t.same([a.calls.length, b.calls.length], [2, 2], "two in flight on each, two still queued");
    t.equal(batcher.queuedItems, 2);
    b.calls[0]!.answer();
    await settle();
    t.same([a.calls.length, b.calls.length], [2, 3], "the freed slot on b is used");
    a.state = "not-ready";
    b.calls[1]!.answer();
    await settle();
    t.same([a.calls.length, b.calls.length], [2, 4], "not-ready endpoints are skipped");
  },
);

t.test(
  "backend error: every request in the failed batch gets that error; others are unaffected",
  async (t) => {
    const { batcher, ep } = setup({ maxBatchSize: 4, maxQueueDelayMs: 0, maxConcurrentBatches: 2 });
    const r1 = track(batcher.submit("q", docs("a", 0, 2), opts));
    const r2 = track(batcher.submit("q", docs("b", 0, 2), opts));
    await settle();
    t.same(ep.sizes, [2, 2]);
    ep.calls[0]!.fail(new GatewayError("BACKEND_UNAVAILABLE", "down"));
    ep.calls[1]!.answer();
    await settle();
    t.equal(r1.error?.code, status.UNAVAILABLE);
    t.equal(r1.error?.reason, "BACKEND_UNAVAILABLE");
    expectRows(t, r2.value, docs("b", 0, 2));
  },
);

t.test("no ready endpoint: rejected UNAVAILABLE at once", async (t) => {
  const { batcher, ep, rec, metric } = setup();
  ep.state = "not-ready";
  const r = track(batcher.submit("q", docs("a", 0, 1), opts));
  await settle();
  t.equal(r.error?.code, status.UNAVAILABLE);
  t.match(r.error?.message, /no ready endpoint \(ep-a not-ready\)/);
  t.same(rec.rejected, ["no_ready_endpoint"]);
  t.equal(await metric("requests_rejected_total", { reason: "no_ready_endpoint" }), 1);
  t.equal(await metric("requests_rejected_total", { reason: "queue_full" }), 0);
});

t.test("drain: queued work leaves without waiting for its delay; new work is refused", async (t) => {
  const { batcher, ep } = setup({ maxQueueDelayMs: 1000 });
  const r = track(batcher.submit("q", docs("a", 0, 3), opts));
  const drained = track(batcher.drain());
  await settle();
  t.same(ep.sizes, [3]);
  const refused = track(batcher.submit("q", docs("b", 0, 1), opts));
  await settle();
  t.equal(refused.error?.code, status.UNAVAILABLE);
  t.equal(drained.settled, 0, "not idle while a batch is in flight");
  ep.calls[0]!.answer();
  await settle();
  t.equal(r.settled, 1);
  t.equal(drained.settled, 1, "idle after the last answer");
});

t.test("abortAll answers queued and in-flight requests exactly once", async (t) => {
  const { batcher, ep, rec } = setup({ maxQueueDelayMs: 0, maxBatchSize: 2 });
  const inflight = track(batcher.submit("q", docs("a", 0, 2), { ...opts, requestId: "inflight" }));
  const queued = track(batcher.submit("q", docs("b", 0, 2), { ...opts, requestId: "queued" }));
  await settle();
  batcher.abortAll(new GatewayError("SHUTTING_DOWN", "bye"));
  await settle();
  t.equal(inflight.error?.reason, "SHUTTING_DOWN");
  t.equal(queued.error?.reason, "SHUTTING_DOWN");
  ep.calls[0]!.answer();
  await settle();
  t.equal(batcher.inFlightBatches, 0, "the late answer has been taken in");
  t.same(Object.fromEntries(rec.answers), { inflight: 1, queued: 1 }, "each answered once");
});

t.test("randomised: every request is answered exactly once, with its own scores or an error", async (t) => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const a = new ManualEndpoint("a", 5);
  const b = new ManualEndpoint("b");
  const { clock, batcher, rec } = setup(
    { maxBatchSize: 8, maxQueueItems: 200, maxConcurrentBatches: 2, preferredBatchSizes: [4] },
    [a, b],
  );
  const all: { d: string[]; state: ReturnType<typeof track<ScoredItems>> }[] = [];
  for (let step = 0; step < 400; step++) {
    const r = rand();
    if (r < 0.4) {
      const n = 1 + Math.floor(rand() * 20);
      const d = docs(`s${step}`, step * 1000, n);
      const ac = new AbortController();
      const deadlineMs = rand() < 0.3 ? clock.now() + rand() * 6 : undefined;
      all.push({
        d,
        state: track(
          batcher.submit("q", d, {
            ...opts,
            requestId: `s${step}`,
            priority: rand() < 0.5 ? "bulk" : "interactive",
            deadlineMs,
            signal: ac.signal,
          }),
        ),
      });
      if (rand() < 0.05) ac.abort();
    } else if (r < 0.8) {
      for (const ep of [a, b]) {
        const c = ep.calls.shift();
        if (!c) continue;
        if (rand() < 0.1) c.fail(new GatewayError("BACKEND_UNAVAILABLE", "x"));
        else c.answer();
      }
    } else {
      await clock.advance(rand() * 3);
    }
    await settle();
  }
  while (a.calls.length + b.calls.length > 0 || batcher.queuedItems > 0) {
    for (const ep of [a, b]) for (const c of ep.calls.splice(0)) c.answer();
    await clock.advance(5);
  }
  t.equal(rec.answers.size, all.length - rec.rejected.length, "every request admitted was answered");
  t.ok(
    [...rec.answers.values()].every((n) => n === 1),
    `each of the ${rec.answers.size} admitted requests answered once`,
  );
  t.ok(
    all.every((x) => x.state.settled === 1),
    "every request settled, admitted or not",
  );
  const succeeded = all.filter((x) => x.state.value !== undefined);
  t.ok(succeeded.length >= all.length / 2, `most requests succeeded (${succeeded.length} of ${all.length})`);
  for (const { d, state } of succeeded) expectRows(t, state.value, d);
  const codes = new Set(all.flatMap((x) => (x.state.error ? [status[x.state.error.code]] : [])));
  t.same(
    [...codes].filter(
      (c) => !["DEADLINE_EXCEEDED", "CANCELLED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"].includes(c!),
    ),
    [],
    `the others failed as the test made them fail (${[...codes].join(", ")})`,
  );
  t.ok([...a.sizes].every((s) => s <= 5) && [...b.sizes].every((s) => s <= 8), "caps respected");
  t.equal(batcher.queuedItems, 0);
});

t.test(
  "ties between idle endpoints alternate per batch sent, even when batches wait for their delay",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const { clock, batcher } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 }, [a, b]);
    for (let i = 0; i < 6; i++) {
      track(batcher.submit("q", docs(`r${i}`, 0, 1), opts));
      await clock.advance(1);
      for (const ep of [a, b]) for (const c of ep.calls) c.answer();
      await settle();
    }
    t.same([a.calls.length, b.calls.length], [3, 3], "three batches each");
  },
);
