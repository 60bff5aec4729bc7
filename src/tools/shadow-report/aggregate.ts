import { type Comparison, compareScores, expectedRelevance } from "../../shadow/compare.js";
import type { ComparisonRecord, ModelAnswer } from "../../shadow/comparison-record.js";
import { Mean, NumberSummary, Reservoir, seededRandom, TopK } from "./stats.js";

/** The relevance labels, as compare.ts numbers them. */
export const LABEL_VALUES = [1, 2, 3, 4, 5] as const;
const REDACTED = "[redacted]";

export interface AggregateOptions {
  /** Cut-off of NDCG@k and top-k overlap, recomputed here rather than read from the records. */
  readonly k: number;
  /** How many of the largest |ΔER| documents to keep. */
  readonly worst: number;
  /** Documents kept for the expected-relevance scatter plot. */
  readonly scatterPoints?: number;
  /** Size of each reservoir sample behind a quantile (τ, latencies). */
  readonly sampleSize?: number;
  readonly seed?: number;
}

export interface WorstDocument {
  requestId: string;
  experiment: string;
  documentId: string;
  query: string;
  documentText: string;
  studentEr: number;
  teacherEr: number;
  studentLabel: number;
  teacherLabel: number;
}

export interface LatencySummary {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
}

export interface Agreement {
  labelAgreement: number | null;
  erMae: number | null;
}

export interface NoiseFloor {
  requests: number;
  documents: number;
  /** The first teacher answer against the repeat: the teacher's own disagreement. */
  teacherVsTeacher: Agreement;
  /** Student against teacher over the same records, so the two are comparable. */
  studentVsTeacher: Agreement;
}

export interface ShadowAggregate {
  k: number;
  requests: number;
  documents: number;
  timeRange: { first: string; last: string } | null;
  labelAgreement: { documents: number | null; requests: number | null };
  /** Expected relevance Σ label·p over documents; delta is teacher − student. */
  expectedRelevance: { mae: number | null; meanDelta: number | null };
  kendallTau: {
    requests: number;
    /** Requests where τ is undefined (fewer than two documents, or all tied). */
    undefinedRequests: number;
    mean: number | null;
    p10: number | null;
    p50: number | null;
    p90: number | null;
    histogram: { from: number; to: number; count: number }[];
  };
  spearman: { requests: number; mean: number | null };
  ndcgAtK: { requests: number; mean: number | null };
  topKOverlap: { requests: number; mean: number | null };
  /** confusion[s][t]: documents the student labelled LABEL_VALUES[s] and the teacher LABEL_VALUES[t]. */
  confusion: number[][];
  worst: WorstDocument[];
  latencyMs: { student: LatencySummary; teacher: LatencySummary };
  noiseFloor: NoiseFloor | null;
}

/** A sample of (student ER, teacher ER) per document, for the scatter plot. */
export interface ScatterSample {
  total: number;
  points: [number, number][];
}

export const TAU_BINS = 20;

/**
 * Histogram bin of τ ∈ [−1, 1] in bins of 0.1, the last one closed on the
 * right. τ is rounded first: values such as 0.2 land exactly on a boundary
 * and floating-point noise must not push them into the bin below.
 */
export function tauBin(tau: number): number {
  const x = Math.round((tau + 1) * 10 * 1e6) / 1e6;
  return Math.min(TAU_BINS - 1, Math.max(0, Math.floor(x)));
}

/** Label agreement and |ΔER| summed over documents. */
class AgreementSums {
  documents = 0;
  agreed = 0;
  absErDelta = 0;
  add(documents: number, agreed: number, absErDelta: number): void {
    this.documents += documents;
    this.agreed += agreed;
    this.absErDelta += absErDelta;
  }
  value(): Agreement {
    const n = this.documents;
    return { labelAgreement: n ? this.agreed / n : null, erMae: n ? this.absErDelta / n : null };
  }
}

/** Flattens an answer's n×5 rows into the row-major layout compare.ts takes; RangeError on a bad shape. */
function flatten(answer: ModelAnswer, n: number, name: string): Float64Array {
  const rows = answer.probabilities;
  if (rows.length !== n)
    throw new RangeError(`${name}.probabilities has ${rows.length} rows for ${n} documents`);
  const out = new Float64Array(n * 5);
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    if (row.length !== 5)
      throw new RangeError(`${name}.probabilities[${i}] has ${row.length} numbers, not 5`);
    out.set(row, i * 5);
  }
  return out;
}

/**
 * Folds comparison records into the report's figures in one pass. Memory is
 * bounded by the options (reservoirs, the worst-list heap), not by the log.
 */
export class ShadowAggregator {
  private readonly k: number;
  private readonly random: () => number;
  private requests = 0;
  private first: { t: number; s: string } | undefined;
  private last: { t: number; s: string } | undefined;
  private readonly overall = new AgreementSums();
  private erDelta = 0;
  private readonly requestAgreement = new Mean();
  private readonly tau: NumberSummary;
  private tauUndefined = 0;
  private readonly histogram = new Array<number>(TAU_BINS).fill(0);
  private readonly spearman = new Mean();
  private readonly ndcg = new Mean();
  private readonly topK = new Mean();
  private readonly confusion = LABEL_VALUES.map(() => LABEL_VALUES.map(() => 0));
  private readonly worst: TopK<WorstDocument>;
  private readonly studentLatency: NumberSummary;
  private readonly teacherLatency: NumberSummary;
  private readonly scatter: Reservoir<[number, number]>;
  private noiseRequests = 0;
  private readonly noiseTeacher = new AgreementSums();
  private readonly noiseStudent = new AgreementSums();

