import t from "tap";
import { RetryBudget } from "../../src/backends/resilience/retry-budget.js";
import type { BatchTrace, CallTrace, RequestTrace } from "../../src/tracing/request-trace.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { setup, track } from "../helpers/batcher-harness.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

/** A RequestTrace that writes what the batcher tells it to a shared log. */
class LoggedTrace implements RequestTrace {
  constructor(
    readonly name: string,
    readonly recording: boolean,
    readonly log: string[],
  ) {}
  queueEntered(backend: string, items: number): void {
    this.log.push(`${this.name} queued ${items} on ${backend}`);
  }
  queueLeft(): void {
    this.log.push(`${this.name} left the queue`);
  }
  startBatch(backend: string, items: number, trigger: string): BatchTrace {
    const log = this.log;
    log.push(`batch of ${items} (${trigger}) on ${backend} under ${this.name}`);
    return {
      addRequest: (r) => log.push(`batch carries ${(r as LoggedTrace | undefined)?.name}`),
      startCall(endpoint, attempt, n): CallTrace {
        log.push(`call ${attempt} to ${endpoint} with ${n}`);
        return {
          headers: { traceparent: `tp-${attempt}` },
          end: (e) => log.push(`call ${attempt} ended ${e?.reason ?? "ok"}`),
        };
      },
      end: (e) => log.push(`batch ended ${e?.reason ?? "ok"}`),
    };
  }
  end(): void {}
}

const opts = (trace: RequestTrace | undefined) => ({
  requestId: "r",
  priority: "interactive" as const,
  trace,
});

t.test("two requests, one batch: queue wait each, one batch under the first, one call", async (t) => {
  const log: string[] = [];
  const { batcher, clock, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  const a = track(batcher.submit("q", docs("a", 0, 3), opts(new LoggedTrace("A", true, log))));
  const b = track(batcher.submit("q", docs("b", 0, 3), opts(new LoggedTrace("B", true, log))));
  await clock.advance(2);
  t.same(ep.calls[0]?.ctx.traceHeaders, { traceparent: "tp-0" }, "the call's context goes to the endpoint");
  ep.calls[0]!.answer();
  await settle();
  t.ok(a.value && b.value, "both answered");
  t.same(log, [
    "A queued 3 on student",
    "B queued 3 on student",
    "A left the queue",
    "B left the queue",
    "batch of 6 (delay) on student under A",
    "batch carries A",
    "batch carries B",
    "call 0 to ep-a with 6",
    "call 0 ended ok",
    "batch ended ok",
  ]);
});

t.test("the batch joins the first recording request, not one that only passes a context on", async (t) => {
  const log: string[] = [];
  const { batcher, clock, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  track(batcher.submit("q", docs("a", 0, 2), opts(undefined)));
  track(batcher.submit("q", docs("b", 0, 2), opts(new LoggedTrace("quiet", false, log))));
  track(batcher.submit("q", docs("c", 0, 2), opts(new LoggedTrace("C", true, log))));
  await clock.advance(2);
  ep.calls[0]!.answer();
  await settle();
  t.ok(log.includes("batch of 6 (delay) on student under C"), log.join("; "));
});

t.test("a split request leaves the queue with its last items; each batch is its own", async (t) => {
  const log: string[] = [];
  const { batcher, clock, ep } = setup({ maxBatchSize: 4, maxQueueDelayMs: 2 });
  const r = track(batcher.submit("q", docs("a", 0, 6), opts(new LoggedTrace("A", true, log))));
  await settle();
  ep.calls[0]!.answer();
  await clock.advance(2);
  ep.calls[1]!.answer();
  await settle();
  t.ok(r.value, "answered");
  t.same(log, [
    "A queued 6 on student",
    "batch of 4 (full) on student under A",
    "batch carries A",
    "call 0 to ep-a with 4",
    "call 0 ended ok",
    "batch ended ok",
    "A left the queue",
    "batch of 2 (delay) on student under A",
    "batch carries A",
    "call 0 to ep-a with 2",
    "call 0 ended ok",
    "batch ended ok",
  ]);
});

t.test("a retry is a second call of the same batch, with its own context", async (t) => {
  const log: string[] = [];
  const a = new ManualEndpoint("a");
  const b = new ManualEndpoint("b");
  const { batcher } = setup(
    {
      maxBatchSize: 4,
      maxQueueDelayMs: 0,
      retryBudget: new RetryBudget({ percent: 20, minRetries: 2, windowMs: 10_000 }, new FakeClock()),
    },
    [a, b],
  );
  const r = track(batcher.submit("q", docs("x", 0, 3), opts(new LoggedTrace("A", true, log))));
  await settle();
  const first = a.calls.length === 1 ? a : b;
  const other = first === a ? b : a;
  first.calls[0]!.fail(new GatewayError("BACKEND_UNAVAILABLE", "connection refused"));
  await settle();
  t.same(other.calls[0]?.ctx.traceHeaders, { traceparent: "tp-1" }, "the retry sends its own call's context");
  other.calls[0]!.answer();
  await settle();
  t.ok(r.value, "answered by the retry");
  t.same(log, [
    "A queued 3 on student",
    "A left the queue",
    "batch of 3 (delay) on student under A",
    "batch carries A",
    `call 0 to ${first.id} with 3`,
    "call 0 ended BACKEND_UNAVAILABLE",
    `call 1 to ${other.id} with 3`,
    "call 1 ended ok",
    "batch ended ok",
  ]);
});

t.test("untraced requests: no context reaches the endpoint", async (t) => {
  const { batcher, clock, ep } = setup({ maxBatchSize: 8, maxQueueDelayMs: 2 });
  track(batcher.submit("q", docs("a", 0, 2), opts(undefined)));
  await clock.advance(2);
  t.equal(ep.calls[0]?.ctx.traceHeaders, undefined);
  ep.calls[0]!.answer();
  await settle();
});
