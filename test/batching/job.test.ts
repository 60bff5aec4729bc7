import t from "tap";
import { type Carrier, Job, type JobInit, type ScoredItems } from "../../src/batching/job.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { FakeClock } from "../helpers/fake-clock.js";

const model = { name: "student", version: "3" };

function newJob(init: Partial<JobInit> = {}) {
  const settled: { value?: ScoredItems; error?: GatewayError; count: number } = { count: 0 };
  const job = new Job(
    {
      requestId: "r1",
      query: "q",
      documents: ["d0", "d1", "d2"],
      deadlineMs: Number.POSITIVE_INFINITY,
      admittedMs: 1_000,
      priority: "bulk",
      trace: undefined,
      ...init,
    },
    (value) => {
      settled.value = value;
      settled.count++;
    },
    (error) => {
      settled.error = error;
      settled.count++;
    },
  );
  return { job, settled };
}

/** A carrier that counts how many of its jobs have gone. */
function carrier(): Carrier & { gone: number } {
  return {
    gone: 0,
    jobGone() {
      this.gone++;
    },
  };
}

function rows(...values: number[]): Float32Array {
  return Float32Array.from(values.flatMap((v) => [v, v, v, v, v]));
}

t.test("state: queued until every item is sent, then sent, then answered", (t) => {
  const { job, settled } = newJob();
  t.equal(job.state, "queued");
  job.sent(2);
  t.equal(job.state, "queued", "one item still queued");
  t.equal(job.unsent, 1);
  job.sent(1);
  t.equal(job.state, "sent");
  t.equal(job.scatter(0, rows(0.1, 0.2), model, "a"), false, "one item still unanswered");
  t.equal(job.pending, 1);
  t.equal(job.scatter(2, rows(0.3), model, "b"), true, "the last item answered");
  job.succeed();
  t.equal(job.state, "answered");
  t.equal(job.done, true);
  t.equal(settled.count, 1);
  t.end();
});

t.test("scatter puts each part's rows in document order, whatever order the parts come back in", (t) => {
  const { job, settled } = newJob();
  job.sent(3);
  job.scatter(2, rows(3), model, "b");
  job.scatter(0, rows(1, 2), model, "a");
  job.succeed();
  t.same([...settled.value!.probabilities], [...rows(1, 2, 3)]);
  t.same(settled.value!.model, model);
  t.equal(settled.value!.endpoint, "a", "the endpoint that answered the last part");
  t.end();
});

t.test("settled exactly once: a failed job ignores late answers and later failures", (t) => {
  const { job, settled } = newJob();
  job.sent(3);
  t.equal(job.fail(new GatewayError("BACKEND_UNAVAILABLE", "first")), true);
  t.equal(job.fail(new GatewayError("BACKEND_TIMEOUT", "second")), false);
  t.equal(job.scatter(0, rows(1, 2, 3), model, "a"), false);
  t.equal(job.state, "failed");
  t.equal(settled.count, 1);
  t.equal(settled.error!.message, "first");
  t.end();
});

t.test("the deadline timer fails the job through the owner's hook; settling cancels it", async (t) => {
  const clock = new FakeClock();
  const expired = newJob({ deadlineMs: clock.now() + 50 });
  let fired = 0;
  expired.job.watch(
    clock,
    () => fired++,
    undefined,
    () => {},
  );
  await clock.advance(49);
  t.equal(fired, 0);
  await clock.advance(1);
  t.equal(fired, 1, "fired at the deadline");

  const answered = newJob({ deadlineMs: clock.now() + 50 });
  answered.job.watch(
    clock,
    () => fired++,
    undefined,
    () => {},
  );
  t.equal(clock.pendingTimers, 1);
  answered.job.sent(3);
  answered.job.scatter(0, rows(1, 2, 3), model, "a");
  answered.job.succeed();
  t.equal(clock.pendingTimers, 0, "the timer was cancelled");

  const none = newJob();
  none.job.watch(
    clock,
    () => fired++,
    undefined,
    () => {},
  );
  t.equal(clock.pendingTimers, 0, "no deadline, no timer");
  t.end();
});

t.test("a client's cancel calls the owner's hook once; after settling the listener is gone", (t) => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const { job } = newJob();
  let cancels = 0;
  job.watch(
    clock,
    () => {},
    controller.signal,
    () => cancels++,
  );
  controller.abort();
  controller.signal.dispatchEvent(new Event("abort"));
  t.equal(cancels, 1);

  const later = new AbortController();
  const settledFirst = newJob();
  settledFirst.job.watch(
    clock,
    () => {},
    later.signal,
    () => cancels++,
  );
  settledFirst.job.fail(new GatewayError("BACKEND_UNAVAILABLE", "x"));
  later.abort();
  t.equal(cancels, 1, "a settled job does not hear the cancel");
  t.end();
});

t.test("failing tells each batch it was in once, even when split within one batch", (t) => {
  const { job } = newJob();
  const a = carrier();
  const b = carrier();
  t.equal(job.join(a), true);
  t.equal(job.join(a), false, "a second part in the same batch");
  t.equal(job.join(b), true);
  job.leave(b); // b was answered
  job.fail(new GatewayError("DEADLINE_EXCEEDED", "late"));
  t.equal(a.gone, 1);
  t.equal(b.gone, 0, "a batch it left is not told");
  t.end();
});

t.test("dropUnsent hands over the queued items once", (t) => {
  const { job } = newJob();
  job.sent(1);
  t.equal(job.dropUnsent(), 2);
  t.equal(job.dropUnsent(), 0);
  t.equal(job.unsent, 0);
  t.end();
});

t.test("the deadline error says what was queued and what was in flight", (t) => {
  const { job } = newJob();
  job.sent(1);
  const error = job.deadlineError("student");
  t.equal(error.reason, "DEADLINE_EXCEEDED");
  t.equal(error.message, "deadline exceeded waiting for backend student (1 items in flight, 2 queued)");
  t.end();
});
