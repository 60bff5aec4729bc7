import t, { type Test } from "tap";
import {
  argmaxLabel,
  compareScores,
  expectedRelevance,
  kendallTauB,
  spearmanRho,
} from "../../src/shadow/compare.js";

/** One-hot rows: document i gets label labels[i] with certainty, so ER_i = labels[i]. */
function oneHot(labels: readonly number[]): Float32Array {
  const rows = new Float32Array(labels.length * 5);
  labels.forEach((l, i) => {
    rows[i * 5 + l - 1] = 1;
  });
  return rows;
}

/** mulberry32: deterministic random cases. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Kendall τ-b straight from its definition, over all n(n−1)/2 pairs. */
function referenceTauB(x: readonly number[], y: readonly number[]): number | undefined {
  let concordant = 0;
  let discordant = 0;
  let xOnly = 0;
  let yOnly = 0;
  let both = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) both++;
      else if (dx === 0) xOnly++;
      else if (dy === 0) yOnly++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const n0 = (x.length * (x.length - 1)) / 2;
  const denominator = Math.sqrt((n0 - xOnly - both) * (n0 - yOnly - both));
  return denominator === 0 ? undefined : (concordant - discordant) / denominator;
}

/** Spearman ρ as Pearson's r of average ranks, ranks counted pairwise. */
function referenceSpearman(x: readonly number[], y: readonly number[]): number | undefined {
  const ranks = (v: readonly number[]) =>
    v.map((a) => v.filter((b) => b < a).length + (v.filter((b) => b === a).length + 1) / 2);
  const rx = ranks(x);
  const ry = ranks(y);
  const mx = rx.reduce((s, r) => s + r, 0) / rx.length;
  const my = ry.reduce((s, r) => s + r, 0) / ry.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return x.length < 2 || sxx === 0 || syy === 0 ? undefined : sxy / Math.sqrt(sxx * syy);
}

function close(t: Test, actual: number | undefined, expected: number | undefined, what: string, eps = 1e-12) {
  if (expected === undefined || actual === undefined) return t.equal(actual, expected, what);
  return t.ok(Math.abs(actual - expected) <= eps, `${what}: ${actual} ≈ ${expected}`);
}

t.test("expected relevance and argmax label", (t) => {
  const rows = [0.1, 0.2, 0.3, 0.2, 0.2, 0.4, 0.4, 0.2, 0, 0, 0, 0, 0, 0.5, 0.5];
  close(t, expectedRelevance(rows, 0), 3.2, "ER = Σ k·p_k");
  t.equal(argmaxLabel(rows, 0), 3);
  t.equal(argmaxLabel(rows, 1), 1, "a tie goes to the lower label");
  t.equal(argmaxLabel(rows, 2), 4, "a tie goes to the lower label");
  t.throws(() => expectedRelevance(rows, 3), RangeError);
  t.throws(() => argmaxLabel(rows, -1), RangeError);
  t.throws(() => argmaxLabel(rows, 0.5), RangeError);
  t.end();
});

t.test("perfect agreement", (t) => {
  const rows = oneHot([5, 1, 3, 2, 4]);
  const c = compareScores(rows, rows, 3);
  t.match(c, {
    documents: 5,
    agreedLabels: 5,
    labelAgreement: 1,
    meanAbsErDelta: 0,
    kendallTau: 1,
    spearman: 1,
    ndcgAtK: 1,
    topKOverlap: 1,
    k: 3,
  });
  t.same([...c.studentLabels], [5, 1, 3, 2, 4]);
  t.same([...c.teacherLabels], [5, 1, 3, 2, 4]);
  t.end();
});

t.test("reversed order", (t) => {
  const c = compareScores(oneHot([1, 2, 3, 4]), oneHot([4, 3, 2, 1]), 2);
  t.equal(c.kendallTau, -1);
  t.equal(c.spearman, -1);
  t.equal(c.agreedLabels, 0);
  t.equal(c.meanAbsErDelta, 2, "(3 + 1 + 1 + 3) / 4");
  // Student's top 2: docs 3, 2 with teacher gains 0, 1; the teacher's own: docs 0, 1 with gains 3, 2.
  close(t, c.ndcgAtK, (0 + 1 / Math.log2(3)) / (3 + 2 / Math.log2(3)), "NDCG@2");
  close(t, c.ndcgAtK, 0.148041, "NDCG@2 by hand", 1e-6);
  t.equal(c.topKOverlap, 0);
  t.end();
});

