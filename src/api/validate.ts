/**
 * Validation of a decoded ScoreRequest, before any routing or batching.
 * Every rejection is INVALID_ARGUMENT with a message that starts with the
 * proto field path a client sees (`documents[3].id: ...`), so a client can
 * fix its request without reading gateway code.
 *
 * Runs on every request: one pass over the documents, and UTF-8 lengths are
 * only measured when the cheap bound (3 bytes per UTF-16 unit) is not enough.
 * In two steps on the request path: the request's own fields and its
 * document count (`validateRequestFields`), then, once the request has not
 * been refused for load, its documents (`validateDocuments`).
 */

import type { CachePolicy } from "../cache/index.js";
import {
  CodecError,
  type DocumentMessage,
  documentCount,
  type QueryMessage,
  type ScoreRequestMessage,
  takeDocuments,
} from "../codec/index.js";
import { hasVisibleText } from "../model-text/index.js";
import { quoteClientText } from "../util/client-text.js";
import { GatewayError } from "../util/gateway-error.js";

export interface ValidationLimits {
  readonly maxDocumentsPerRequest: number;
  /** UTF-8 bytes of any one string (a title, one board title, an id, ...). */
  readonly maxFieldBytes: number;
  /** UTF-8 bytes of all strings of the request together. */
  readonly maxRequestTextBytes: number;
}

/** PRIORITY_UNSPECIFIED (0) and INTERACTIVE (1) → "interactive"; BULK (2) → "bulk"; BACKGROUND (3) → "background". */
export type Priority = "interactive" | "bulk" | "background";
/** ModelRole: 0 unspecified, 1 student, 2 teacher. */
export type ModelPreference = "unspecified" | "student" | "teacher";

/** A request whose own fields and document count are valid; its documents are not checked yet. */
export interface ValidatedFields {
  /** The client's request_id, or a generated one when it sent none. */
  readonly requestId: string;
  readonly message: ScoreRequestMessage;
  readonly query: QueryMessage;
  /** How many documents it carries (between 1 and the limit). */
  readonly documentCount: number;
  readonly routingKey: string;
  readonly experiment: string;
  readonly priority: Priority;
  readonly modelPreference: ModelPreference;
  readonly cachePolicy: CachePolicy;
  /** The text checked so far, which the documents' text adds to. */
  readonly text: TextChecker;
}

export interface ValidatedRequest extends ValidatedFields {
  readonly documents: readonly DocumentMessage[];
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: GatewayError };
export type Validation = Checked<ValidatedRequest>;

const PRIORITIES: readonly Priority[] = ["interactive", "interactive", "bulk", "background"];
const MODEL_PREFERENCES: readonly ModelPreference[] = ["unspecified", "student", "teacher"];
/** CachePolicy: 0 unspecified (use), 1 bypass, 2 refresh. */
const CACHE_POLICIES: readonly CachePolicy[] = ["use", "bypass", "refresh"];

/** Longest id echoed in a duplicate-id message (code units): the message travels in a gRPC header. */
const MAX_ECHOED_ID_CHARS = 64;

function invalid(message: string): { ok: false; error: GatewayError } {
  return { ok: false, error: new GatewayError("INVALID_REQUEST", message) };
}

/**
 * Checks strings against the field limit and keeps a running size of the
 * request's text. Strings short enough that 3 bytes per code unit fits the
 * field limit are not measured: their code units times three bound their
 * bytes. Only when that bound exceeds the request limit is the request
 * measured exactly. Paths are built only for the error message.
 */
export class TextChecker {
  measuredBytes = 0;
  unmeasuredUnits = 0;
  error = "";

  constructor(private readonly maxFieldBytes: number) {}

  /**
   * Whether `s` fits the field limit; otherwise sets `error`. The path is
   * `name`, `documents[i].name` or `documents[i].name[j]`.
   */
  fits(s: string, name: string, i = -1, j = -1): boolean {
    if (s.length * 3 <= this.maxFieldBytes) {
      this.unmeasuredUnits += s.length;
      return true;
    }
    const bytes = Buffer.byteLength(s);
    if (bytes <= this.maxFieldBytes) {
      this.measuredBytes += bytes;
      return true;
    }
    const path = i < 0 ? name : j < 0 ? `documents[${i}].${name}` : `documents[${i}].${name}[${j}]`;
    this.error = `${path}: ${bytes} bytes exceeds the limit of ${this.maxFieldBytes}`;
    return false;
  }

  /** An upper bound of the UTF-8 size of everything checked so far. */
  get maxTotalBytes(): number {
    return this.measuredBytes + this.unmeasuredUnits * 3;
  }
}

/** The message of a body that did not decode as a ScoreRequest, whole or in a deferred document. */
export function malformedBody(reason: string): string {
  return `request: not a valid relevance.v1.ScoreRequest (${reason})`;
}

/** The whole request: its fields, then its documents. */
export function validateScoreRequest(
  msg: ScoreRequestMessage,
  limits: ValidationLimits,
  newRequestId: () => string,
): Validation {
  const fields = validateRequestFields(msg, limits, newRequestId);
  return fields.ok ? validateDocuments(fields.value, limits) : fields;
}

