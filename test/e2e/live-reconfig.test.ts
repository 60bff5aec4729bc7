import t from "tap";
import { doc, type ScoreOutcome } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const TOKEN = "admin-token-for-tests-0123456789";

/** Cumulative bucket counts of the student's batch-size histogram, by upper bound. */
function batchSizeBuckets(text: string): Map<string, number> {
  const buckets = new Map<string, number>();
  const re = /^relevance_gateway_batch_size_items_bucket\{([^}]*)\} (\S+)$/gm;
  for (const m of text.matchAll(re)) {
    const labels = m[1]!;
    if (!labels.includes('backend="student"')) continue;
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (le) buckets.set(le, Number(m[2]));
  }
  return buckets;
}

/** Batches in (after − before) at most `le` items, and in all. */
function window(before: Map<string, number>, after: Map<string, number>, le: string) {
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  return { atMost: d(le), total: d("+Inf") };
}

t.test(
  "maxBatchSize changed through the admin API under load: the next batches obey it, nothing fails",
  async (t) => {
    const { client, adminUrl, metricsText } = await useGateway(t, {
      adminToken: TOKEN,
      // One slow-ish instance, so 24 clients keep a queue and batches fill to the cap.
      sim: { cost: { baseMs: 4, perItemMs: 0.05, instances: 1 } },
      batching: { maxBatchSize: 64, maxQueueDelayMs: 2, maxConcurrentBatches: 1 },
    });
    const outcomes: ScoreOutcome[] = [];
    let sent = 0;
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        const documents = Array.from({ length: 8 }, (_, k) => doc(`w${w}-r${i}-d${k}`));
        sent++;
        outcomes.push(await client.score({ query: { text: `query ${w}`, locale: "" }, documents }));
      }
    };
    const workers = Array.from({ length: 24 }, (_, w) => worker(w));
    /** Polls the metrics until `enough` holds of the student's batch-size buckets (no fixed sleeps). */
    const waitForBatches = async (what: string, enough: (b: Map<string, number>) => boolean) => {
      for (const started = Date.now(); Date.now() - started < 60_000; ) {
        const buckets = batchSizeBuckets(await metricsText());
        if (enough(buckets)) return buckets;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out waiting for ${what}`);
    };

    const start = await waitForBatches("batches above 16 items before the change", (b) => {
      const w = window(new Map(), b, "16");
      return w.total - w.atMost >= 10;
    });
    const res = await fetch(`${adminUrl}/admin/config`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ backends: { student: { batching: { maxBatchSize: 16 } } } }),
    });
    t.equal(res.status, 200, "the change was applied");
    const changed = batchSizeBuckets(await metricsText());
    const later = await waitForBatches(
      "batches after the change",
      (b) => window(changed, b, "16").total >= 20,
    );
    running = false;
    await Promise.all(workers);

    // The load before the change (the histogram counts from the gateway's start).
    const before = window(new Map(), start, "16");
    t.ok(
      before.total > 0 && before.total - before.atMost > 0,
      `before the change, batches above 16 items were sent (${before.total - before.atMost} of ${before.total})`,
    );
    const after = window(changed, later, "16");
    t.ok(after.total >= 20, `batches kept flowing after the change (${after.total})`);
    t.equal(after.atMost, after.total, "every batch sent after the change had at most 16 items");
    const atBound = window(changed, later, "8");
    t.ok(
      after.total - atBound.atMost > after.total / 2,
      "and most of them were filled to the new bound (9–16)",
    );

    const failed = outcomes.filter((o) => !o.ok);
    t.equal(outcomes.length, sent, `every one of the ${sent} requests sent was answered`);
    t.same(
      failed.map((o) => (o.ok ? "" : `${o.code} ${o.details}`)),
      [],
      "zero failed requests during the change",
    );
  },
);