t.test("ties in one side", (t) => {
  // Pairs: (0,1) (0,2) (0,3) (2,3) concordant, (1,2) tied in x, (1,3) tied in y: τ-b = 4 / √(5·5).
  const c = compareScores(oneHot([1, 2, 2, 3]), oneHot([1, 3, 2, 3]), 10);
  close(t, c.kendallTau, 0.8, "τ-b");
  // Ranks x: 1, 2.5, 2.5, 4; y: 1, 3.5, 2, 3.5 → 3.75 / 4.5.
  close(t, c.spearman, 3.75 / 4.5, "ρ");
  t.equal(c.labelAgreement, 0.75);
  t.equal(c.meanAbsErDelta, 0.25);
  t.equal(c.k, 4, "k is capped at n");
  t.equal(c.ndcgAtK, 1, "tied gains in a different order still make the ideal DCG");
  t.end();
});

t.test("joint ties", (t) => {
  // n0 = 6, ties in x: 2, in y: 3, in both: 1, C = 2, D = 0 → τ-b = (6 − 2 − 3 + 1) / √(4·3).
  close(t, kendallTauB([1, 1, 2, 2], [1, 1, 2, 1]), 2 / Math.sqrt(12), "τ-b");
  close(t, kendallTauB([1, 1, 2, 2], [1, 1, 2, 1]), referenceTauB([1, 1, 2, 2], [1, 1, 2, 1]), "reference");
  t.end();
});

t.test("one document", (t) => {
  const c = compareScores(oneHot([3]), oneHot([4]), 10);
  t.match(c, { documents: 1, agreedLabels: 0, meanAbsErDelta: 1, ndcgAtK: 1, topKOverlap: 1, k: 1 });
  t.equal(c.kendallTau, undefined);
  t.equal(c.spearman, undefined);
  t.end();
});

t.test("a constant side has no rank correlation", (t) => {
  const c = compareScores(oneHot([2, 2, 2]), oneHot([1, 5, 3]), 2);
  t.equal(c.kendallTau, undefined);
  t.equal(c.spearman, undefined);
  // The student ranks its ties in document order: docs 0, 1 with gains 0, 4; ideal 4, 2.
  close(t, c.ndcgAtK, 4 / Math.log2(3) / (4 + 2 / Math.log2(3)), "NDCG@2");
  t.equal(c.topKOverlap, 0.5);
  t.equal(compareScores(oneHot([1, 5, 3]), oneHot([2, 2, 2]), 2).kendallTau, undefined);
  t.end();
});

t.test("NDCG is undefined when every gain is 0", (t) => {
  const c = compareScores(oneHot([1, 4, 5]), oneHot([1, 1, 1]), 3);
  t.equal(c.ndcgAtK, undefined);
  t.equal(c.topKOverlap, 1, "k = n: both top-k are everything");
  t.end();
});

t.test("soft probabilities: NDCG@2, top-2 overlap and labels by hand", (t) => {
  // Student ER: 4, 5, 2.5 (doc 2 ties labels 2 and 3 → 2). Teacher ER: 5, 3, 4.5 (doc 2 → 4).
  const student = [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0.5, 0.5, 0, 0];
  const teacher = [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0.5, 0.5];
  const c = compareScores(student, teacher, 2);
  t.same([...c.studentLabels], [4, 5, 2]);
  t.same([...c.teacherLabels], [5, 3, 4]);
  t.equal(c.agreedLabels, 0);
  close(t, c.meanAbsErDelta, 5 / 3, "(1 + 2 + 2) / 3");
  // Student order 1, 0, 2: gains 2, 4 → 2 + 4/log2 3. Teacher order 0, 2, 1: gains 4, 3.5.
  close(t, c.ndcgAtK, (2 + 4 / Math.log2(3)) / (4 + 3.5 / Math.log2(3)), "NDCG@2");
  close(t, c.ndcgAtK, 0.728662, "NDCG@2 by hand", 1e-6);
  t.equal(c.topKOverlap, 0.5, "{1, 0} ∩ {0, 2}");
  t.equal(c.kendallTau, referenceTauB([4, 5, 2.5], [5, 3, 4.5]));
  t.end();
});

t.test("top-k ties are broken by document order on both sides", (t) => {
  const c = compareScores(oneHot([3, 3, 3, 3]), oneHot([2, 2, 2, 2]), 2);
  t.equal(c.topKOverlap, 1, "both take documents 0 and 1");
  t.end();
});

