import { packBytesTensor } from "../../backends/triton/codec.js";
import {
  type DocumentMessage,
  encodeModelInferRequest,
  encodeScoreRequest,
  type ScoreRequestMessage,
} from "../../codec/index.js";
import { createModelText, defaultModelTextOptions } from "../../model-text/index.js";
import { mulberry32 } from "../common/rng.js";
import type { Payload } from "./load-client.js";
import { type ZipfWorkloadSpec, zipfRequests } from "./zipf-workload.js";

export const SCORE_PATH = "/relevance.v1.RelevanceService/Score";
export const MODEL_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer";

/** What the load generator sends: Score to a gateway (or the bare server), or ModelInfer straight to Triton. */
export type WorkloadSpec =
  | {
      readonly kind: "score";
      readonly docsPerRequest: number;
      readonly seed: number;
      /** PRIORITY_INTERACTIVE (1, the default), PRIORITY_BULK (2) or PRIORITY_BACKGROUND (3). */
      readonly priority?: number | undefined;
      /** The requests of this Zipf workload, in order, instead of the pool (docsPerRequest must match). */
      readonly zipf?: ZipfWorkloadSpec | undefined;
      /** `cache_policy`: 0 (use, the default) or CACHE_POLICY_BYPASS (1), which leaves the cache alone. */
      readonly cachePolicy?: number | undefined;
    }
  | {
      readonly kind: "model-infer";
      readonly docsPerRequest: number;
      readonly seed: number;
      /** Triton model name; the simulator's default is relevance_student. */
      readonly model: string;
      readonly zipf?: ZipfWorkloadSpec | undefined;
    };

export function workloadPath(spec: WorkloadSpec): string {
  return spec.kind === "score" ? SCORE_PATH : MODEL_INFER_PATH;
}

const QUERIES = [
  "chocolate chip cookies",
  "small balcony garden ideas",
  "scandinavian living room",
  "autumn outfit ideas",
  "lisbon travel tips",
  "クッキー レシピ",
];
const THINGS = [
  "chocolate chip cookies",
  "banana bread",
  "balcony herb garden",
  "floating shelves",
  "reading nook",
  "capsule wardrobe",
  "trench coat outfit",
  "Lisbon viewpoints",
  "Kyoto temples",
  "raised bed",
];
const BOARDS = ["Baking", "Desserts", "Garden", "Home decor", "DIY", "Style", "Travel", "旅行", "Plants 🌱"];
const FILLER =
  "Step by step with photos, what to buy, what to skip and the mistakes most people make the first time. ";

const POOL_REQUESTS = 64;

/**
 * Documents shaped like a ranking service's candidates (a title, usually a
 * description of varying length, sometimes a caption, boards and engaged
 * queries), the same for a given seed.
 */
export function benchDocuments(count: number, seed: number): DocumentMessage[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, (_, i) =>
    shapedDocument(random, `doc-${i}`, (thing) => `${thing} ${i % 7 === 0 ? "— easy ideas" : ""}`.trim()),
  );
}

/** One candidate-shaped document drawn from `random`: its thing, then each field in order. */
function shapedDocument(random: () => number, id: string, title: (thing: string) => string): DocumentMessage {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const thing = pick(THINGS);
  return {
    id,
    title: title(thing),
    description: random() < 0.2 ? "" : `${thing}. ${FILLER.repeat(1 + Math.floor(random() * 3))}`.trim(),
    imageCaption: random() < 0.5 ? `a photo of ${thing} on a table` : "",
    boardTitles: [pick(BOARDS), pick(BOARDS)],
    engagedQueries: random() < 0.6 ? [pick(QUERIES), pick(QUERIES)] : [],
    linkText: "",
    locale: "en-US",
  };
}

/** `POOL_REQUESTS` Score requests of `docsPerRequest` documents each, as the gateway would receive them. */
export function scoreRequests(docsPerRequest: number, seed: number, priority = 1): ScoreRequestMessage[] {
  const pool = benchDocuments(POOL_REQUESTS * docsPerRequest, seed);
  return Array.from({ length: POOL_REQUESTS }, (_, r) => ({
    requestId: `bench-${seed}-${r}`,
    query: { text: QUERIES[r % QUERIES.length]!, locale: "en-US" },
    documents: pool.slice(r * docsPerRequest, (r + 1) * docsPerRequest),
    routingKey: `user-${r}`,
    experiment: "",
    priority,
    modelPreference: 0,
  }));
}

/**
 * The Score requests of a Zipf workload (zipf-workload.ts), in its order:
 * query q's text and the document of its candidate c are the same wherever
 * the pair comes back, and differ from every other pair's, so the gateway
 * sees exactly the workload's repeats.
 */
export function zipfScoreRequests(spec: ZipfWorkloadSpec, priority = 1): ScoreRequestMessage[] {
  return zipfRequests(spec).map((r, i) => ({
    requestId: `bench-zipf-${spec.seed}-${i}`,
    query: { text: `${QUERIES[r.query % QUERIES.length]!} ${r.query + 1}`, locale: "en-US" },
    documents: r.candidates.map((c) => candidateDocument(r.query, c, spec.seed)),
    routingKey: `user-${i % POOL_REQUESTS}`,
    experiment: "",
    priority,
    modelPreference: 0,
  }));
}

/** Candidate `c` of query `q`: shaped like benchDocuments' documents, numbered so no two of a query are alike. */
function candidateDocument(q: number, c: number, seed: number): DocumentMessage {
  const random = mulberry32((seed ^ Math.imul(q + 1, 0x9e3779b1) ^ Math.imul(c + 1, 0x85ebca6b)) >>> 0);
  return shapedDocument(random, `q${q}-c${c}`, (thing) => `${thing} no. ${c + 1}`);
}

/**
 * The request bodies for a workload, encoded once: Score messages, or the
 * ModelInfer messages the gateway would send to Triton for the same
 * requests (its default model text, BYTES [n,1] QUERY and DOCUMENT in
 * raw_input_contents, LOGITS asked for).
 */
export function buildPayloads(spec: WorkloadSpec): Payload[] {
  const priority = spec.kind === "score" ? spec.priority : 1;
  const requests =
    spec.zipf === undefined
      ? scoreRequests(spec.docsPerRequest, spec.seed, priority)
      : zipfScoreRequests(spec.zipf, priority);
  switch (spec.kind) {
    case "score": {
      const cachePolicy = spec.cachePolicy ?? 0;
      return requests.map((r) => ({
        body: encodeScoreRequest(cachePolicy === 0 ? r : { ...r, cachePolicy }),
        items: r.documents.length,
      }));
    }
    case "model-infer": {
      const text = createModelText(defaultModelTextOptions);
      return requests.map((r) => {
        const n = r.documents.length;
        const query = text.query(r.query?.text ?? "");
        const body = encodeModelInferRequest({
          modelName: spec.model,
          modelVersion: "",
          id: r.requestId,
          parameters: {},
          inputs: [
            { name: "QUERY", datatype: "BYTES", shape: [n, 1], parameters: {}, contents: undefined },
            { name: "DOCUMENT", datatype: "BYTES", shape: [n, 1], parameters: {}, contents: undefined },
          ],
          outputs: [{ name: "LOGITS", parameters: {} }],
          rawInputContents: [
            packBytesTensor(Array.from({ length: n }, () => query)),
            packBytesTensor(r.documents.map((d) => text.document(d))),
          ],
        });
        return { body, items: n };
      });
    }
    default: {
      const _: never = spec;
      return _;
    }
  }
}
