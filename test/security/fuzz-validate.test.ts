/**
 * Property tests of request validation and model-text assembly on hostile
 * input (huge strings, lone surrogates, control and layout characters, empty
 * and maximal lists, every optional field missing). 8,000 generated cases.
 *
 * Validation either accepts, or refuses with INVALID_ARGUMENT naming a field;
 * it agrees with an independent statement of the input rules; and what it
 * accepts renders to model text within its byte budgets, without control
 * characters or lone surrogates, with a label for every field that has text.
 */

import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import t from "tap";
import { type ValidationLimits, validateScoreRequest } from "../../src/api/validate.js";
import type { DocumentMessage, ScoreRequestMessage } from "../../src/codec/index.js";
import {
  createModelText,
  defaultModelTextOptions,
  type ModelTextField,
  type ModelTextFieldOptions,
  type ModelTextOptions,
  normaliseText,
} from "../../src/model-text/index.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { hasLoneSurrogate, hostileDocument, hostileText, mostlyValidRequest } from "./fuzz-arbitraries.js";

/** Every field path a validation message may start with, as the proto names it. */
const FIELD_PATH =
  /^(request_id|query\.text|query\.locale|routing_key|experiment|priority|model_preference|cache_policy|documents|documents\[\d+\](\.(id|title|description|image_caption|link_text|locale)|\.(board_titles|engaged_queries)\[\d+\])?): \S/;

/** The message travels in the grpc-message header: it must stay short and encodable. */
const MAX_MESSAGE_CHARS = 400;

const bytes = (s: string) => Buffer.byteLength(s);

function allStrings(m: ScoreRequestMessage): string[] {
  const out = [m.requestId, m.routingKey, m.experiment];
  if (m.query) out.push(m.query.text, m.query.locale);
  for (const d of m.documents) {
    out.push(d.id, d.title, d.description, d.imageCaption, d.linkText, d.locale);
    out.push(...d.boardTitles, ...d.engagedQueries);
  }
  return out;
}

const hasText = (s: string) => normaliseText(s) !== "";

function documentHasText(d: DocumentMessage): boolean {
  return [d.title, d.description, d.imageCaption, d.linkText, ...d.boardTitles, ...d.engagedQueries].some(
    hasText,
  );
}

/** The input rules of the README, stated independently of validate.ts. */
function acceptable(m: ScoreRequestMessage, limits: ValidationLimits): boolean {
  const strings = allStrings(m);
  if (strings.some((s) => bytes(s) > limits.maxFieldBytes)) return false;
  if (strings.reduce((sum, s) => sum + bytes(s), 0) > limits.maxRequestTextBytes) return false;
  if (m.query === undefined || !hasText(m.query.text)) return false;
  // PRIORITY_* 0–3 (3: BACKGROUND), ModelRole 0–2, CachePolicy 0–2.
  if (![0, 1, 2, 3].includes(m.priority) || ![0, 1, 2].includes(m.modelPreference)) return false;
  if (![0, 1, 2].includes(m.cachePolicy ?? 0)) return false;
  const n = m.documents.length;
  if (n === 0 || n > limits.maxDocumentsPerRequest) return false;
  const ids = new Set(m.documents.map((d) => d.id));
  if (ids.size !== n || ids.has("")) return false;
  return m.documents.every(documentHasText);
}

/** The field paths refusals named, with indexes replaced by `[]`. */
const refusedFields = new Set<string>();

