import * as grpc from "@grpc/grpc-js";
import t from "tap";
import type { DocumentMessage } from "../../src/codec/index.js";
import { expectedProbabilities } from "../helpers/expected-scores.js";
import { doc, type ScoreOutcome } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const MARKER = "\u2620POISON\u2620";
const query = { text: "chocolate cookies", locale: "" };

/** The value of one series in Prometheus text; undefined when absent. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

t.test(
  "poison: 64 concurrent clients, 1 request in 50 with a document the model rejects; only those fail",
  async (t) => {
    const { client, sims, metricsText } = await useGateway(t, {
      students: 2,
      sim: { faults: { poisonMarker: MARKER } },
      batching: { maxBatchSize: 32, maxQueueDelayMs: 2, maxQueueItems: 4096 },
    });
    const CLIENTS = 64;
    const PER_CLIENT = 8;
    const DOCS = 4;
    interface Sent {
      readonly documents: DocumentMessage[];
      /** Index of the poisoned document, if any. */
      readonly poisoned: number | undefined;
      outcome?: ScoreOutcome;
    }
    const sent: Sent[] = [];
    let answers = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let j = 0; j < PER_CLIENT; j++) {
          const g = c * PER_CLIENT + j;
          const poisoned = g % 50 === 13 ? g % DOCS : undefined;
          const documents = Array.from({ length: DOCS }, (_, k) =>
            doc(`c${c}-r${j}-d${k}`, k === poisoned ? { title: `a title with ${MARKER} in it` } : {}),
          );
          const entry: Sent = { documents, poisoned };
          sent.push(entry);
          entry.outcome = await client.score({ requestId: `c${c}-r${j}`, query, documents });
          answers++;
        }
      }),
    );
    const total = CLIENTS * PER_CLIENT;
    t.equal(answers, total, "every client call got its answer");
    const poisoned = sent.filter((s) => s.poisoned !== undefined);
    const clean = sent.filter((s) => s.poisoned === undefined);
    t.equal(poisoned.length, Math.floor((total - 14) / 50) + 1, "1 request in 50 carries the marker");

    let cleanOk = 0;
    for (const s of clean) {
      const o = s.outcome!;
      if (!o.ok) {
        t.fail(`clean request ${s.documents[0]!.id} failed: ${grpc.status[o.code]} ${o.details}`);
        continue;
      }
      const right = o.response.scores.every(
        (score, i) =>
          score.documentId === s.documents[i]!.id &&
          JSON.stringify(Array.from(score.probabilities)) ===
            JSON.stringify(expectedProbabilities(query.text, s.documents[i]!)),
      );
      if (right && o.response.scores.length === DOCS) cleanOk++;
      else t.fail(`clean request ${s.documents[0]!.id}: wrong scores`);
    }
    t.equal(cleanOk, clean.length, `all ${clean.length} clean requests answered OK with the right scores`);

    for (const s of poisoned) {
      const o = s.outcome!;
      t.match(
        o,
        {
          ok: false,
          code: grpc.status.INVALID_ARGUMENT,
          details: new RegExp(`^documents\\[${s.poisoned}\\]: backend student cannot score this document`),
        },
        `the poisoned request names documents[${s.poisoned}]`,
      );
      t.equal(o.ok ? "OK" : o.metadata.get("relevance-error-reason")[0], "DOCUMENT_REJECTED");
    }

    const text = await metricsText();
    for (const sim of sims) {
      const labels = `backend="student",endpoint="${sim.address}"`;
      t.equal(sample(text, "relevance_gateway_breaker_state", labels), 0, `breaker of ${sim.address} closed`);
    }
    t.equal(
      sample(text, "relevance_gateway_breaker_transitions_total", 'backend="student",state="open"') ?? 0,
      0,
      "no breaker opened",
    );
    t.equal(
      sample(text, "relevance_gateway_outlier_ejections_total", 'backend="student"') ?? 0,
      0,
      "no endpoint ejected",
    );
    const m = (name: string, labels = 'backend="student"') =>
      sample(text, `relevance_gateway_${name}`, labels) ?? 0;
    const isolationCalls = m("poison_isolation_calls_total");
    const isolated = m("input_rejections_total", 'backend="student",outcome="isolated"');
    t.equal(m("poison_items_total"), poisoned.length, "each poisoned document found once");
    const outcome = (o: string) => m("input_rejections_total", `backend="student",outcome="${o}"`);
    t.same(
      ["budget_exhausted", "not_reproduced", "inconclusive"].map(outcome),
      [0, 0, 0],
      "every search reached its documents within the budget",
    );
    // Two poisoned requests in the two halves of one batch, while the endpoint answers nothing else,
    // are told from a sick endpoint by a second round of splits; only poison in every quarter would
    // blame it (and the retry elsewhere would find the documents).
    const blamed = outcome("endpoint_fault");
    let batches = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith('relevance_gateway_batches_total{backend="student"')) {
        batches += Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
    const simCalls = sims.reduce((n, s) => n + s.stats().requests, 0);
    t.equal(
      simCalls,
      batches + m("retries_total") + isolationCalls,
      "the simulators saw the batches, their retries and the isolation calls, nothing else",
    );
    const rejectedCalls = sims.reduce((n, s) => n + s.stats().faults.poison, 0);
    t.comment(
      `${total} requests, ${poisoned.length} poisoned; ${batches} batches, ${isolated} rejected by the model; ` +
        `${isolationCalls} extra calls (${(isolationCalls / isolated).toFixed(1)} per poisoned batch, ` +
        `${((100 * isolationCalls) / batches).toFixed(1)}% of the batches sent), ${rejectedCalls} calls rejected ` +
        `in all; ${blamed} splits blamed on an endpoint`,
    );
    t.ok(isolated >= 1 && isolated <= poisoned.length, `${isolated} poisoned batches`);
    t.ok(blamed <= 1, "an endpoint is blamed rarely, if ever");
  },
);

