import { status } from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { sha256Hex } from "../../src/security/api-key.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { AuthScoreClient } from "../security/auth-client.js";

/**
 * Fair sharing of a backend between clients, end to end: an indexer sends a
 * 1,000-document request, then a search client sends 8 documents. The student
 * takes 25 documents per batch, one batch at a time, 20 ms each, so the
 * indexer's request needs 40 full batches. The search request is answered
 * in the second batch when the two are different clients, and in the 41st,
 * one batch after the indexer's, when they are one (first come, first served
 * within a client). Completion order only: no timing.
 */

const INDEXER_KEY = "indexer-0123456789abcdef";
const SEARCH_KEY = "search-0123456789abcdef";

const docs = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => doc(`${prefix}${i}`));

async function race(t: Test, searchKey: string) {
  const s = await useGateway(t, {
    sim: { cost: { baseMs: 20, perItemMs: 0, instances: 1 } },
    student: { batching: { maxBatchSize: 25, maxQueueDelayMs: 0, maxConcurrentBatches: 1 } },
    config: {
      auth: {
        anonymous: false,
        clients: [
          { name: "indexer", apiKeySha256: [sha256Hex(INDEXER_KEY)] },
          { name: "search", apiKeySha256: [sha256Hex(SEARCH_KEY)] },
        ],
      },
    },
  });
  const client = new AuthScoreClient(s.target);
  t.teardown(() => client.close());
  const order: string[] = [];
  const big = client.score({ documents: docs(1000, "i"), priority: 2 }, { apiKey: INDEXER_KEY }).then((r) => {
    order.push("indexer");
    return r;
  });
  // The indexer's request is queued before the search request arrives: wait for its first batch.
  while (s.sim.stats().requests === 0) await new Promise((resolve) => setImmediate(resolve));
  const small = client.score({ documents: docs(8, "s"), priority: 2 }, { apiKey: searchKey }).then((r) => {
    order.push("search");
    return r;
  });
  const [a, b] = await Promise.all([big, small]);
  t.equal(a.ok ? status.OK : a.code, status.OK);
  t.equal(b.ok ? status.OK : b.code, status.OK);
  return order;
}

t.test("another client's small request is answered before a huge one queued ahead of it", async (t) => {
  t.same(await race(t, SEARCH_KEY), ["search", "indexer"]);
});

t.test("the same client's requests are first come, first served", async (t) => {
  t.same(await race(t, INDEXER_KEY), ["indexer", "search"]);
});