/** Validates; a throw of anything fails the property. Returns whether it was accepted. */
function checkValidation(m: ScoreRequestMessage, limits: ValidationLimits): boolean {
  const result = validateScoreRequest(m, limits, () => "generated-id");
  if (!result.ok) refusedFields.add(result.error.message.split(":")[0]!.replace(/\[\d+\]/g, "[]"));
  if (result.ok) {
    if (m.requestId === "" && result.value.requestId !== "generated-id") throw new Error("no request id");
  } else {
    const e = result.error;
    if (!(e instanceof GatewayError)) throw new Error(`not a GatewayError: ${String(e)}`);
    if (e.code !== status.INVALID_ARGUMENT || e.reason !== "INVALID_REQUEST") {
      throw new Error(`code ${e.code} reason ${e.reason}: ${e.message}`);
    }
    if (!FIELD_PATH.test(e.message)) throw new Error(`message names no field: ${e.message.slice(0, 200)}`);
    if (e.message.length > MAX_MESSAGE_CHARS || hasLoneSurrogate(e.message)) {
      throw new Error(`message too long or not well-formed: ${e.message.slice(0, 200)}`);
    }
  }
  if (result.ok !== acceptable(m, limits)) {
    throw new Error(`validation ${result.ok ? "accepted" : "refused"} against the rules`);
  }
  return result.ok;
}

const FIELD_GETTERS: Record<ModelTextField, (d: DocumentMessage) => readonly string[]> = {
  title: (d) => [d.title],
  description: (d) => [d.description],
  imageCaption: (d) => [d.imageCaption],
  boardTitles: (d) => d.boardTitles,
  engagedQueries: (d) => d.engagedQueries,
  linkText: (d) => [d.linkText],
};

/** A rendered value: normalised text, no control characters, no lone surrogates, within `maxBytes`. */
function checkValue(value: string, maxBytes: number, what: string): void {
  if (bytes(value) > maxBytes) throw new Error(`${what}: ${bytes(value)} bytes over ${maxBytes}`);
  if (hasLoneSurrogate(value)) throw new Error(`${what}: lone surrogate`);
  if (/\p{Cc}|[^\S ]| {2}/u.test(value)) throw new Error(`${what}: control character or raw whitespace`);
  if (value !== value.trim()) throw new Error(`${what}: leading or trailing space`);
}

/**
 * Checks a document's model text, for options whose separator is "\n": one
 * line per field with text, in configured order, each within its budget.
 */
function checkDocumentText(text: string, d: DocumentMessage, opts: ModelTextOptions): void {
  if (hasLoneSurrogate(text)) throw new Error("document text: lone surrogate");
  const lines = text === "" ? [] : text.split("\n");
  let next = 0;
  for (const f of opts.fields) {
    const renders = FIELD_GETTERS[f.field](d).some(hasText);
    const line = lines[next];
    const prefix = `${f.label}: `;
    if (line?.startsWith(prefix)) {
      checkValue(line.slice(prefix.length), f.maxBytes, f.field);
      next++;
    } else if (renders && f.maxBytes >= 4) {
      throw new Error(`${f.field} has text but no line`);
    }
  }
  if (next !== lines.length) throw new Error(`unexpected line: ${JSON.stringify(lines[next])}`);
}

function checkModelText(m: ScoreRequestMessage, opts: ModelTextOptions): void {
  const modelText = createModelText(opts);
  const query = modelText.query(m.query?.text ?? "");
  checkValue(query, opts.queryMaxBytes, "query");
  for (const d of m.documents) checkDocumentText(modelText.document(d), d, opts);
}

/** Limits small enough that random input crosses every one of them. */
const smallLimits: fc.Arbitrary<ValidationLimits> = fc
  .record({
    maxDocumentsPerRequest: fc.integer({ min: 1, max: 6 }),
    maxFieldBytes: fc.integer({ min: 1, max: 600 }),
    extraRequestBytes: fc.integer({ min: 0, max: 3000 }),
  })
  .map((l) => ({
    maxDocumentsPerRequest: l.maxDocumentsPerRequest,
    maxFieldBytes: l.maxFieldBytes,
    maxRequestTextBytes: l.maxFieldBytes + l.extraRequestBytes,
  }));

const defaultLimits: ValidationLimits = {
  maxDocumentsPerRequest: 1000,
  maxFieldBytes: 64 * 1024,
  maxRequestTextBytes: 8 * 1024 * 1024,
};