/** Everything but the documents' content: what admission, routing and a load refusal need. */
export function validateRequestFields(
  msg: ScoreRequestMessage,
  limits: ValidationLimits,
  newRequestId: () => string,
): Checked<ValidatedFields> {
  const c = new TextChecker(limits.maxFieldBytes);

  if (!c.fits(msg.requestId, "request_id")) return invalid(c.error);
  const query = msg.query;
  if (query === undefined || !hasVisibleText(query.text)) return invalid("query.text: must not be empty");
  if (!c.fits(query.text, "query.text") || !c.fits(query.locale, "query.locale")) return invalid(c.error);
  if (!c.fits(msg.routingKey, "routing_key")) return invalid(c.error);
  if (!c.fits(msg.experiment, "experiment")) return invalid(c.error);

  const priority = PRIORITIES[msg.priority];
  if (priority === undefined) return invalid(`priority: unknown value ${msg.priority}`);
  const modelPreference = MODEL_PREFERENCES[msg.modelPreference];
  if (modelPreference === undefined) return invalid(`model_preference: unknown value ${msg.modelPreference}`);
  const cachePolicy = CACHE_POLICIES[msg.cachePolicy ?? 0];
  if (cachePolicy === undefined) return invalid(`cache_policy: unknown value ${msg.cachePolicy}`);

  const n = documentCount(msg);
  if (n === 0) return invalid("documents: must contain at least one document");
  if (n > limits.maxDocumentsPerRequest) {
    return invalid(
      `documents: ${n} documents exceed the limit of ${limits.maxDocumentsPerRequest} per request`,
    );
  }

  return {
    ok: true,
    value: {
      requestId: msg.requestId === "" ? newRequestId() : msg.requestId,
      message: msg,
      query,
      documentCount: n,
      routingKey: msg.routingKey,
      experiment: msg.experiment,
      priority,
      modelPreference,
      cachePolicy,
      text: c,
    },
  };
}

/**
 * The documents of a request whose fields passed: decoded when they were
 * deferred (a malformed one is INVALID_ARGUMENT, like a malformed body), then
 * ids, field limits, visible text and the request's total text.
 */
export function validateDocuments(fields: ValidatedFields, limits: ValidationLimits): Validation {
  const msg = fields.message;
  let documents: DocumentMessage[];
  try {
    documents = takeDocuments(msg);
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    return invalid(malformedBody(err.message));
  }
  const c = fields.text;
  const n = documents.length;
  const firstIndexById = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const doc = documents[i]!;
    if (doc.id === "") return invalid(`documents[${i}].id: must not be empty`);
    if (!c.fits(doc.id, "id", i)) return invalid(c.error);
    const first = firstIndexById.get(doc.id);
    if (first !== undefined) {
      return invalid(
        `documents[${i}].id: duplicate id ${quoteId(doc.id)} (first used by documents[${first}])`,
      );
    }
    firstIndexById.set(doc.id, i);
    const err = checkDocumentText(doc, i, c);
    if (err !== undefined) return invalid(err);
  }

  if (c.maxTotalBytes > limits.maxRequestTextBytes) {
    const total = exactTextBytes(msg, documents);
    if (total > limits.maxRequestTextBytes) {
      return invalid(
        `documents: request text of ${total} bytes exceeds the limit of ${limits.maxRequestTextBytes}`,
      );
    }
  }

  return { ok: true, value: { ...fields, documents } };
}

/** Field limits of a document's text, and whether any of it is visible; the error message or undefined. */
function checkDocumentText(doc: DocumentMessage, i: number, c: TextChecker): string | undefined {
  if (
    !c.fits(doc.title, "title", i) ||
    !c.fits(doc.description, "description", i) ||
    !c.fits(doc.imageCaption, "image_caption", i) ||
    !c.fits(doc.linkText, "link_text", i) ||
    !c.fits(doc.locale, "locale", i)
  ) {
    return c.error;
  }
  let listHasText = false;
  const boards = doc.boardTitles;
  for (let j = 0; j < boards.length; j++) {
    const s = boards[j]!;
    if (!c.fits(s, "board_titles", i, j)) return c.error;
    if (!listHasText) listHasText = hasVisibleText(s);
  }
  const queries = doc.engagedQueries;
  for (let j = 0; j < queries.length; j++) {
    const s = queries[j]!;
    if (!c.fits(s, "engaged_queries", i, j)) return c.error;
    if (!listHasText) listHasText = hasVisibleText(s);
  }
  // Whitespace and control characters render as nothing (see model-text), so
  // they are not text to score.
  if (
    !listHasText &&
    !hasVisibleText(doc.title) &&
    !hasVisibleText(doc.description) &&
    !hasVisibleText(doc.imageCaption) &&
    !hasVisibleText(doc.linkText)
  ) {
    return `documents[${i}]: has no text to score (title, description, image_caption, board_titles, engaged_queries and link_text are all empty)`;
  }
  return undefined;
}

/** UTF-8 size of every string of the request; only needed when the cheap upper bound is over the limit. */
function exactTextBytes(msg: ScoreRequestMessage, documents: readonly DocumentMessage[]): number {
  let total =
    Buffer.byteLength(msg.requestId) + Buffer.byteLength(msg.routingKey) + Buffer.byteLength(msg.experiment);
  if (msg.query) total += Buffer.byteLength(msg.query.text) + Buffer.byteLength(msg.query.locale);
  for (const d of documents) {
    total +=
      Buffer.byteLength(d.id) +
      Buffer.byteLength(d.title) +
      Buffer.byteLength(d.description) +
      Buffer.byteLength(d.imageCaption) +
      Buffer.byteLength(d.linkText) +
      Buffer.byteLength(d.locale);
    for (const s of d.boardTitles) total += Buffer.byteLength(s);
    for (const s of d.engagedQueries) total += Buffer.byteLength(s);
  }
  return total;
}

/** The id as a quoted, escaped literal, cut and marked when long. */
function quoteId(id: string): string {
  return quoteClientText(id, MAX_ECHOED_ID_CHARS);
}
