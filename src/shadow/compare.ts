/**
 * Student-versus-teacher comparison of one request's scores. Runs on the
 * gateway's event loop for every compared shadow request (up to ~1000
 * documents), so everything here is O(n log n) on typed arrays.
 */

/** n×5 row-major probabilities P(label = 1..5). */
export type ProbabilityRows = ArrayLike<number>;

export const LABELS = 5;

export interface Comparison {
  /** n, the number of documents compared. */
  readonly documents: number;
  /** Documents whose argmax label is equal on both sides. */
  readonly agreedLabels: number;
  /** agreedLabels / n. */
  readonly labelAgreement: number;
  /** mean over documents of |ER_student − ER_teacher|, ER = Σ k·p_k (k = 1..5); 0..4. */
  readonly meanAbsErDelta: number;
  /** Kendall τ-b between student ER and teacher ER; undefined when n < 2 or either side is constant. */
  readonly kendallTau: number | undefined;
  /** Spearman ρ (average ranks for ties) between student ER and teacher ER; undefined as for τ. */
  readonly spearman: number | undefined;
  /**
   * NDCG@k of the student's ranking (student ER descending, ties by document
   * order) with the teacher's ER − 1 (0..4, linear) as gains; the ideal order is
   * the teacher's own. Undefined when every gain is 0.
   */
  readonly ndcgAtK: number | undefined;
  /** |top-k by student ER ∩ top-k by teacher ER| / k (both orders break ties by document order). */
  readonly topKOverlap: number;
  /** The k actually used: min(requested k, n). */
  readonly k: number;
  /** Argmax labels 1..5 (ties → the lower label). */
  readonly studentLabels: Uint8Array;
  readonly teacherLabels: Uint8Array;
}

function checkRow(rows: ProbabilityRows, i: number): number {
  if (!Number.isInteger(i) || i < 0 || (i + 1) * LABELS > rows.length) {
    throw new RangeError(`row ${i} is outside ${Math.floor(rows.length / LABELS)} rows`);
  }
  return i * LABELS;
}

function er(rows: ProbabilityRows, offset: number): number {
  let sum = 0;
  for (let k = 0; k < LABELS; k++) sum += (k + 1) * rows[offset + k]!;
  return sum;
}

function argmax(rows: ProbabilityRows, offset: number): number {
  let best = 0;
  let bestP = rows[offset]!;
  for (let k = 1; k < LABELS; k++) {
    const p = rows[offset + k]!;
    // Strictly greater: on a tie the lower label wins.
    if (p > bestP) {
      best = k;
      bestP = p;
    }
  }
  return best + 1;
}

/** ER_i = Σ_{k=1..5} k·p_{i,k}: the expected label of document i, 1..5 for a probability row. */
export function expectedRelevance(rows: ProbabilityRows, i: number): number {
  return er(rows, checkRow(rows, i));
}

/** argmax_k p_{i,k} as a label 1..5; on equal probabilities the lower label. */
export function argmaxLabel(rows: ProbabilityRows, i: number): number {
  return argmax(rows, checkRow(rows, i));
}

const pairs = (t: number) => (t * (t - 1)) / 2;

/** Σ t(t−1)/2 over the runs of t equal consecutive values of valueAt(0..n−1); callers read in sorted order. */
function tiedPairs(n: number, valueAt: (r: number) => number): number {
  let total = 0;
  let run = 1;
  for (let r = 1; r < n; r++) {
    if (valueAt(r) === valueAt(r - 1)) run++;
    else {
      total += pairs(run);
      run = 1;
    }
  }
  return total + pairs(run);
}

/**
 * Sorts `a` ascending with a bottom-up merge sort and counts its inversions
 * (pairs i < j with a_i > a_j; equal values are not inversions). Returns the
 * sorted values (either `a` or a scratch array) and the count.
 */
