/**
 * Throughput of the hand-written codec against what grpc-js would otherwise
 * run: proto-loader's serializer/deserializer (protobufjs fromObject+encode,
 * decode+toObject), and protobufjs's bare encode/decode as a lower bound.
 *
 * Run: node --import ./node_modules/@tapjs/typescript/dist/esm/import.mjs src/tools/bench/micro/codec-bench.ts
 * (tap's TypeScript loader; set BENCH_MS to change the time per measurement).
 */

import path from "node:path";
import { fileURLToPath } from "node:url";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import {
  DeferredScoreRequest,
  type DocumentMessage,
  decodeModelInferResponse,
  decodeScoreRequest,
  encodeModelInferRequest,
  encodeModelInferResponse,
  encodeScoreRequest,
  encodeScoreResponse,
  type InferTensorMessage,
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
  type ScoreRequestMessage,
  type ScoreResponseMessage,
} from "../../../codec/index.js";

const protoDir = fileURLToPath(new URL("../../../../proto", import.meta.url));
const LOADER_OPTIONS = {
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [protoDir],
};
const definition = protoLoader.loadSync(
  [path.join(protoDir, "relevance/v1/relevance.proto"), path.join(protoDir, "inference/grpc_service.proto")],
  LOADER_OPTIONS,
);

interface MethodDef {
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
}

function method(service: string, name: string): MethodDef {
  return (definition[service] as unknown as Record<string, MethodDef>)[name]!;
}
const score = method("relevance.v1.RelevanceService", "Score");
const infer = method("inference.GRPCInferenceService", "ModelInfer");

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
root.loadSync(["relevance/v1/relevance.proto", "inference/grpc_service.proto"]);
const ScoreRequest = root.lookupType("relevance.v1.ScoreRequest");
const ScoreResponse = root.lookupType("relevance.v1.ScoreResponse");
const ModelInferRequest = root.lookupType("inference.ModelInferRequest");
const ModelInferResponse = root.lookupType("inference.ModelInferResponse");

// ---- realistic messages --------------------------------------------------

const WORDS =
  "sofa living room modern grey velvet plant boho kitchen ideas small apartment cozy reading nook".split(" ");

function sentence(i: number, words: number): string {
  let s = "";
  for (let w = 0; w < words; w++) s += `${w === 0 ? "" : " "}${WORDS[(i * 7 + w * 3) % WORDS.length]}`;
  return s;
}

function document(i: number): DocumentMessage {
  return {
    id: `pin-${100000000 + i}`,
    title: `${sentence(i, 8)} ${i % 10 === 0 ? "リビング" : ""}`,
    description: sentence(i + 1, 45),
    imageCaption: sentence(i + 2, 18),
    boardTitles: [sentence(i, 3), sentence(i + 3, 2), sentence(i + 5, 3)],
    engagedQueries: [
      sentence(i, 2),
      sentence(i + 1, 3),
      sentence(i + 2, 2),
      sentence(i + 4, 4),
      sentence(i + 6, 2),
    ],
    linkText: sentence(i + 3, 80),
    locale: "en-US",
  };
}

const scoreRequest: ScoreRequestMessage = {
  requestId: "0b6f1c2e-8a57-4d7e-9a51-3f0f6a1d2c9b",
  query: { text: "modern living room ideas", locale: "en-US" },
  documents: Array.from({ length: 100 }, (_, i) => document(i)),
  routingKey: "user-1234567",
  experiment: "",
  priority: 1,
  modelPreference: 0,
};

const scoreResponse: ScoreResponseMessage = {
  requestId: scoreRequest.requestId,
  scores: Array.from({ length: 100 }, (_, i) => ({
    documentId: `pin-${100000000 + i}`,
    probabilities: new Float32Array([0.05, 0.1, 0.2, 0.4, 0.25]),
    expectedRelevance: 3.7,
    label: 4,
  })),
  model: { role: 1, name: "relevance_student", version: "3", backend: "student" },
  route: "canary",
};

function bytesTensor(name: string, texts: Buffer[]): InferTensorMessage {
  return {
    name,
    datatype: "BYTES",
    shape: [texts.length, 1],
    parameters: {},
    contents: {
      boolContents: [],
      intContents: [],
      int64Contents: [],
      uintContents: [],
      uint64Contents: [],
      fp32Contents: [],
      fp64Contents: [],
      bytesContents: texts,
    },
  };
}

const queries = Array.from({ length: 256 }, (_, i) => Buffer.from(`query: ${sentence(i % 5, 4)}`));
const docs = Array.from({ length: 256 }, (_, i) => {
  const d = document(i);
  return Buffer.from(`title: ${d.title} | caption: ${d.imageCaption} | boards: ${d.boardTitles.join(", ")}`);
});
const inferRequest: ModelInferRequestMessage = {
  modelName: "relevance_student",
  modelVersion: "",
  id: "batch-42",
  parameters: {},
  inputs: [bytesTensor("QUERY", queries), bytesTensor("DOCUMENT", docs)],
  outputs: [{ name: "PROBS", parameters: {} }],
  rawInputContents: [],
};

