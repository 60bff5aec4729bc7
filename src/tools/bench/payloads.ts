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
    }
  | {
      readonly kind: "model-infer";
      readonly docsPerRequest: number;
      readonly seed: number;
      /** Triton model name; the simulator's default is relevance_student. */
      readonly model: string;
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
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const thing = pick(THINGS);
    return {
      id: `doc-${i}`,
      title: `${thing} ${i % 7 === 0 ? "— easy ideas" : ""}`.trim(),
      description: random() < 0.2 ? "" : `${thing}. ${FILLER.repeat(1 + Math.floor(random() * 3))}`.trim(),
      imageCaption: random() < 0.5 ? `a photo of ${thing} on a table` : "",
      boardTitles: [pick(BOARDS), pick(BOARDS)],
      engagedQueries: random() < 0.6 ? [pick(QUERIES), pick(QUERIES)] : [],
      linkText: "",
      locale: "en-US",
    };
  });
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
 * The request bodies for a workload, encoded once: Score messages, or the
 * ModelInfer messages the gateway would send to Triton for the same
 * requests (its default model text, BYTES [n,1] QUERY and DOCUMENT in
 * raw_input_contents, LOGITS asked for).
 */
export function buildPayloads(spec: WorkloadSpec): Payload[] {
  const requests = scoreRequests(spec.docsPerRequest, spec.seed, spec.kind === "score" ? spec.priority : 1);
  switch (spec.kind) {
    case "score":
      return requests.map((r) => ({ body: encodeScoreRequest(r), items: r.documents.length }));
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
