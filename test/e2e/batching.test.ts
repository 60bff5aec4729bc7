import t from "tap";
import { expectedProbabilities } from "../helpers/expected-scores.js";
import { doc } from "../helpers/grpc-client.js";
import { histogramTotals, useGateway } from "../helpers/use-gateway.js";

t.test("64 concurrent clients with 1–300 documents each get exactly their own scores, batched", async (t) => {
  // The gateway is configured above Triton's max_batch_size (64): it must learn and respect the cap.
  const { client, sim, metricsText } = await useGateway(t, {
    sim: { cost: { baseMs: 2, perItemMs: 0.01, instances: 1 } },
    batching: { maxBatchSize: 128, maxQueueDelayMs: 2, maxQueueItems: 100_000, maxConcurrentBatches: 2 },
  });
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const clients = Array.from({ length: 64 }, async (_, c) => {
    const mismatches: string[] = [];
    let documentsChecked = 0;
    for (let r = 0; r < 3; r++) {
      const n = 1 + Math.floor(rand() * 300);
      const query = `query ${c} ${r} cookies`;
      const documents = Array.from({ length: n }, (_, i) =>
        doc(`c${c}-r${r}-d${i}`, {
          title: `doc ${i} of ${c}`,
          description: i % 3 === 0 ? "cookies" : "garden",
        }),
      );
      const out = await client.score(
        { query: { text: query, locale: "" }, documents },
        { deadlineMs: 60_000 },
      );
      if (!out.ok) {
        mismatches.push(`client ${c} request ${r}: ${out.code} ${out.details}`);
        continue;
      }
      const scores = out.response.scores;
      if (scores.length !== n)
        mismatches.push(`client ${c} request ${r}: ${scores.length} scores for ${n} documents`);
      for (let i = 0; i < Math.min(n, scores.length); i++) {
        const s = scores[i]!;
        const expected = expectedProbabilities(query, documents[i]!);
        if (
          s.documentId !== documents[i]!.id ||
          Array.from(s.probabilities).some((p, k) => p !== expected[k])
        ) {
          mismatches.push(`client ${c} request ${r} document ${i}`);
        }
        documentsChecked++;
      }
    }
    return { mismatches, documentsChecked };
  });
  const results = await Promise.all(clients);
  const mismatches = results.flatMap((r) => r.mismatches);
  const checked = results.reduce((a, r) => a + r.documentsChecked, 0);
  t.same(
    mismatches.slice(0, 10),
    [],
    `every one of ${checked} documents has its own probabilities, in order`,
  );
  t.ok(checked > 64 * 3, "documents were checked");

  const stats = sim.stats();
  t.ok(
    stats.maxBatchSeen <= 64,
    `Triton never received a batch above its max_batch_size (largest: ${stats.maxBatchSeen})`,
  );
  t.equal(stats.items, checked, "Triton scored each document exactly once");

  const { sum, count } = histogramTotals(
    await metricsText(),
    "relevance_gateway_batch_size_items",
    'backend="student"',
  );
  t.equal(sum, checked, "the batch-size histogram counts every item");
  const mean = sum / count;
  t.ok(mean > 16, `batches far above 1 item: ${count} batches, mean ${mean.toFixed(1)} items`);
});