t.test("validation on hostile requests, small limits: 4,000 cases", async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(
      smallLimits.chain((limits) =>
        fc.tuple(
          fc.constant(limits),
          mostlyValidRequest({
            loneSurrogates: true,
            maxRepeat: 400,
            maxDocuments: limits.maxDocumentsPerRequest,
            maxListItems: 12,
          }),
        ),
      ),
      ([limits, m]) => {
        if (checkValidation(m, limits)) {
          accepted++;
          checkModelText(m, defaultModelTextOptions);
        }
      },
    ),
    { numRuns: 4000, seed: 901 },
  );
  // A property over input that validation always refuses would test nothing.
  t.ok(accepted > 500, `${accepted} of 4000 accepted`);
  const expected = [
    "request_id",
    "query.text",
    "query.locale",
    "routing_key",
    "experiment",
    "priority",
    "model_preference",
    "documents",
    "documents[]",
    "documents[].id",
    "documents[].title",
    "documents[].board_titles[]",
    "documents[].engaged_queries[]",
  ];
  t.same(
    expected.filter((f) => !refusedFields.has(f)),
    [],
    `refusals named every kind of field: ${[...refusedFields].sort().join(", ")}`,
  );
});

t.test("validation on huge strings at the default limits: 1,000 cases", async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(
      mostlyValidRequest({ loneSurrogates: true, maxRepeat: 70_000, maxDocuments: 3, maxListItems: 12 }),
      (m) => {
        if (checkValidation(m, defaultLimits)) {
          accepted++;
          checkModelText(m, defaultModelTextOptions);
        }
      },
    ),
    { numRuns: 1000, seed: 902 },
  );
  t.ok(accepted > 150, `${accepted} of 1000 accepted`);
});

const FIELD_NAMES: readonly ModelTextField[] = [
  "title",
  "description",
  "imageCaption",
  "boardTitles",
  "engagedQueries",
  "linkText",
];

/** Model-text options as an operator may configure them (separator "\n", so lines can be checked). */
const modelTextOptions: fc.Arbitrary<ModelTextOptions> = fc.record({
  queryMaxBytes: fc.integer({ min: 1, max: 600 }),
  separator: fc.constant("\n"),
  listSeparator: fc.constantFrom(" | ", ", ", "|", " "),
  fields: fc
    .tuple(
      fc.shuffledSubarray([...FIELD_NAMES], { minLength: 1 }),
      fc.array(
        fc.record({
          // Labels stay distinct, so a line tells which field it is.
          label: fc.constantFrom(
            (f: string) => f,
            (f: string) => f.toUpperCase(),
            (f: string) => `${f} 説明`,
          ),
          maxBytes: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 1200 })),
          maxItems: fc.integer({ min: 1, max: 12 }),
        }),
        { minLength: FIELD_NAMES.length, maxLength: FIELD_NAMES.length },
      ),
    )
    .map(([names, params]) =>
      names.map((field, i): ModelTextFieldOptions => {
        const p = params[i]!;
        return { field, label: p.label(field), maxBytes: p.maxBytes, maxItems: p.maxItems };
      }),
    ),
});

t.test("model text of hostile documents under random budgets: 3,000 cases", async (t) => {
  let rendered = 0;
  fc.assert(
    fc.property(
      modelTextOptions,
      hostileText({ loneSurrogates: true, maxRepeat: 3000 }),
      fc.array(
        hostileDocument({ loneSurrogates: true, maxRepeat: 3000, maxDocuments: 1, maxListItems: 14 }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      (opts, queryText, documents) => {
        const modelText = createModelText(opts);
        checkValue(modelText.query(queryText), opts.queryMaxBytes, "query");
        for (const d of documents) {
          const text = modelText.document(d);
          if (text !== "") rendered++;
          checkDocumentText(text, d, opts);
        }
      },
    ),
    { numRuns: 3000, seed: 903 },
  );
  t.ok(rendered > 1000, `${rendered} documents rendered`);
});
