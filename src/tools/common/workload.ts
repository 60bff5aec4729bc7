import type { DocumentMessage } from "../../codec/index.js";
import { createModelText, defaultModelTextOptions, type ModelTextOptions } from "../../model-text/index.js";
import { mulberry32 } from "../../util/mulberry32.js";

/** One request's worth of model input: the query text and `docsPerRequest` document texts. */
export interface TuneRequest {
  readonly query: string;
  readonly documents: readonly string[];
}

export interface WorkloadOptions {
  readonly docsPerRequest: number;
  /** The gateway's model-text settings, so texts have the lengths the backend will really see. */
  readonly modelText?: ModelTextOptions | undefined;
  /** Seed of the text generator; the same seed gives the same texts. */
  readonly seed?: number | undefined;
}

export interface Workload {
  /** The next request (cycling through a pre-built pool: no text is built on the hot path). */
  next(): TuneRequest;
}

interface Topic {
  readonly queries: readonly string[];
  readonly things: readonly string[];
  readonly boards: readonly string[];
}

// A few topics with their own words, so that documents are about something a
// query can match or miss, like the real mix where most candidates are weak.
const TOPICS: readonly Topic[] = [
  {
    queries: ["chocolate chip cookies", "easy weeknight dinner", "vegan banana bread", "クッキー レシピ"],
    things: ["chocolate chip cookies", "banana bread", "one-pot pasta", "lemon drizzle cake", "ramen"],
    boards: ["Baking", "Desserts", "Quick dinners", "Recettes faciles"],
  },
  {
    queries: ["small balcony garden ideas", "tomato plant care", "shade perennials"],
    things: ["balcony herb garden", "raised bed", "tomato trellis", "shade perennials", "compost bin"],
    boards: ["Garden", "Balcony", "Urban jardin", "Plants 🌱"],
  },
  {
    queries: ["scandinavian living room", "diy floating shelves", "small bathroom makeover"],
    things: ["floating shelves", "reading nook", "scandi living room", "tiled bathroom", "gallery wall"],
    boards: ["Home decor", "DIY", "Apartment ideas", "Wohnzimmer"],
  },
  {
    queries: ["autumn outfit ideas", "capsule wardrobe", "wedding guest dress"],
    things: ["capsule wardrobe", "trench coat outfit", "wedding guest dress", "knit cardigan", "sneakers"],
    boards: ["Style", "Outfits", "Tenues d'automne", "Fashion ✨"],
  },
  {
    queries: ["lisbon travel tips", "weekend hike near me", "japan itinerary 10 days"],
    things: ["Lisbon viewpoints", "Kyoto temples", "coastal hike", "packing list", "night market"],
    boards: ["Travel", "Wanderlust", "旅行", "Hiking"],
  },
];

const ADJECTIVES = ["easy", "cozy", "minimal", "budget", "classic", "bold", "rustic", "modern", "quick"];
const FILLER =
  "Step by step with photos, what to buy, what to skip and the mistakes most people make the first time. " +
  "Tested over several weekends, with notes on timing, substitutions and how it holds up a week later. ";

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function some<T>(rand: () => number, items: readonly T[], max: number): T[] {
  return Array.from({ length: Math.floor(rand() * (max + 1)) }, () => pick(rand, items));
}

/** A document like the ones ranking services send: most fields optional, lengths from a title to a page. */
function randomDocument(rand: () => number, i: number): DocumentMessage {
  const topic = pick(rand, TOPICS);
  const thing = pick(rand, topic.things);
  const title = `${pick(rand, ADJECTIVES)} ${thing}${rand() < 0.3 ? ` — ${pick(rand, ADJECTIVES)} ideas` : ""}`;
  // Description lengths are skewed: many empty or short, a few near the 1 KiB budget.
  const words = Math.floor(rand() ** 2 * 6);
  return {
    id: `tune-${i}`,
    title,
    description: rand() < 0.2 ? "" : `${title}. ${FILLER.repeat(words)}`.trim(),
    imageCaption: rand() < 0.5 ? `a photo of ${thing} on a ${pick(rand, ["table", "shelf", "street"])}` : "",
    boardTitles: some(rand, topic.boards, 4),
    engagedQueries: some(rand, topic.queries, 5),
    linkText: rand() < 0.4 ? `The ${thing} guide` : "",
    locale: "",
  };
}

const POOL_DOCUMENTS = 512;

/**
 * Builds a pool of varied queries and documents as model text (the exact
 * strings the gateway would send), then hands them out round-robin, offset
 * per request so that consecutive requests do not repeat the same set.
 */
export function createWorkload(opts: WorkloadOptions): Workload {
  const rand = mulberry32(opts.seed ?? 1);
  const modelText = createModelText(opts.modelText ?? defaultModelTextOptions);
  const queries = TOPICS.flatMap((t) => t.queries).map((q) => modelText.query(q));
  const documents = Array.from({ length: POOL_DOCUMENTS }, (_, i) =>
    modelText.document(randomDocument(rand, i)),
  );
  const n = opts.docsPerRequest;
  let request = 0;
  return {
    next() {
      const start = (request * 7 * n) % POOL_DOCUMENTS;
      const docs: string[] = new Array(n);
      for (let i = 0; i < n; i++) docs[i] = documents[(start + i) % POOL_DOCUMENTS]!;
      const query = queries[request % queries.length]!;
      request++;
      return { query, documents: docs };
    },
  };
}