const probs = new Float32Array(256 * 5).map((_, i) => ((i % 5) + 1) / 15);
const rawResponse: ModelInferResponseMessage = {
  modelName: "relevance_student",
  modelVersion: "3",
  id: "batch-42",
  parameters: {},
  outputs: [{ name: "PROBS", datatype: "FP32", shape: [256, 5], parameters: {}, contents: undefined }],
  rawOutputContents: [Buffer.from(probs.buffer)],
};
const fp32Response: ModelInferResponseMessage = {
  ...rawResponse,
  outputs: [
    {
      ...rawResponse.outputs[0]!,
      contents: { ...bytesTensor("", []).contents!, fp32Contents: Array.from(probs) },
    },
  ],
  rawOutputContents: [],
};

// proto-loader takes plain objects in its own shape; for these messages only `probabilities` differs (an array).
const scoreResponseObject = {
  ...scoreResponse,
  scores: scoreResponse.scores.map((s) => ({ ...s, probabilities: Array.from(s.probabilities) })),
};

// ---- measurement -----------------------------------------------------------

const BENCH_MS = Number(process.env.BENCH_MS ?? 300);
const ROUNDS = 7;
let sink: unknown;

/** ops/s of `fn` over about BENCH_MS. */
function rate(fn: () => unknown): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < BENCH_MS) {
    for (let i = 0; i < 10; i++) sink = fn();
    n += 10;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

interface Row {
  name: string;
  bytes: number;
  ours: () => unknown;
  loader: () => unknown;
  bare: () => unknown;
}

const rows: Row[] = [];
{
  const buf = encodeScoreRequest(scoreRequest);
  rows.push({
    name: "decode ScoreRequest, 100 documents",
    bytes: buf.length,
    ours: () => decodeScoreRequest(buf),
    loader: () => score.requestDeserialize(buf),
    bare: () => ScoreRequest.decode(buf),
  });
  // What the server does first: every field but the documents, which are framed and counted.
  rows.push({
    name: "read ScoreRequest, 100 documents deferred",
    bytes: buf.length,
    ours: () => new DeferredScoreRequest(buf).documentCount,
    loader: () => score.requestDeserialize(buf),
    bare: () => ScoreRequest.decode(buf),
  });
}
{
  const message = ScoreResponse.fromObject(scoreResponseObject);
  rows.push({
    name: "encode ScoreResponse, 100 scores",
    bytes: encodeScoreResponse(scoreResponse).length,
    ours: () => encodeScoreResponse(scoreResponse),
    loader: () => score.responseSerialize(scoreResponseObject),
    bare: () => ScoreResponse.encode(message).finish(),
  });
}
{
  const message = ModelInferRequest.fromObject(inferRequest);
  rows.push({
    name: "encode ModelInferRequest, 256 pairs (bytes_contents)",
    bytes: encodeModelInferRequest(inferRequest).length,
    ours: () => encodeModelInferRequest(inferRequest),
    loader: () => infer.requestSerialize(inferRequest),
    bare: () => ModelInferRequest.encode(message).finish(),
  });
}
for (const [label, response] of [
  ["raw_output_contents", rawResponse],
  ["fp32_contents", fp32Response],
] as const) {
  const buf = encodeModelInferResponse(response);
  rows.push({
    name: `decode ModelInferResponse, 256x5 fp32 (${label})`,
    bytes: buf.length,
    ours: () => decodeModelInferResponse(buf),
    loader: () => infer.responseDeserialize(buf),
    bare: () => ModelInferResponse.decode(buf),
  });
}

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US").padStart(10);
console.log(
  `node ${process.version}; ${ROUNDS} interleaved rounds of ${BENCH_MS} ms per contender; ` +
    "ops/s and ratios are medians over the rounds (ratio = ours / other, paired per round)\n",
);
for (const row of rows) {
  for (const fn of [row.ours, row.loader, row.bare]) rate(fn); // warm-up
  const ours: number[] = [];
  const loader: number[] = [];
  const bare: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(rate(row.ours));
    loader.push(rate(row.loader));
    bare.push(rate(row.bare));
  }
  const vsLoader = median(ours.map((o, i) => o / loader[i]!));
  const vsBare = median(ours.map((o, i) => o / bare[i]!));
  console.log(`${row.name} (${row.bytes} bytes)`);
  console.log(`  ours         ${fmt(median(ours))}`);
  console.log(`  proto-loader ${fmt(median(loader))}   ours ×${vsLoader.toFixed(2)}`);
  console.log(
    `  protobufjs   ${fmt(median(bare))}   ours ×${vsBare.toFixed(2)}  (bare encode/decode, no object conversion)`,
  );
}
if (sink === undefined) console.log("");
