import t from "tap";
import { RetryBudget } from "../../src/backends/resilience/retry-budget.js";
import type { BatchTrace, CallTrace, RequestTrace } from "../../src/tracing/request-trace.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

/** A request's trace that records which batches it led and how they ended. */
class RecordingTrace implements RequestTrace {
  readonly batches: { items: number; ends: (GatewayError | undefined)[] }[] = [];
  constructor(
    readonly name: string,
    readonly recording: boolean,
  ) {}
  queueEntered(): void {}
  queueLeft(): void {}
  startBatch(_backend: string, items: number): BatchTrace {
    const batch = { items, ends: [] as (GatewayError | undefined)[] };
    this.batches.push(batch);
    const call: CallTrace = {
      headers: { traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01` },
      end() {},
    };
    return {
      addRequest() {},
      startCall: () => call,
      end: (error) => {
        batch.ends.push(error);
      },
    };
  }
  end(): void {}
}

const rejection = () =>
  new GatewayError("BACKEND_ERROR", "the tokenizer cannot encode the input", {
    inputRejection: true,
  });

t.test(
  "a batch joins the trace of its first recording request, else the first one passing a context on",
  async (t) => {
    for (const [name, recording, lead] of [
      ["a recording trace", [false, true, true], 1],
      ["no recording trace", [false, false], 0],
    ] as const) {
      const { clock, batcher } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
      track(batcher.submit("q", docs("u", 0, 1), { ...opts, requestId: "untraced" }));
      const traces = recording.map((r, k) => new RecordingTrace(`t${k}`, r));
      for (const trace of traces) track(batcher.submit("q", docs(trace.name, 0, 1), { ...opts, trace }));
      await clock.advance(1);
      t.same(
        traces.map((x) => x.batches.length),
        traces.map((_, k) => (k === lead ? 1 : 0)),
        `${name}: led by t${lead}`,
      );
    }
  },
);

t.test("a rejected batch's span ends once, with the outcome of its search", async (t) => {
  const cases = [
    // Both halves answered: the batch was fine after all.
    { name: "not reproduced", poisoned: false, rejectAll: false, ok: true },
    // A document found: the batch failed with the rejection.
    { name: "isolated", poisoned: true, rejectAll: false, ok: false },
    // Every part rejected, no other endpoint: the batch failed with it.
    { name: "endpoint at fault", poisoned: false, rejectAll: true, ok: false },
  ];
  for (const c of cases) {
    const { clock, batcher, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 1 });
    const trace = new RecordingTrace("t", true);
    track(batcher.submit("q", docs("x", 0, 2), { ...opts, requestId: "x", trace }));
    track(
      batcher.submit("q", c.poisoned ? ["POISON#1", "y#2"] : docs("y", 0, 2), { ...opts, requestId: "y" }),
    );
    await clock.advance(1);
    const first = rejection();
    ep.calls.shift()!.fail(first);
    for (let round = 0; round < 10 && ep.calls.length + ep.received > 0; round++) {
      await settle();
      for (const call of ep.calls.splice(0)) {
        if (c.rejectAll || call.batch.documents.some((d) => d.startsWith("POISON"))) call.fail(rejection());
        else call.answer();
      }
    }
    await settle();
    t.equal(batcher.inFlightBatches, 0, `${c.name}: over`);
    t.equal(trace.batches.length, 1, `${c.name}: one batch span`);
    t.same(trace.batches[0]?.ends, [c.ok ? undefined : first], `${c.name}: ended once`);
  }
});

t.test(
  "a batch blamed on its endpoint and retried elsewhere: its span ends once, with the retry",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const clock = new FakeClock();
    const { batcher } = setup(
      {
        maxBatchSize: 8,
        maxQueueDelayMs: 1,
        clock,
        retryBudget: new RetryBudget({ percent: 100, minRetries: 10, windowMs: 10_000 }, clock),
      },
      [a, b],
    );
    const trace = new RecordingTrace("t", true);
    const x = track(batcher.submit("q", docs("x", 0, 2), { ...opts, trace }));
    await clock.advance(1);
    for (let round = 0; round < 3; round++) {
      for (const call of a.calls.splice(0)) call.fail(rejection());
      await settle();
    }
    t.equal(a.faults.length, 1, "a blamed");
    b.calls.shift()!.answer();
    await settle();
    t.ok(x.value);
    t.same(trace.batches[0]?.ends, [undefined], "ended by the retry's answer only");
  },
);