  constructor(opts: AggregateOptions) {
    this.k = opts.k;
    this.random = seededRandom(opts.seed ?? 1);
    const sampleSize = opts.sampleSize ?? 10_000;
    this.tau = new NumberSummary(sampleSize, this.random);
    this.studentLatency = new NumberSummary(sampleSize, this.random);
    this.teacherLatency = new NumberSummary(sampleSize, this.random);
    this.worst = new TopK<WorstDocument>(opts.worst);
    this.scatter = new Reservoir<[number, number]>(opts.scatterPoints ?? 5_000, this.random);
  }

  /** Adds one record; returns why it cannot be used, or undefined. A rejected record changes nothing. */
  add(record: ComparisonRecord): string | undefined {
    const n = record.documents.length;
    if (n === 0) return "documents: empty";
    let student: Float64Array;
    let teacher: Float64Array;
    let c: Comparison;
    let self: Comparison | undefined;
    try {
      student = flatten(record.student, n, "student");
      teacher = flatten(record.teacher, n, "teacher");
      c = compareScores(student, teacher, this.k);
      if (record.teacherRepeat)
        self = compareScores(teacher, flatten(record.teacherRepeat, n, "teacherRepeat"), this.k);
    } catch (err) {
      // compareScores reports malformed probabilities (non-finite, wrong shape) as RangeError.
      if (err instanceof RangeError) return err.message;
      throw err;
    }

    this.requests++;
    this.noteTime(record.time);
    if (Number.isFinite(record.student.latencyMs)) this.studentLatency.add(record.student.latencyMs);
    if (Number.isFinite(record.teacher.latencyMs)) this.teacherLatency.add(record.teacher.latencyMs);
    let absDelta = 0;
    for (let i = 0; i < n; i++) {
      const s = expectedRelevance(student, i);
      const t = expectedRelevance(teacher, i);
      const sl = c.studentLabels[i]!;
      const tl = c.teacherLabels[i]!;
      absDelta += Math.abs(t - s);
      this.erDelta += t - s;
      this.confusion[sl - 1]![tl - 1]!++;
      this.scatter.add([s, t]);
      this.worst.add(Math.abs(t - s), () => {
        const doc = record.documents[i]!;
        return {
          requestId: record.requestId,
          experiment: record.experiment,
          documentId: doc.id,
          query: record.query.text ?? REDACTED,
          documentText: doc.modelText ?? REDACTED,
          studentEr: s,
          teacherEr: t,
          studentLabel: sl,
          teacherLabel: tl,
        };
      });
    }
    this.overall.add(n, c.agreedLabels, absDelta);
    this.requestAgreement.add(c.agreedLabels / n);
    if (c.kendallTau === undefined || !Number.isFinite(c.kendallTau)) this.tauUndefined++;
    else {
      this.tau.add(c.kendallTau);
      this.histogram[tauBin(c.kendallTau)]!++;
    }
    this.spearman.add(c.spearman);
    this.ndcg.add(c.ndcgAtK);
    this.topK.add(c.topKOverlap);

    if (self) {
      this.noiseRequests++;
      this.noiseTeacher.add(n, self.agreedLabels, self.meanAbsErDelta * n);
      this.noiseStudent.add(n, c.agreedLabels, absDelta);
    }
    return undefined;
  }

  summary(): ShadowAggregate {
    const [p10, p50, p90] = this.tau.quantiles([0.1, 0.5, 0.9]);
    const overall = this.overall.value();
    const documents = this.overall.documents;
    return {
      k: this.k,
      requests: this.requests,
      documents,
      timeRange: this.first && this.last ? { first: this.first.s, last: this.last.s } : null,
      labelAgreement: { documents: overall.labelAgreement, requests: this.requestAgreement.value() },
      expectedRelevance: { mae: overall.erMae, meanDelta: documents ? this.erDelta / documents : null },
      kendallTau: {
        requests: this.tau.count,
        undefinedRequests: this.tauUndefined,
        mean: this.tau.mean(),
        p10: p10 ?? null,
        p50: p50 ?? null,
        p90: p90 ?? null,
        histogram: this.histogram.map((count, i) => ({
          from: Math.round((-1 + i / 10) * 10) / 10,
          to: Math.round((-1 + (i + 1) / 10) * 10) / 10,
          count,
        })),
      },
      spearman: { requests: this.spearman.n, mean: this.spearman.value() },
      ndcgAtK: { requests: this.ndcg.n, mean: this.ndcg.value() },
      topKOverlap: { requests: this.topK.n, mean: this.topK.value() },
      confusion: this.confusion.map((row) => [...row]),
      worst: this.worst.sorted(),
      latencyMs: { student: latency(this.studentLatency), teacher: latency(this.teacherLatency) },
      noiseFloor:
        this.noiseRequests === 0
          ? null
          : {
              requests: this.noiseRequests,
              documents: this.noiseTeacher.documents,
              teacherVsTeacher: this.noiseTeacher.value(),
              studentVsTeacher: this.noiseStudent.value(),
            },
    };
  }

  scatterSample(): ScatterSample {
    return { total: this.scatter.seen, points: this.scatter.items.map(([s, t]) => [s, t]) };
  }

  private noteTime(time: string): void {
    const t = Date.parse(time);
    if (Number.isNaN(t)) return;
    if (!this.first || t < this.first.t) this.first = { t, s: time };
    if (!this.last || t > this.last.t) this.last = { t, s: time };
  }
}

function latency(s: NumberSummary): LatencySummary {
  const [p50, p95] = s.quantiles([0.5, 0.95]);
  return { count: s.count, mean: s.mean(), p50: p50 ?? null, p95: p95 ?? null };
}
