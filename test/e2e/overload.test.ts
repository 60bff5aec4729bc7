import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const query = { text: "q", locale: "" };
const docs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => doc(`${prefix}-${i}`));

t.test("a full queue rejects excess requests with RESOURCE_EXHAUSTED at once; none hangs", async (t) => {
  // One slow batch at a time; the queue holds 8 items.
  const { client, sim } = await useGateway(t, {
    sim: { cost: { baseMs: 300, perItemMs: 0, instances: 1 } },
    batching: { maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueItems: 8, maxConcurrentBatches: 1 },
  });
  const first = client.score({ query, documents: docs("first", 4) }, { deadlineMs: 30_000 });
  // Let the first batch reach the simulator, so the queue starts empty and the slot is busy.
  while (sim.stats().executing === 0) await new Promise((r) => setTimeout(r, 5));
  const burst = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      client.score({ query, documents: docs(`b${i}`, 4) }, { deadlineMs: 30_000 }),
    ),
  );
  const rejected = burst.filter((o) => !o.ok && o.code === grpc.status.RESOURCE_EXHAUSTED);
  const served = burst.filter((o) => o.ok);
  t.equal(served.length, 2, "two requests (8 items) fit in the queue and are served");
  t.equal(rejected.length, 4, "the other four are rejected");
  for (const r of rejected) {
    if (r.ok) continue;
    t.match(r.details, /queue full/);
    t.same(r.metadata.get("relevance-error-reason"), ["BATCH_QUEUE_FULL"]);
    // Rejection does not wait for the 300 ms batch ahead of it (a loose bound: far below one batch time).
    t.ok(r.elapsedMs < 250, `rejected without queueing (${r.elapsedMs.toFixed(0)} ms)`);
  }
  t.ok((await first).ok, "the first request is served");
});

t.test(
  "a 5 ms deadline against a slow backend gets DEADLINE_EXCEEDED after about 5 ms, not after the backend",
  async (t) => {
    const { client } = await useGateway(t, { sim: { cost: { baseMs: 1000, perItemMs: 0, instances: 1 } } });
    const out = await client.score({ query, documents: docs("d", 2) }, { deadlineMs: 5 });
    t.equal(out.ok ? grpc.status.OK : out.code, grpc.status.DEADLINE_EXCEEDED);
    t.ok(out.elapsedMs < 500, `answered in ${out.elapsedMs.toFixed(0)} ms, long before the 1000 ms backend`);
  },
);

t.test("with the backend saturated, items whose deadline passes in the queue are never sent", async (t) => {
  const { client, sim, metricsText } = await useGateway(t, {
    // A batch takes 1 s: long enough that, on a loaded machine too, every doomed request below
    // arrives while the blocker still holds the only slot.
    sim: { cost: { baseMs: 1000, perItemMs: 0, instances: 1 } },
    batching: { maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueItems: 1000, maxConcurrentBatches: 1 },
  });
  const blocker = client.score({ query, documents: docs("blocker", 8) }, { deadlineMs: 30_000 });
  while (sim.stats().executing === 0) await new Promise((r) => setTimeout(r, 5));
  // These wait behind the 1 s batch with a 50 ms deadline: they must expire in the queue.
  const doomed = await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      client.score({ query, documents: docs(`late${i}`, 3) }, { deadlineMs: 50 }),
    ),
  );
  for (const o of doomed) t.equal(o.ok ? grpc.status.OK : o.code, grpc.status.DEADLINE_EXCEEDED);
  t.ok((await blocker).ok);
  const after = await client.score({ query, documents: docs("after", 2) }, { deadlineMs: 30_000 });
  t.ok(after.ok, "the backend is usable afterwards");
  t.equal(sim.stats().items, 8 + 2, "the simulator received only the blocker's and the last request's items");
  // The gateway's deadline timer and grpc-js's own deadline handling race; either way the items are dropped.
  const text = await metricsText();
  const dropped = ["deadline", "cancelled"].reduce((sum, reason) => {
    const m = new RegExp(
      `relevance_gateway_items_dropped_total\\{backend="student",reason="${reason}"\\} (\\d+)`,
    ).exec(text);
    return sum + (m ? Number(m[1]) : 0);
  }, 0);
  t.equal(dropped, 15, "all 15 expired items counted as dropped before dispatch");
});
