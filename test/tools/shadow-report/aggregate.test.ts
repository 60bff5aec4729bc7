import t, { type Test } from "tap";
import type { ComparisonRecord } from "../../../src/shadow/comparison-record.js";
import { ShadowAggregator, tauBin } from "../../../src/tools/shadow-report/aggregate.js";
import {
  er,
  kendallTauB,
  label,
  mean,
  ndcg,
  quantile,
  type Row,
  randomRecords,
  record,
  topKOverlap,
} from "./fixtures.js";

const close = (t: Test, actual: number | null, expected: number | null, what: string) => {
  if (expected === null || actual === null) t.equal(actual, expected, what);
  else t.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≈ ${expected}`);
};

/** Every figure of the report, recomputed from the records by brute force. */
function reference(records: ComparisonRecord[], k: number, worst: number) {
  let documents = 0;
  let agreed = 0;
  let absDelta = 0;
  let delta = 0;
  const perRequestAgreement: number[] = [];
  const taus: number[] = [];
  let tauUndefined = 0;
  const histogram = new Array<number>(20).fill(0);
  const ndcgs: number[] = [];
  const overlaps: number[] = [];
  const confusion = [0, 1, 2, 3, 4].map(() => [0, 0, 0, 0, 0]);
  const docs: { requestId: string; documentId: string; abs: number; query: string }[] = [];
  const noise = { requests: 0, documents: 0, selfAgreed: 0, selfAbs: 0, agreed: 0, abs: 0 };
  for (const r of records) {
    const s = r.student.probabilities.map(er);
    const tt = r.teacher.probabilities.map(er);
    const sl = r.student.probabilities.map(label);
    const tl = r.teacher.probabilities.map(label);
    let agreedHere = 0;
    let absHere = 0;
    for (let i = 0; i < s.length; i++) {
      documents++;
      if (sl[i] === tl[i]) agreedHere++;
      absHere += Math.abs(tt[i]! - s[i]!);
      delta += tt[i]! - s[i]!;
      confusion[sl[i]! - 1]![tl[i]! - 1]!++;
      docs.push({
        requestId: r.requestId,
        documentId: r.documents[i]!.id,
        abs: Math.abs(tt[i]! - s[i]!),
        query: r.query.text ?? "[redacted]",
      });
    }
    agreed += agreedHere;
    absDelta += absHere;
    perRequestAgreement.push(agreedHere / s.length);
    const tau = kendallTauB(s, tt);
    if (tau === undefined) tauUndefined++;
    else {
      taus.push(tau);
      // Bins of 0.1 from −1; the last one also holds τ = 1.
      let bin = 0;
      while (bin < 19 && tau >= -1 + (bin + 1) / 10 - 1e-9) bin++;
      histogram[bin]!++;
    }
    const n = ndcg(s, tt, k);
    if (n !== undefined) ndcgs.push(n);
    overlaps.push(topKOverlap(s, tt, k));
    if (r.teacherRepeat) {
      const rep = r.teacherRepeat.probabilities;
      noise.requests++;
      noise.documents += s.length;
      noise.agreed += agreedHere;
      noise.abs += absHere;
      noise.selfAgreed += rep.filter((p, i) => label(p) === tl[i]).length;
      noise.selfAbs += rep.reduce((a, p, i) => a + Math.abs(er(p) - tt[i]!), 0);
    }
  }
  const worstDocs = [...docs].sort((a, b) => b.abs - a.abs).slice(0, worst);
  return {
    documents,
    agreement: agreed / documents,
    requestAgreement: mean(perRequestAgreement),
    mae: absDelta / documents,
    meanDelta: delta / documents,
    taus,
    tauUndefined,
    histogram,
    ndcg: mean(ndcgs),
    ndcgCount: ndcgs.length,
    overlap: mean(overlaps),
    confusion,
    worstDocs,
    noise,
  };
}

t.test("every figure matches a brute-force computation over a random log", async (t) => {
  const records = randomRecords(300, 42);
  const k = 3;
  const agg = new ShadowAggregator({ k, worst: 15 });
  for (const r of records) t.equal(agg.add(r), undefined);
  const s = agg.summary();
  const ref = reference(records, k, 15);

  t.equal(s.requests, 300);
  t.equal(s.documents, ref.documents);
  t.equal(s.k, 3);
  close(t, s.labelAgreement.documents, ref.agreement, "label agreement over documents");
  close(t, s.labelAgreement.requests, ref.requestAgreement, "label agreement over requests");
  t.not(s.labelAgreement.documents, s.labelAgreement.requests, "the two agreements differ on this log");
  close(t, s.expectedRelevance.mae, ref.mae, "MAE of ER");
  close(t, s.expectedRelevance.meanDelta, ref.meanDelta, "mean ΔER");
  t.same(s.confusion, ref.confusion, "confusion counts");
  t.equal(
    s.confusion.flat().reduce((a, b) => a + b, 0),
    ref.documents,
    "the confusion matrix covers every document",
  );

  t.equal(s.kendallTau.requests, ref.taus.length);
  t.equal(s.kendallTau.undefinedRequests, ref.tauUndefined);
  t.ok(ref.tauUndefined > 0, "single-document requests have no τ");
  t.same(
    s.kendallTau.histogram.map((b) => b.count),
    ref.histogram,
    "τ histogram counts",
  );
  t.same(s.kendallTau.histogram[0], { from: -1, to: -0.9, count: ref.histogram[0] });
  t.same(s.kendallTau.histogram[19], { from: 0.9, to: 1, count: ref.histogram[19] });
  close(t, s.kendallTau.mean, mean(ref.taus), "mean τ");
  close(t, s.kendallTau.p10, quantile(ref.taus, 0.1), "τ p10");
  close(t, s.kendallTau.p50, quantile(ref.taus, 0.5), "τ p50");
  close(t, s.kendallTau.p90, quantile(ref.taus, 0.9), "τ p90");

  t.equal(s.ndcgAtK.requests, ref.ndcgCount);
  close(t, s.ndcgAtK.mean, ref.ndcg, "mean NDCG@3, recomputed rather than read from the records");
  close(t, s.topKOverlap.mean, ref.overlap, "mean top-3 overlap");

  t.same(
    s.worst.map((w) => [w.requestId, w.documentId, w.query]),
    ref.worstDocs.map((d) => [d.requestId, d.documentId, d.query]),
    "worst list: largest |ΔER| first",
  );
  t.ok(
    s.worst.some((w) => w.query === "[redacted]"),
    "the log's redacted requests reach the worst list",
  );
  for (const w of s.worst) {
    const r = records.find((x) => x.requestId === w.requestId)!;
    const i = Number(w.documentId.slice(4));
    close(t, w.studentEr, er(r.student.probabilities[i]!), "worst studentEr");
    close(t, w.teacherEr, er(r.teacher.probabilities[i]!), "worst teacherEr");
    t.equal(w.studentLabel, label(r.student.probabilities[i]!));
    t.equal(w.teacherLabel, label(r.teacher.probabilities[i]!));
    t.equal(w.documentText, r.documents[i]!.modelText ?? "[redacted]");
  }

  const nf = s.noiseFloor!;
  t.equal(nf.requests, ref.noise.requests);
  t.equal(nf.documents, ref.noise.documents);
  close(
    t,
    nf.teacherVsTeacher.labelAgreement,
    ref.noise.selfAgreed / ref.noise.documents,
    "teacher self-agreement",
  );
  close(t, nf.teacherVsTeacher.erMae, ref.noise.selfAbs / ref.noise.documents, "teacher self MAE");
  close(
    t,
    nf.studentVsTeacher.labelAgreement,
    ref.noise.agreed / ref.noise.documents,
    "student agreement, same records",
  );
  close(t, nf.studentVsTeacher.erMae, ref.noise.abs / ref.noise.documents, "student MAE, same records");

  const studentLatency = records.map((r) => r.student.latencyMs);
  const teacherLatency = records.map((r) => r.teacher.latencyMs);
  t.equal(s.latencyMs.student.count, 300);
  close(t, s.latencyMs.student.mean, mean(studentLatency), "student latency mean");
  close(t, s.latencyMs.student.p50, quantile(studentLatency, 0.5), "student latency p50");
  close(t, s.latencyMs.student.p95, quantile(studentLatency, 0.95), "student latency p95");
  close(t, s.latencyMs.teacher.p95, quantile(teacherLatency, 0.95), "teacher latency p95");

  t.same(s.timeRange, { first: records[0]!.time, last: records[299]!.time });
  const scatter = agg.scatterSample();
  t.equal(scatter.total, ref.documents);
  t.equal(scatter.points.length, ref.documents, "under the cap every document is plotted");
});

t.test("hand-made requests land in the expected τ bins and confusion cells", async (t) => {
  const a: Row = [0.7, 0.1, 0.1, 0.05, 0.05]; // label 1, ER 1.65
  const b: Row = [0.1, 0.6, 0.2, 0.05, 0.05]; // label 2, ER 2.35
  const c: Row = [0.05, 0.05, 0.1, 0.2, 0.6]; // label 5, ER 4.25
  const agg = new ShadowAggregator({ k: 10, worst: 2 });
  agg.add(record({ requestId: "same", student: [a, b, c], teacher: [a, b, c] })); // τ = 1
  agg.add(record({ requestId: "reversed", student: [a, b, c], teacher: [c, b, a] })); // τ = −1
  agg.add(record({ requestId: "single", student: [a], teacher: [b] })); // τ undefined
  agg.add(record({ requestId: "tied", student: [a, a], teacher: [b, c] })); // student constant: undefined
  const s = agg.summary();
  const bins = s.kendallTau.histogram.map((x) => x.count);
  t.equal(bins[0], 1, "τ = −1 in the first bin");
  t.equal(bins[19], 1, "τ = 1 in the last bin");
  t.equal(s.kendallTau.undefinedRequests, 2);
  t.equal(s.documents, 9);
  // same: 1→1, 2→2, 5→5; reversed: 1→5, 2→2, 5→1; single: 1→2; tied: 1→2, 1→5.
  t.same(s.confusion, [
    [1, 2, 0, 0, 2],
    [0, 2, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [1, 0, 0, 0, 1],
  ]);
  t.equal(s.labelAgreement.documents, 4 / 9);
  t.same(
    s.worst.map((w) => `${w.requestId}/${w.documentId}`),
    ["reversed/doc-0", "reversed/doc-2"],
    "equal |ΔER|: the first seen ranks first",
  );
  t.equal(s.noiseFloor, null, "no teacher repeats, no noise floor");
});

t.test("tau bins treat boundary values exactly", async (t) => {
  t.equal(tauBin(-1), 0);
  t.equal(tauBin(-0.9), 1);
  t.equal(tauBin(0.2), 12);
  t.equal(tauBin(0.6 - 1e-12), 16, "floating-point noise below a boundary");
  t.equal(tauBin(0.19999), 11);
  t.equal(tauBin(1), 19);
});

t.test("an inconsistent record is rejected without changing the figures", async (t) => {
  const agg = new ShadowAggregator({ k: 10, worst: 5 });
  const bad = record({ requestId: "bad", student: [[1, 0, 0, 0, 0]], teacher: [[1, 0, 0, 0, 0]] });
  bad.teacher.probabilities.push([0, 1, 0, 0, 0]);
  t.match(agg.add(bad), /teacher\.probabilities has 2 rows for 1 documents/);
  const nan = record({ requestId: "nan", student: [[Number.NaN, 0, 0, 0, 1]], teacher: [[1, 0, 0, 0, 0]] });
  t.match(agg.add(nan), /non-finite/);
  t.equal(agg.summary().requests, 0);
  t.equal(agg.summary().latencyMs.student.count, 0);
});

t.test("memory stays bounded: the scatter and quantile samples are capped", async (t) => {
  const records = randomRecords(200, 7);
  const agg = new ShadowAggregator({ k: 10, worst: 3, scatterPoints: 50, sampleSize: 40 });
  for (const r of records) agg.add(r);
  const scatter = agg.scatterSample();
  const documents = records.reduce((a, r) => a + r.documents.length, 0);
  t.equal(scatter.points.length, 50);
  t.equal(scatter.total, documents);
  const s = agg.summary();
  t.equal(s.worst.length, 3);
  t.equal(s.latencyMs.student.count, 200, "counts and means stay exact");
  close(t, s.latencyMs.student.mean, mean(records.map((r) => r.student.latencyMs)), "exact mean");
  const again = new ShadowAggregator({ k: 10, worst: 3, scatterPoints: 50, sampleSize: 40 });
  for (const r of records) again.add(r);
  t.same(again.scatterSample(), scatter, "sampling is reproducible");
});