function sortCountingInversions(a: Float64Array): { sorted: Float64Array; inversions: number } {
  const n = a.length;
  let src: Float64Array = a;
  let dst: Float64Array = new Float64Array(n);
  let inversions = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) {
        if (src[j]! < src[i]!) {
          // src[j] jumps ahead of every element still left in the left half.
          inversions += mid - i;
          dst[o++] = src[j++]!;
        } else {
          dst[o++] = src[i++]!;
        }
      }
      while (i < mid) dst[o++] = src[i++]!;
      while (j < hi) dst[o++] = src[j++]!;
    }
    [src, dst] = [dst, src];
  }
  return { sorted: src, inversions };
}

const clampUnit = (v: number) => Math.max(-1, Math.min(1, v));

/**
 * Kendall τ-b in O(n log n) (Knight, 1966):
 *
 *   τ_b = (n0 − n1 − n2 + n3 − 2·D) / √((n0 − n1)(n0 − n2))
 *
 * with n0 = n(n−1)/2, n1 = Σ t(t−1)/2 over groups tied in x, n2 the same for
 * y, n3 the same for pairs tied in both, and D the discordant pairs. Sorting
 * by (x, y) puts every pair tied in x in y order, so D is exactly the number
 * of strict inversions of y read in that order, which a merge sort counts.
 * Undefined when n < 2 or either side is constant (a zero denominator).
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number | undefined {
  const n = x.length;
  if (y.length !== n) throw new RangeError(`kendallTauB: ${n} x values but ${y.length} y values`);
  if (n < 2) return undefined;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => x[a]! - x[b]! || y[a]! - y[b]!);
  const xAt = (r: number) => x[order[r]!]!;
  const xTies = tiedPairs(n, xAt);
  let jointTies = 0;
  let run = 1;
  for (let r = 1; r < n; r++) {
    const a = order[r - 1]!;
    const b = order[r]!;
    if (x[a] === x[b] && y[a] === y[b]) run++;
    else {
      jointTies += pairs(run);
      run = 1;
    }
  }
  jointTies += pairs(run);
  const ys = new Float64Array(n);
  for (let r = 0; r < n; r++) ys[r] = y[order[r]!]!;
  const { sorted, inversions } = sortCountingInversions(ys);
  const yTies = tiedPairs(n, (r) => sorted[r]!);
  const total = pairs(n);
  const dx = total - xTies;
  const dy = total - yTies;
  if (dx === 0 || dy === 0) return undefined;
  return clampUnit((total - xTies - yTies + jointTies - 2 * inversions) / Math.sqrt(dx * dy));
}

/** 1-based ranks of `v` ascending, tied values sharing the average of their ranks. */
function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => v[a]! - v[b]!);
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && v[order[end]!] === v[order[start]!]) end++;
    // Positions start..end−1 hold one value: each gets the mean of ranks start+1..end.
    const rank = (start + 1 + end) / 2;
    for (let r = start; r < end; r++) ranks[order[r]!] = rank;
    start = end;
  }
  return ranks;
}

/**
 * Spearman ρ: the Pearson correlation of the average ranks,
 * ρ = Σ(r_x − r̄)(r_y − r̄) / √(Σ(r_x − r̄)² · Σ(r_y − r̄)²), r̄ = (n+1)/2.
 * Undefined when n < 2 or either side is constant.
 */
export function spearmanRho(x: ArrayLike<number>, y: ArrayLike<number>): number | undefined {
  const n = x.length;
  if (y.length !== n) throw new RangeError(`spearmanRho: ${n} x values but ${y.length} y values`);
  if (n < 2) return undefined;
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const mean = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const a = rx[i]! - mean;
    const b = ry[i]! - mean;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (sxx === 0 || syy === 0) return undefined;
  return clampUnit(sxy / Math.sqrt(sxx * syy));
}