t.test(
  "fail-all INTERNAL: requests fail with the backend's error and the endpoint is blamed, its breaker opens",
  async (t) => {
    const { client, sim, metricsText } = await useGateway(t, {
      sim: { faults: { failAll: true } },
      batching: { maxBatchSize: 32, maxQueueDelayMs: 1 },
      student: {
        breaker: {
          errorThresholdPercentage: 50,
          volumeThreshold: 5,
          resetTimeoutMs: 60_000,
          rollingWindowMs: 10_000,
        },
        // Isolate the breaker: outlier ejection would also take the endpoint out.
        outlierDetection: { consecutiveFailures: 1000 },
      },
    });
    const state = async () =>
      sample(
        await metricsText(),
        "relevance_gateway_breaker_state",
        `backend="student",endpoint="${sim.address}"`,
      );
    const outcomes: ScoreOutcome[] = [];
    while ((await state()) !== 2 && outcomes.length < 100) {
      const n = outcomes.length;
      outcomes.push(await client.score({ query, documents: [doc(`a${n}`), doc(`b${n}`), doc(`c${n}`)] }));
    }
    t.equal(await state(), 2, `the breaker opened after ${outcomes.length} requests`);
    t.ok(outcomes.length >= 1 && outcomes.length <= 20, "within a few requests");
    for (const o of outcomes) {
      t.match(
        o,
        {
          ok: false,
          code: grpc.status.UNAVAILABLE,
          details: /failed with INTERNAL: onnx runtime error 1: CUDA failure/,
        },
        "the backend's error",
      );
    }
    const text = await metricsText();
    t.equal(
      sample(text, "relevance_gateway_poison_isolation_calls_total", 'backend="student"'),
      // Three documents: halves of 2 and 1, then the 2 halved again; the 1 cannot be split.
      2 + 2,
      "two rounds of splits showed the endpoint at fault; later rejections were blamed on it without one",
    );
    t.equal(
      sample(text, "relevance_gateway_input_rejections_total", 'backend="student",outcome="endpoint_fault"'),
      outcomes.length,
      "every rejected batch was counted against the endpoint",
    );
    t.equal(sample(text, "relevance_gateway_poison_items_total", 'backend="student"') ?? 0, 0);
    const after = await client.score({ query, documents: [doc("late")] });
    t.match(after, { ok: false, code: grpc.status.UNAVAILABLE }, "then refused at once while it is open");
    t.equal(after.ok ? "OK" : after.metadata.get("relevance-error-reason")[0], "BACKEND_CIRCUIT_OPEN");
  },
);
