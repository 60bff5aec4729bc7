import {
  COMPARISON_RECORD_VERSION,
  type ComparisonRecord,
  type ModelAnswer,
} from "../../src/shadow/comparison-record.js";

/** A model answer for n documents: rotations of one probability row, so answers differ by `shift`. */
export function answer(backend: string, n: number, shift = 0): ModelAnswer {
  return {
    backend,
    model: `relevance_${backend}`,
    version: "3",
    latencyMs: 12.345,
    probabilities: Array.from({ length: n }, (_, i) => {
      const row = [0.05, 0.1, 0.15, 0.2, 0.5];
      return row.map((_, j) => row[(j + i + shift) % 5]!);
    }),
  };
}

/** A valid record of n documents (k = 2, so n ≥ 2). */
export function sampleRecord(n = 4): ComparisonRecord {
  return {
    v: COMPARISON_RECORD_VERSION,
    time: "2025-03-01T14:22:33.517Z",
    requestId: "req-1",
    experiment: "",
    route: "bulk",
    query: { text: "red running shoes", locale: "en-US" },
    documents: Array.from({ length: n }, (_, i) => ({ id: `doc-${i}`, modelText: `title: shoe ${i}` })),
    student: answer("student", n),
    teacher: answer("teacher", n, 1),
    comparison: {
      labelAgreement: 0.25,
      meanAbsErDelta: 0.4,
      kendallTau: -0.333333,
      spearman: null,
      ndcgAtK: 0.9,
      topKOverlap: 0.5,
      k: 2,
    },
  };
}
