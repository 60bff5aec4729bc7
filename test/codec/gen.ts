/**
 * Seeded generators of random but valid messages for the cross-checks, so a
 * failure reproduces from its seed.
 */

import type {
  DocumentMessage,
  DocumentScoreMessage,
  InferParameterValue,
  InferTensorContentsMessage,
  InferTensorMessage,
  ModelInferRequestMessage,
  ModelInferResponseMessage,
  ScoreRequestMessage,
  ScoreResponseMessage,
} from "../../src/codec/index.js";
import { mulberry32 } from "../../src/util/mulberry32.js";

/** The seeded PRNG that drives test data (mulberry32). */
export const prng: (seed: number) => () => number = mulberry32;

export type Rand = () => number;

export function int(rand: Rand, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

function pick<T>(rand: Rand, a: readonly T[]): T {
  return a[int(rand, 0, a.length - 1)]!;
}

/** Well-formed text in several scripts (no lone surrogates: those do not round-trip by design). */
export const TEXTS = [
  "",
  "a",
  "red sofa",
  "mid-century modern living room ideas",
  "客厅装修 北欧风格",
  "東京のカフェ巡り",
  "غرفة معيشة عصرية",
  "emoji 🛋️👩‍👩‍👧 party 🎉",
  "combining e\u0301 a\u0308 n\u0303",
  "x".repeat(200),
  "long text ".repeat(40),
];

function text(rand: Rand): string {
  return rand() < 0.8 ? pick(rand, TEXTS) : `${pick(rand, TEXTS)} ${int(rand, 0, 1e6)}`;
}

function texts(rand: Rand, max: number): string[] {
  const n = int(rand, 0, max);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(text(rand));
  return out;
}

/** A value that survives fp32 (probabilities and expected relevance are `float`). */
function f32(rand: Rand): number {
  return rand() < 0.1 ? 0 : Math.fround(rand() * 5);
}

function document(rand: Rand): DocumentMessage {
  return {
    id: text(rand),
    title: text(rand),
    description: text(rand),
    imageCaption: text(rand),
    boardTitles: texts(rand, 4),
    engagedQueries: texts(rand, 4),
    linkText: text(rand),
    locale: pick(rand, ["", "en-US", "ja", "ar"]),
  };
}

/** Enum values include unknown and negative numbers: decoders keep the raw number. */
function enumValue(rand: Rand): number {
  return pick(rand, [0, 0, 1, 2, 7, -1, 2147483647]);
}

export function scoreRequest(rand: Rand, maxDocs = 8): ScoreRequestMessage {
  const documents: DocumentMessage[] = [];
  const n = int(rand, 0, maxDocs);
  for (let i = 0; i < n; i++) documents.push(document(rand));
  return {
    requestId: text(rand),
    query: rand() < 0.85 ? { text: text(rand), locale: pick(rand, ["", "en-US"]) } : undefined,
    documents,
    routingKey: text(rand),
    experiment: text(rand),
    priority: enumValue(rand),
    modelPreference: enumValue(rand),
    cachePolicy: enumValue(rand),
  };
}

function documentScore(rand: Rand): DocumentScoreMessage {
  const probabilities: number[] = [];
  const n = rand() < 0.9 ? 5 : int(rand, 0, 3);
  for (let i = 0; i < n; i++) probabilities.push(f32(rand));
  return {
    documentId: text(rand),
    probabilities,
    expectedRelevance: f32(rand),
    label: pick(rand, [0, 1, 5, -3]),
    cached: rand() < 0.5,
  };
}

export function scoreResponse(rand: Rand, maxScores = 8): ScoreResponseMessage {
  const scores: DocumentScoreMessage[] = [];
  const n = int(rand, 0, maxScores);
  for (let i = 0; i < n; i++) scores.push(documentScore(rand));
  return {
    requestId: text(rand),
    scores,
    model:
      rand() < 0.8
        ? {
            role: enumValue(rand),
            name: text(rand),
            version: pick(rand, ["", "1", "12"]),
            backend: text(rand),
          }
        : undefined,
    route: pick(rand, ["", "bulk", "canary", "experiment:ab-7"]),
  };
}

/** int64 values that survive the trip through a double: small, negative, and beyond 32 bits. */
function int64(rand: Rand): number {
  return pick(rand, [0, 1, -1, 127, 128, 300, 2 ** 31, -(2 ** 31), 2 ** 32 + 5, 2 ** 53 - 1, -(2 ** 53 - 1)]);
}

function uint64(rand: Rand): number {
  return pick(rand, [0, 1, 127, 128, 2 ** 32, 2 ** 53 - 1]);
}

export function parameterValue(rand: Rand): InferParameterValue {
  switch (int(rand, 0, 4)) {
    case 0:
      return { kind: "bool", value: rand() < 0.5 };
    case 1:
      return { kind: "int64", value: int64(rand) };
    case 2:
      return { kind: "string", value: text(rand) };
    case 3:
      return { kind: "double", value: pick(rand, [0, -0.5, Math.PI, 1e300, -1e-300]) };
    default:
      return { kind: "uint64", value: uint64(rand) };
  }
}

export function parameters(rand: Rand, max = 3): Record<string, InferParameterValue> {
  const out: Record<string, InferParameterValue> = {};
  const n = int(rand, 0, max);
  for (let i = 0; i < n; i++)
    out[pick(rand, ["", "priority", "timeout", "名前", `k${i}`])] = parameterValue(rand);
  return out;
}

function list<T>(rand: Rand, max: number, gen: (rand: Rand) => T): T[] {
  const n = int(rand, 0, max);
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(gen(rand));
  return out;
}

function bytes(rand: Rand): Uint8Array {
  const b = new Uint8Array(int(rand, 0, 40));
  for (let i = 0; i < b.length; i++) b[i] = int(rand, 0, 255);
  return b;
}

export function contents(rand: Rand): InferTensorContentsMessage {
  return {
    boolContents: list(rand, 4, (r) => r() < 0.5),
    intContents: list(rand, 4, (r) => pick(r, [0, 1, -1, 2147483647, -2147483648, 300])),
    int64Contents: list(rand, 4, int64),
    uintContents: list(rand, 4, (r) => pick(r, [0, 1, 4294967295, 128])),
    uint64Contents: list(rand, 4, uint64),
    fp32Contents: list(rand, 4, f32),
    fp64Contents: list(rand, 4, (r) => pick(r, [0, -0.25, Math.E, 1e-310])),
    bytesContents: list(rand, 4, bytes),
  };
}

export function tensor(rand: Rand): InferTensorMessage {
  return {
    name: pick(rand, ["", "QUERY", "DOCUMENT", "PROBS"]),
    datatype: pick(rand, ["", "BYTES", "FP32", "INT64"]),
    shape: list(rand, 3, (r) => pick(r, [-1, 0, 1, 5, 256, 2 ** 40])),
    parameters: parameters(rand),
    contents: rand() < 0.6 ? contents(rand) : undefined,
  };
}

export function modelInferRequest(rand: Rand): ModelInferRequestMessage {
  return {
    modelName: text(rand),
    modelVersion: pick(rand, ["", "1"]),
    id: text(rand),
    parameters: parameters(rand),
    inputs: list(rand, 3, tensor),
    outputs: list(rand, 2, (r) => ({ name: pick(r, ["", "PROBS"]), parameters: parameters(r) })),
    rawInputContents: list(rand, 3, bytes),
  };
}

export function modelInferResponse(rand: Rand): ModelInferResponseMessage {
  return {
    modelName: text(rand),
    modelVersion: pick(rand, ["", "1"]),
    id: text(rand),
    parameters: parameters(rand),
    outputs: list(rand, 3, tensor),
    rawOutputContents: list(rand, 3, bytes),
  };
}
