import t from "tap";
import { decodeScoreRequest } from "../../../src/codec/index.js";
import { createModelText, defaultModelTextOptions } from "../../../src/model-text/index.js";
import { buildPayloads, zipfScoreRequests } from "../../../src/tools/bench/payloads.js";
import {
  repeatShare,
  sizeForRepeatShare,
  type ZipfRequest,
  type ZipfWorkloadSpec,
  zipfRequests,
  zipfSampler,
} from "../../../src/tools/bench/zipf-workload.js";

/** A "random" source that returns the given values in turn. */
const scripted = (values: readonly number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

/** The share counted another way: occurrences per pair, every occurrence after the first a repeat. */
function repeatsByCounting(requests: readonly ZipfRequest[]): { pairs: number; distinct: number } {
  const counts = new Map<string, number>();
  for (const r of requests) {
    for (const c of r.candidates) counts.set(`${r.query}/${c}`, (counts.get(`${r.query}/${c}`) ?? 0) + 1);
  }
  let pairs = 0;
  for (const n of counts.values()) pairs += n;
  return { pairs, distinct: counts.size };
}

const spec = (over: Partial<ZipfWorkloadSpec> = {}): ZipfWorkloadSpec => ({
  queries: 200,
  candidatesPerQuery: 64,
  docsPerRequest: 16,
  exponent: 1,
  requests: 500,
  seed: 42,
  ...over,
});

t.test("the sampler inverts the cumulative Zipf weights", async (t) => {
  // n = 4, s = 1: weights 1, 1/2, 1/3, 1/4; cumulative 1, 1.5, 1.8333, 2.0833 (total 25/12).
  const total = 25 / 12;
  const draws = (us: number[]) => {
    const next = zipfSampler(4, 1, scripted(us));
    return us.map(() => next());
  };
  t.same(draws([0, 0.47, 1 / total + 1e-9, 0.5, 0.87, 0.9, 0.999999]), [0, 0, 1, 1, 2, 3, 3]);
  // s = 0 is uniform: the quarter points fall in order.
  const uniform = zipfSampler(4, 0, scripted([0.1, 0.3, 0.6, 0.8]));
  t.same([uniform(), uniform(), uniform(), uniform()], [0, 1, 2, 3]);
  t.throws(() => zipfSampler(0, 1, Math.random), RangeError);
});

t.test("the sampler's frequencies are Zipf's", async (t) => {
  // 200,000 draws from the seeded PRNG against P(k) = (1/k) / H_4: 0.48, 0.24, 0.16, 0.12.
  const { mulberry32 } = await import("../../../src/tools/common/rng.js");
  const next = zipfSampler(4, 1, mulberry32(9));
  const counts = [0, 0, 0, 0];
  const n = 200_000;
  for (let i = 0; i < n; i++) counts[next()]!++;
  const expected = [0.48, 0.24, 0.16, 0.12];
  // Three binomial standard deviations at most (the largest is sqrt(0.25 / n) ≈ 0.0011).
  for (const [k, p] of expected.entries())
    t.ok(Math.abs(counts[k]! / n - p) < 0.0034, `rank ${k + 1}: ${counts[k]! / n}`);
});

t.test(
  "requests: one query, distinct candidates in range, the same for a seed, a prefix when shorter",
  async (t) => {
    const a = zipfRequests(spec());
    t.equal(a.length, 500);
    for (const r of a) {
      t.ok(r.query >= 0 && r.query < 200, "query in range");
      t.equal(new Set(r.candidates).size, 16, "16 distinct candidates");
      t.ok(
        r.candidates.every((c) => Number.isInteger(c) && c >= 0 && c < 64),
        "candidates in range",
      );
    }
    t.same(zipfRequests(spec()), a, "the same seed gives the same requests");
    t.notSame(zipfRequests(spec({ seed: 43 })), a, "another seed gives others");
    t.same(zipfRequests(spec({ requests: 120 })), a.slice(0, 120), "a shorter sequence is a prefix");
    // Zipf: the top query is the most frequent, and far more frequent than the median one.
    const perQuery = new Map<number, number>();
    for (const r of a) perQuery.set(r.query, (perQuery.get(r.query) ?? 0) + 1);
    t.equal([...perQuery].sort((x, y) => y[1] - x[1])[0]![0], 0, "query rank 1 is the head");
    t.throws(() => zipfRequests(spec({ docsPerRequest: 65 })), RangeError, "more documents than candidates");
  },
);

t.test("repeat share of a hand-made sequence", async (t) => {
  const requests: ZipfRequest[] = [
    { query: 0, candidates: [0, 1] },
    { query: 0, candidates: [1, 2] },
    { query: 1, candidates: [0] },
  ];
  // Pairs: (0,0) (0,1) (0,1) (0,2) (1,0): 5 offered, 4 distinct, 1 repeat.
  t.same(repeatShare(requests, 10), { pairs: 5, distinct: 4, share: 0.2 });
  t.same(repeatShare(requests, 10, 1), { pairs: 2, distinct: 2, share: 0 });
  // Cycling: 6 requests sent from 3 are 10 pairs, still 4 distinct.
  t.same(repeatShare(requests, 10, 6), { pairs: 10, distinct: 4, share: 0.6 });
  t.same(repeatShare([], 10, 5), { pairs: 0, distinct: 0, share: 0 });
});

t.test("repeat share agrees with counting occurrences, for the bench's parameters", async (t) => {
  const requests = zipfRequests({
    queries: 421,
    candidatesPerQuery: 128,
    docsPerRequest: 32,
    exponent: 1,
    requests: 900,
    seed: 42,
  });
  const counted = repeatsByCounting(requests);
  const share = repeatShare(requests, 128);
  t.equal(share.pairs, 900 * 32);
  t.equal(share.pairs, counted.pairs);
  t.equal(share.distinct, counted.distinct);
  t.equal(share.share, (counted.pairs - counted.distinct) / counted.pairs);
});

t.test(
  "with one document per request, distinct pairs match the expectation of independent draws",
  async (t) => {
    // D = 1: every pair is an independent draw with P(q, c) = Zipf_Q(q) · Zipf_C(c), so
    // E[distinct] = Σ 1 − (1 − p)^N, computed here from the formula, not the generator.
    const Q = 50;
    const C = 20;
    const N = 3000;
    const zipf = (n: number) => {
      const w = Array.from({ length: n }, (_, k) => 1 / (k + 1));
      const h = w.reduce((a, b) => a + b, 0);
      return w.map((x) => x / h);
    };
    const pq = zipf(Q);
    const pc = zipf(C);
    let expected = 0;
    for (const a of pq) for (const b of pc) expected += 1 - (1 - a * b) ** N;
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    const realised = seeds.map(
      (seed) =>
        repeatShare(
          zipfRequests({
            queries: Q,
            candidatesPerQuery: C,
            docsPerRequest: 1,
            exponent: 1,
            requests: N,
            seed,
          }),
          C,
        ).distinct,
    );
    const mean = realised.reduce((a, b) => a + b, 0) / seeds.length;
    // The count's variance is below its mean; four standard errors of the mean of 8 runs.
    t.ok(
      Math.abs(mean - expected) < 4 * Math.sqrt(expected / seeds.length),
      `${mean} vs ${expected.toFixed(1)}`,
    );
  },
);

t.test("the key space is sized for the target repeat share", async (t) => {
  for (const target of [0.4, 0.6, 0.85]) {
    const base = { candidatesPerQuery: 128, docsPerRequest: 32, exponent: 1, requests: 600, seed: 42 };
    const { spec: sized, realised } = sizeForRepeatShare(target, base);
    t.ok(
      Math.abs(realised.share - target) < 0.005,
      `target ${target}: ${realised.share} with ${sized.queries} queries`,
    );
    t.same(
      realised,
      repeatShare(zipfRequests(sized), 128),
      "the realised share is that of the sized workload",
    );
    t.equal(sized.requests, 600);
  }
  // Out of reach below: even N·D queries keep repeating the head query's pairs (Zipf, s = 1).
  const base = { candidatesPerQuery: 128, docsPerRequest: 32, exponent: 1, requests: 600, seed: 42 };
  const low = sizeForRepeatShare(0.05, base);
  t.equal(low.spec.queries, 600 * 32, "the largest key space");
  t.ok(low.realised.share > 0.2, `${low.realised.share}: the least this workload repeats`);
  // Out of reach above: one query of 32 candidates can repeat no more than all but its 32 pairs.
  const tiny = sizeForRepeatShare(0.999, {
    candidatesPerQuery: 32,
    docsPerRequest: 32,
    exponent: 1,
    requests: 10,
    seed: 1,
  });
  t.equal(tiny.spec.queries, 1);
  t.equal(tiny.realised.share, 0.9);
});

t.test("the Score requests repeat exactly the workload's pairs, as model text", async (t) => {
  const s = spec({ queries: 30, requests: 200 });
  const messages = zipfScoreRequests(s);
  t.equal(messages.length, 200);
  const text = createModelText(defaultModelTextOptions);
  const keys = new Set<string>();
  let pairs = 0;
  for (const m of messages) {
    t.equal(
      new Set(m.documents.map((d) => d.id)).size,
      m.documents.length,
      "document ids unique in a request",
    );
    const q = text.query(m.query!.text);
    for (const d of m.documents) keys.add(`${q}\u0000${text.document(d)}`);
    pairs += m.documents.length;
  }
  const share = repeatShare(zipfRequests(s), s.candidatesPerQuery);
  t.equal(pairs, share.pairs);
  t.equal(keys.size, share.distinct, "distinct (query, document) model texts = distinct pairs");
  // The same requests as Score bodies and as the ModelInfer calls the gateway would make.
  const score = buildPayloads({ kind: "score", docsPerRequest: 16, seed: 42, zipf: s });
  const infer = buildPayloads({ kind: "model-infer", docsPerRequest: 16, seed: 42, model: "m", zipf: s });
  t.equal(score.length, 200);
  t.equal(infer.length, 200);
  t.ok(score.every((p) => p.items === 16) && infer.every((p) => p.items === 16));
  t.equal(decodeScoreRequest(score[0]!.body).cachePolicy, 0, "the cache is used by default");
  const bypass = buildPayloads({ kind: "score", docsPerRequest: 16, seed: 42, cachePolicy: 1 });
  t.ok(
    bypass.every((p) => decodeScoreRequest(p.body).cachePolicy === 1),
    "CACHE_POLICY_BYPASS on every request when asked",
  );
});
