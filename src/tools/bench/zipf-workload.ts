/**
 * A replayable sequence of Score requests whose (query, document) pairs
 * repeat a stated share of the time, for the score cache's scenario.
 * Search traffic repeats itself: head queries come back all day, and a
 * query's best candidates are in most of its requests. So:
 *
 *   request i:  query q ~ Zipf(s) over Q queries
 *               D distinct candidates of q, each ~ Zipf(s) over its C candidates
 *   pair (q, c) repeated ⇔ an earlier request offered it
 *
 * The key space is Q × C pairs. For a sequence of N requests, Q is what
 * sets the repeat share: the fewer the queries, the more often each pair
 * comes back. `sizeForRepeatShare` finds the Q that gives a target share for
 * N requests, and `repeatShare` measures the share of any prefix, so a run
 * reports the share of what it actually sent, not the one it aimed at.
 *
 * Everything is drawn from one seeded PRNG, request after request, so a
 * shorter sequence is a prefix of a longer one with the same seed.
 */
import { mulberry32 } from "../common/rng.js";

export interface ZipfWorkloadSpec {
  /** Distinct queries, Q. */
  readonly queries: number;
  /** Candidate documents of each query, C (≥ docsPerRequest). */
  readonly candidatesPerQuery: number;
  /** Distinct documents per request, D. */
  readonly docsPerRequest: number;
  /** Zipf exponent s: rank k (1-based) is drawn with probability ∝ k^−s. */
  readonly exponent: number;
  /** Requests in the sequence, N. */
  readonly requests: number;
  readonly seed: number;
}

/** One request: its query's rank and its candidates' ranks (0-based, distinct). */
export interface ZipfRequest {
  readonly query: number;
  readonly candidates: readonly number[];
}

/**
 * A sampler of ranks 0..n−1, rank k with probability ∝ (k + 1)^−s: the
 * cumulative weights, searched by bisection for a uniform draw.
 */
export function zipfSampler(n: number, exponent: number, random: () => number): () => number {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`zipfSampler: n must be a positive integer, got ${n}`);
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += (k + 1) ** -exponent;
    cumulative[k] = total;
  }
  return () => {
    const x = random() * total;
    // The first rank whose cumulative weight exceeds x.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

export function zipfRequests(spec: ZipfWorkloadSpec): ZipfRequest[] {
  const { candidatesPerQuery: c, docsPerRequest: d } = spec;
  if (!Number.isInteger(d) || d < 1 || d > c) {
    throw new RangeError(`zipfRequests: docsPerRequest must be 1..candidatesPerQuery (${c}), got ${d}`);
  }
  const random = mulberry32(spec.seed);
  const query = zipfSampler(spec.queries, spec.exponent, random);
  const candidate = zipfSampler(c, spec.exponent, random);
  const out: ZipfRequest[] = new Array(spec.requests);
  const seen = new Set<number>();
  for (let i = 0; i < spec.requests; i++) {
    const q = query();
    const candidates: number[] = [];
    seen.clear();
    // Drawn until d distinct: a request names a document once. With C ≥ 2D and s ≤ 1.2, the
    // ranks not yet drawn keep at least a fifth of the weight, so this ends quickly.
    while (candidates.length < d) {
      const k = candidate();
      if (seen.has(k)) continue;
      seen.add(k);
      candidates.push(k);
    }
    out[i] = { query: q, candidates };
  }
  return out;
}

export interface RepeatShare {
  /** Pairs offered. */
  readonly pairs: number;
  /** Of those, distinct. */
  readonly distinct: number;
  /** (pairs − distinct) ÷ pairs: the share of offered pairs that an earlier request had offered. */
  readonly share: number;
}

/**
 * The repeat share of the first `count` requests sent from `requests`
 * (cycling through them, as the load generator does, when `count` is larger).
 */
export function repeatShare(
  requests: readonly ZipfRequest[],
  candidatesPerQuery: number,
  count = requests.length,
): RepeatShare {
  const seen = new Set<number>();
  let pairs = 0;
  if (requests.length > 0) {
    for (let i = 0; i < count; i++) {
      const r = requests[i % requests.length]!;
      for (const c of r.candidates) seen.add(r.query * candidatesPerQuery + c);
      pairs += r.candidates.length;
    }
  }
  return { pairs, distinct: seen.size, share: pairs === 0 ? 0 : (pairs - seen.size) / pairs };
}

/**
 * The spec whose N requests repeat `target` of their pairs (as nearly as a
 * whole number of queries allows): Q by bisection, the share falling as Q
 * grows. Q is at least 1 and at most N·D; a target out of that range's
 * reach gets the nearer end (with s near 1, even N·D queries repeat the
 * head query's pairs, so a low target has a floor).
 */
export function sizeForRepeatShare(
  target: number,
  base: Omit<ZipfWorkloadSpec, "queries">,
): { spec: ZipfWorkloadSpec; realised: RepeatShare } {
  const measure = (queries: number) => {
    const spec = { ...base, queries };
    return { spec, realised: repeatShare(zipfRequests(spec), base.candidatesPerQuery) };
  };
  let lo = 1;
  let hi = Math.max(1, base.requests * base.docsPerRequest);
  // Invariant: share(lo) ≥ target > share(hi), unless the target is out of reach at either end.
  const atLo = measure(lo);
  if (atLo.realised.share <= target) return atLo;
  const atHi = measure(hi);
  if (atHi.realised.share >= target) return atHi;
  let best = Math.abs(atLo.realised.share - target) <= Math.abs(atHi.realised.share - target) ? atLo : atHi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const m = measure(mid);
    if (Math.abs(m.realised.share - target) < Math.abs(best.realised.share - target)) best = m;
    if (m.realised.share >= target) lo = mid;
    else hi = mid;
  }
  return best;
}
