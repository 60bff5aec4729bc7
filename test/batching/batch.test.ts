import t from "tap";
import type { PriorityBand } from "../../src/backends/backend-client.js";
import { Batch, type BatchPart, countItems, gather } from "../../src/batching/batch.js";
import { halve } from "../../src/batching/input-isolation.js";
import { Job } from "../../src/batching/job.js";
import { GatewayError } from "../../src/util/gateway-error.js";

function job(
  id: string,
  items: number,
  deadlineMs = Number.POSITIVE_INFINITY,
  priority: PriorityBand = "bulk",
): Job {
  const documents = Array.from({ length: items }, (_, i) => `${id}#${i}`);
  return new Job(
    { requestId: id, query: `q-${id}`, documents, deadlineMs, admittedMs: 0, priority, trace: undefined },
    () => {},
    () => {},
  );
}

const sizes = (parts: readonly BatchPart[]) => parts.map((p) => `${p.job.requestId}[${p.start},${p.end})`);

t.test("gather: the texts of the parts in order, and the latest deadline", (t) => {
  const a = job("a", 3, 500);
  const b = job("b", 2, 200);
  const g = gather([
    { job: a, start: 1, end: 3 },
    { job: b, start: 0, end: 1 },
  ]);
  t.same(g.queries, ["q-a", "q-a", "q-b"]);
  t.same(g.documents, ["a#1", "a#2", "b#0"]);
  t.equal(g.latestDeadlineMs, 500, "until then a request still waits for the call");
  const none = gather([
    { job: a, start: 0, end: 1 },
    { job: job("c", 1), start: 0, end: 1 },
  ]);
  t.equal(none.latestDeadlineMs, Number.POSITIVE_INFINITY, "a request without a deadline waits for good");
  t.end();
});

t.test("gather: the highest band among the parts' requests", (t) => {
  const part = (j: Job): BatchPart => ({ job: j, start: 0, end: 1 });
  const band = (...bands: PriorityBand[]) =>
    gather(bands.map((b, i) => part(job(`${b}-${i}`, 1, Number.POSITIVE_INFINITY, b)))).band;
  t.equal(band("background", "bulk", "background"), "bulk");
  t.equal(band("bulk", "background", "interactive"), "interactive", "wherever the interactive part is");
  t.equal(band("background"), "background");
  t.equal(band(), undefined, "no parts, no band");
  t.end();
});

t.test("a batch is aborted when the last of its jobs goes, a job split within it counting once", (t) => {
  const a = job("a", 4);
  const b = job("b", 1);
  const batch = new Batch(
    [
      { job: a, start: 0, end: 2 },
      { job: b, start: 0, end: 1 },
      { job: a, start: 2, end: 4 },
    ],
    0,
    undefined,
    undefined,
    false,
  );
  t.equal(batch.items, 5);
  a.fail(new GatewayError("CLIENT_CANCELLED", "gone"));
  t.equal(batch.controller.signal.aborted, false, "b still waits");
  b.fail(new GatewayError("CLIENT_CANCELLED", "gone"));
  t.equal(batch.controller.signal.aborted, true);
  t.end();
});

t.test("a released batch is not aborted by its jobs' later failures", (t) => {
  const a = job("a", 1);
  const batch = new Batch([{ job: a, start: 0, end: 1 }], 0, undefined, undefined, false);
  batch.release();
  a.fail(new GatewayError("CLIENT_CANCELLED", "gone"));
  t.equal(batch.controller.signal.aborted, false);
  t.end();
});

t.test("halve: whole requests as even in items as the boundaries allow, or a lone request's halves", (t) => {
  const a = job("a", 5);
  t.same(sizes(halve([{ job: a, start: 0, end: 5 }]).flat()), ["a[0,3)", "a[3,5)"]);
  const group = [
    { job: job("x", 1), start: 0, end: 1 },
    { job: job("y", 1), start: 0, end: 1 },
    { job: job("z", 6), start: 0, end: 6 },
  ];
  const [left, right] = halve(group);
  t.same(sizes(left), ["x[0,1)", "y[0,1)"]);
  t.same(sizes(right), ["z[0,6)"]);
  t.equal(countItems(left) + countItems(right), 8);
  t.end();
});