t.test("malformed input is a RangeError", (t) => {
  t.throws(() => compareScores(oneHot([1, 2]), oneHot([1]), 1), RangeError, "different lengths");
  t.throws(() => compareScores([], [], 1), RangeError, "no documents");
  t.throws(() => compareScores([0.5, 0.5], [0.5, 0.5], 1), RangeError, "not rows of 5");
  t.throws(() => compareScores(oneHot([1]), oneHot([1]), 0), RangeError, "k < 1");
  t.throws(() => compareScores(oneHot([1]), oneHot([1]), 1.5), RangeError, "fractional k");
  t.throws(() => compareScores([Number.NaN, 0, 0, 0, 1], oneHot([1]), 1), /student row 0/);
  t.throws(() => compareScores(oneHot([1]), [0, 0, Number.POSITIVE_INFINITY, 0, 0], 1), /teacher row 0/);
  t.end();
});

t.test("τ-b and ρ match the O(n²) references on 500 random cases with ties", (t) => {
  const random = seeded(20240611);
  let mismatches = 0;
  let undefinedCases = 0;
  for (let c = 0; c < 500; c++) {
    const n = 1 + Math.floor(random() * 80);
    // Few distinct values make ties in x, in y and in both common; 1 distinct value makes a side constant.
    const levelsX = 1 + Math.floor(random() * 8);
    const levelsY = 1 + Math.floor(random() * 8);
    const continuous = c % 5 === 0;
    const x = Array.from({ length: n }, () => (continuous ? random() : Math.floor(random() * levelsX)));
    const y = Array.from({ length: n }, (_, i) =>
      // Correlate half of the cases so τ covers the whole range, not just ≈ 0.
      c % 2 === 0 ? Math.floor((x[i]! + random() * 2) * levelsY) : Math.floor(random() * levelsY),
    );
    const tau = kendallTauB(x, y);
    const rho = spearmanRho(x, y);
    const refTau = referenceTauB(x, y);
    const refRho = referenceSpearman(x, y);
    if (refTau === undefined) undefinedCases++;
    const same = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? a === b : Math.abs(a - b) <= 1e-12;
    if (!same(tau, refTau) || !same(rho, refRho)) {
      mismatches++;
      t.fail(`case ${c}: τ ${tau} vs ${refTau}, ρ ${rho} vs ${refRho}`, { x, y });
    }
  }
  t.equal(mismatches, 0);
  t.ok(undefinedCases > 0 && undefinedCases < 250, `some constant or n = 1 cases (${undefinedCases})`);
  t.end();
});

t.test("compareScores' τ and ρ are those of the expected relevances", (t) => {
  const random = seeded(7);
  // A small pool of rows gives repeated ER values on both sides.
  const pool = Array.from({ length: 6 }, () => {
    const w = Array.from({ length: 5 }, () => random());
    const sum = w.reduce((a, b) => a + b, 0);
    return w.map((v) => v / sum);
  });
  for (let c = 0; c < 50; c++) {
    const n = 2 + Math.floor(random() * 200);
    const student = Array.from({ length: n }, () => pool[Math.floor(random() * pool.length)]!).flat();
    const teacher = Array.from({ length: n }, () => pool[Math.floor(random() * pool.length)]!).flat();
    const erS = Array.from({ length: n }, (_, i) => expectedRelevance(student, i));
    const erT = Array.from({ length: n }, (_, i) => expectedRelevance(teacher, i));
    const result = compareScores(student, teacher, 10);
    close(t, result.kendallTau, referenceTauB(erS, erT), `case ${c} τ`);
    close(t, result.spearman, referenceSpearman(erS, erT), `case ${c} ρ`);
  }
  t.end();
});

t.test("1000 documents", (t) => {
  const random = seeded(99);
  const student = Array.from({ length: 5000 }, () => random());
  const teacher = Array.from({ length: 5000 }, () => random());
  const c = compareScores(student, teacher, 10);
  const erS = Array.from({ length: 1000 }, (_, i) => expectedRelevance(student, i));
  const erT = Array.from({ length: 1000 }, (_, i) => expectedRelevance(teacher, i));
  close(t, c.kendallTau, referenceTauB(erS, erT), "τ-b");
  t.equal(c.documents, 1000);
  t.equal(c.k, 10);
  t.end();
});
