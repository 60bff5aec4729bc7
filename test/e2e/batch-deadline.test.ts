import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const query = { text: "q", locale: "" };
const docs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => doc(`${prefix}-${i}`));

t.test("a request sharing a batch with one whose deadline passes first is still answered", async (t) => {
  // One 400 ms batch at a time; a batch waits up to 150 ms to fill, so both requests ride in the first.
  const { client, sim } = await useGateway(t, {
    sim: { cost: { baseMs: 400, perItemMs: 0, instances: 1 } },
    batching: { maxBatchSize: 64, maxQueueDelayMs: 150, maxConcurrentBatches: 1 },
  });
  const [short, long] = await Promise.all([
    client.score({ query, documents: docs("short", 4) }, { deadlineMs: 300 }),
    client.score({ query, documents: docs("long", 4) }, { deadlineMs: 10_000 }),
  ]);
  t.same(sim.stats().batchSizes, [8], "one batch carried both requests");
  t.equal(short.ok ? grpc.status.OK : short.code, grpc.status.DEADLINE_EXCEEDED, "the short one expires");
  t.ok(long.ok, `the other is answered: ${long.ok ? "ok" : long.details}`);
});
