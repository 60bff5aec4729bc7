/**
 * Cache keys. A cached score may only answer a pair the same model would see
 * as the same input, so the key covers, in this order: the backend's config
 * name, the model identity it reported (name and version), a digest of the
 * configuration that shapes the model input and the reading of its output
 * (model text templates and budgets, the backend's prompt templates, tensors,
 * output kind), and the exact query and document text after normalisation
 * and truncation. The key is the SHA-256 of all of that (base64url, 43
 * characters): a fixed size whatever the text's length, and the same on
 * every replica.
 *
 * A request's query is hashed once; each document continues from a copy of
 * that state, so a 1000-document request hashes the query once, not 1000 times.
 */
import { createHash, type Hash } from "node:crypto";
import type { ModelIdentity } from "../backends/backend-client.js";

/** A stable digest of a JSON-like value: object keys sorted, so key order in a file does not matter. */
export function configDigest(value: unknown): string {
  return createHash("sha256").update(stableJson(value)).digest("hex").slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Returns the key of each document of one request's query. */
export type DocumentKeyer = (document: string) => string;

/** The hash state of (backend, model identity, config digest), from which every pair key continues. */
export class PairKeys {
  readonly #base: Hash;

  constructor(backend: string, identity: ModelIdentity, digest: string) {
    this.#base = createHash("sha256");
    // Length-prefixed, so no choice of names can make two different tuples hash the same.
    for (const part of [backend, identity.name, identity.version, digest]) lengthPrefixed(this.#base, part);
  }

  forQuery(query: string): DocumentKeyer {
    const q = this.#base.copy();
    lengthPrefixed(q, query);
    return (document) => q.copy().update(document).digest("base64url");
  }
}

function lengthPrefixed(hash: Hash, text: string): void {
  hash.update(`${Buffer.byteLength(text)}:`).update(text);
}

/** Whether two identities name the same model. */
export function sameIdentity(a: ModelIdentity | undefined, b: ModelIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.name === b.name && a.version === b.version;
}
