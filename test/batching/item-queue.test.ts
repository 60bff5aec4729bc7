import t from "tap";
import { DEAD_SEGMENT_SLACK, ItemQueue } from "../../src/batching/item-queue.js";
import { Job } from "../../src/batching/job.js";
import { GatewayError } from "../../src/util/gateway-error.js";

function job(id: string, items: number, deadlineMs = Number.POSITIVE_INFINITY): Job {
  const documents = Array.from({ length: items }, (_, i) => `${id}#${i}`);
  const j = new Job(
    { requestId: id, query: "q", documents, deadlineMs, admittedMs: 0, trace: undefined },
    () => {},
    () => {},
  );
  return j;
}

function queue() {
  const expired: string[] = [];
  const waits: number[] = [];
  const q = new ItemQueue({
    expired: (j) => {
      expired.push(j.requestId);
      j.fail(new GatewayError("DEADLINE_EXCEEDED", "late"));
      q.drop(j);
    },
    waited: (ms) => waits.push(ms),
  });
  return { q, expired, waits };
}

const described = (parts: { job: Job; start: number; end: number }[]) =>
  parts.map((p) => `${p.job.requestId}[${p.start},${p.end})`);

t.test("take(n): interactive first, oldest first, splitting the last segment to fit", (t) => {
  const { q, waits } = queue();
  q.push(job("b1", 3), "bulk", 0);
  q.push(job("i1", 2), "interactive", 5);
  q.push(job("i2", 4), "interactive", 6);
  t.equal(q.items, 9);
  t.same(described(q.take(4, 10)), ["i1[0,2)", "i2[0,2)"]);
  t.same(waits, [5, 4]);
  t.equal(q.items, 5);
  t.same(described(q.take(4, 10)), ["i2[2,4)", "b1[0,2)"]);
  t.same(described(q.take(4, 10)), ["b1[2,3)"]);
  t.equal(q.items, 0);
  t.same(q.take(4, 10), []);
  t.end();
});

t.test("a job's state follows its items: sent once the last leaves the queue", (t) => {
  const { q } = queue();
  const j = job("r", 3);
  q.push(j, "interactive", 0);
  q.take(2, 0);
  t.equal(j.state, "queued");
  t.equal(j.unsent, 1);
  q.take(2, 0);
  t.equal(j.state, "sent");
  t.end();
});

t.test("oldestLiveMs: the oldest live head of either band", (t) => {
  const { q } = queue();
  t.equal(q.oldestLiveMs(0), undefined);
  q.push(job("i", 1), "interactive", 7);
  q.push(job("b", 1), "bulk", 3);
  t.equal(q.oldestLiveMs(10), 3);
  t.end();
});

t.test("expired jobs met at the head are handed to the owner and skipped", (t) => {
  const { q, expired } = queue();
  q.push(job("late", 2, 5), "interactive", 0);
  q.push(job("ok", 2, 100), "interactive", 1);
  t.equal(q.oldestLiveMs(5), 1, "the expired head is dropped");
  t.same(expired, ["late"]);
  t.equal(q.items, 2, "its items left the count");
  q.push(job("late2", 1, 8), "bulk", 2);
  t.same(described(q.take(10, 9)), ["ok[0,2)"]);
  t.same(expired, ["late", "late2"]);
  t.equal(q.items, 0);
  t.end();
});

t.test("drop: a settled job's unsent items leave the count; its segment is skipped later", (t) => {
  const { q } = queue();
  const gone = job("gone", 3);
  q.push(gone, "interactive", 0);
  q.push(job("kept", 2), "interactive", 0);
  gone.fail(new GatewayError("CLIENT_CANCELLED", "cancelled"));
  t.equal(q.drop(gone), 3);
  t.equal(q.items, 2);
  t.equal(q.retainedSegments, 2, "the dead segment is still held");
  t.same(described(q.take(10, 0)), ["kept[0,2)"]);
  t.equal(q.retainedSegments, 0);
  t.end();
});

t.test("compaction: dead segments behind a live head are dropped past the slack", (t) => {
  const { q } = queue();
  q.push(job("head", 1), "bulk", 0); // a live head that never leaves in this test
  const dead: Job[] = [];
  for (let i = 0; i < DEAD_SEGMENT_SLACK + 10; i++) {
    const j = job(`d${i}`, 1);
    q.push(j, "bulk", 0);
    dead.push(j);
  }
  const held: number[] = [];
  for (const j of dead) {
    j.fail(new GatewayError("CLIENT_CANCELLED", "cancelled"));
    q.drop(j);
    held.push(q.retainedSegments);
  }
  // With n segments held, k of them dead, compaction runs once k > (n − k) + slack:
  // here n = dead + 1, so at the first k above (n + slack) / 2, leaving n − k held.
  const n = dead.length + 1;
  const k = Math.floor((n + DEAD_SEGMENT_SLACK) / 2) + 1;
  t.equal(held[k - 2], n, "held in full just before");
  t.equal(held[k - 1], n - k, "compacted when the dead outnumber the live by more than the slack");
  t.equal(held.at(-1), n - k, "the later dead stay within the slack");
  t.equal(q.items, 1);
  t.same(described(q.take(10, 0)), ["head[0,1)"]);
  t.equal(q.retainedSegments, 0, "what remained of the dead is skipped at the head");
  t.end();
});

t.test("removeAll empties both bands, interactive first", (t) => {
  const { q } = queue();
  q.push(job("b", 1), "bulk", 0);
  q.push(job("i", 1), "interactive", 0);
  t.same(
    q.removeAll().map((j) => j.requestId),
    ["i", "b"],
  );
  t.equal(q.retainedSegments, 0);
  t.end();
});