/** Document indices by `scores` descending; equal scores keep document order. */
function descendingOrder(scores: Float64Array): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/**
 * Compares one request's student and teacher probabilities (same documents,
 * same order). `k` (≥ 1) is the cut-off of NDCG@k and the top-k overlap; it is
 * capped at n. Formulas:
 *
 * - ER_i = Σ_{k=1..5} k·p_{i,k}; label_i = argmax_k p_{i,k} (lower label on ties)
 * - labelAgreement = #{i : label_s,i = label_t,i} / n
 * - meanAbsErDelta = (1/n) Σ_i |ER_s,i − ER_t,i|
 * - kendallTau = τ-b(ER_s, ER_t) (see {@link kendallTauB}); spearman = ρ(ER_s, ER_t)
 * - ndcgAtK = DCG/IDCG with g_i = max(0, ER_t,i − 1), DCG = Σ_{r=1..k} g_{π_s(r)} / log2(r + 1)
 *   where π_s orders by ER_s descending (ties by document order), IDCG the same sum in
 *   the teacher's own order; undefined when IDCG = 0 (every gain is 0)
 * - topKOverlap = |top_k(ER_s) ∩ top_k(ER_t)| / k
 *
 * Throws RangeError on malformed input (lengths that differ or are not a
 * positive multiple of 5, k < 1, a probability that is not finite).
 */
export function compareScores(student: ProbabilityRows, teacher: ProbabilityRows, k: number): Comparison {
  if (student.length !== teacher.length) {
    throw new RangeError(`student has ${student.length} probabilities, teacher ${teacher.length}`);
  }
  if (student.length === 0 || student.length % LABELS !== 0) {
    throw new RangeError(`${student.length} probabilities are not n ≥ 1 rows of ${LABELS}`);
  }
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be an integer ≥ 1, got ${k}`);
  const n = student.length / LABELS;
  const erS = new Float64Array(n);
  const erT = new Float64Array(n);
  const studentLabels = new Uint8Array(n);
  const teacherLabels = new Uint8Array(n);
  let agreedLabels = 0;
  let absDelta = 0;
  for (let i = 0; i < n; i++) {
    const o = i * LABELS;
    const s = er(student, o);
    const t = er(teacher, o);
    if (!Number.isFinite(s)) throw new RangeError(`student row ${i} holds a non-finite probability`);
    if (!Number.isFinite(t)) throw new RangeError(`teacher row ${i} holds a non-finite probability`);
    erS[i] = s;
    erT[i] = t;
    absDelta += Math.abs(s - t);
    const ls = argmax(student, o);
    const lt = argmax(teacher, o);
    studentLabels[i] = ls;
    teacherLabels[i] = lt;
    if (ls === lt) agreedLabels++;
  }

  const cut = Math.min(k, n);
  const byStudent = descendingOrder(erS);
  const byTeacher = descendingOrder(erT);
  let dcg = 0;
  let idcg = 0;
  const inTeacherTop = new Uint8Array(n);
  for (let r = 0; r < cut; r++) {
    const discount = Math.log2(r + 2);
    dcg += Math.max(0, erT[byStudent[r]!]! - 1) / discount;
    idcg += Math.max(0, erT[byTeacher[r]!]! - 1) / discount;
    inTeacherTop[byTeacher[r]!] = 1;
  }
  let overlap = 0;
  for (let r = 0; r < cut; r++) overlap += inTeacherTop[byStudent[r]!]!;

  return {
    documents: n,
    agreedLabels,
    labelAgreement: agreedLabels / n,
    meanAbsErDelta: absDelta / n,
    kendallTau: kendallTauB(erS, erT),
    spearman: spearmanRho(erS, erT),
    // Reordering equal gains can change the last bit of the sum; NDCG is ≤ 1 by definition.
    ndcgAtK: idcg > 0 ? Math.min(1, dcg / idcg) : undefined,
    topKOverlap: overlap / cut,
    k: cut,
    studentLabels,
    teacherLabels,
  };
}
