/**
 * fast-check generators of hostile input for the fuzz tests: text that mixes
 * every script with control characters, lone surrogates, layout characters,
 * grapheme pieces and huge repeats; requests whose every field may be missing;
 * lists from empty to one past their limit.
 */

import fc from "fast-check";
import type { DocumentMessage, QueryMessage, ScoreRequestMessage } from "../../src/codec/index.js";

/** Characters that have broken text handling somewhere: layout, controls, grapheme glue, BOM, bidi. */
export const SPECIAL_CHARACTERS = [
  " ",
  "  ",
  "\n",
  "\r\n",
  "\t",
  "\v",
  "\f",
  "\u0000",
  "\u0007",
  "\u001b",
  "\u007f",
  "\u0085",
  "\u009b",
  "\u009f",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\u3000",
  "\ufeff",
  "\u200b",
  "\u200d",
  "\u202e",
  "\u0301",
  "\u0308",
  "\u094d",
  "\ufe0f",
  "\u{1f3fd}",
  "\u{1f1eb}",
  "\u{1f1f7}",
  "\u{1f469}\u200d\u{1f469}\u200d\u{1f467}",
  "\ufffd",
  "\uffff",
  "\u{10ffff}",
  "|",
  "Title: ",
  "\nDescription: ",
  "%",
  "%00",
  '"',
  "\\",
  "中",
  "ع",
  "क्ष",
];

/** Half of a surrogate pair, alone. */
export const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** One piece of hostile text. */
export function hostileUnit(opts: { loneSurrogates: boolean }): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme", maxLength: 3 }) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
    { weight: 2, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 3 }) },
    { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_CHARACTERS) },
    { weight: opts.loneSurrogates ? 1 : 0, arbitrary: loneSurrogate },
  );
}

export interface TextOptions {
  /** Whether lone surrogates may appear (never after a wire round trip, so off for wire tests). */
  readonly loneSurrogates: boolean;
  /** Longest repeat of one unit: how huge a string may get (in units). */
  readonly maxRepeat: number;
}

/** Empty, short hostile text, or one hostile unit repeated up to `maxRepeat` times. */
export function hostileText(opts: TextOptions): fc.Arbitrary<string> {
  const unit = hostileUnit(opts);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant("") },
    { weight: 10, arbitrary: fc.string({ unit, maxLength: 24 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(unit, fc.integer({ min: 1, max: opts.maxRepeat }), fc.string({ unit, maxLength: 4 }))
        .map(([u, n, tail]) => u.repeat(n) + tail),
    },
  );
}

export interface RequestOptions extends TextOptions {
  /** The documents limit: requests have 0, a few, exactly this many or one more. */
  readonly maxDocuments: number;
  /** Items of board_titles and engaged_queries, at most. */
  readonly maxListItems: number;
}

/** An enum number: mostly a known value, sometimes any int32. */
const enumNumber = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 2) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
);

/** A list: empty, short, or exactly `max` items, equally likely. */
function list<T>(item: fc.Arbitrary<T>, max: number): fc.Arbitrary<T[]> {
  return fc.oneof(
    fc.constant<T[]>([]),
    fc.array(item, { maxLength: Math.min(max, 6) }),
    fc.array(item, { minLength: max, maxLength: max }),
  );
}

export function hostileDocument(opts: RequestOptions): fc.Arbitrary<DocumentMessage> {
  const text = hostileText(opts);
  // A small id alphabet makes duplicate ids likely.
  const id = fc.oneof(fc.constantFrom("", "a", "b", "doc-1"), text);
  return fc
    .record(
      {
        id,
        title: text,
        description: text,
        imageCaption: text,
        boardTitles: list(text, opts.maxListItems),
        engagedQueries: list(text, opts.maxListItems),
        linkText: text,
        locale: text,
      },
      { requiredKeys: [] },
    )
    .map((d) => ({ ...emptyDocument(), ...d }));
}

/** A ScoreRequest whose every field may be absent (proto3 default), hostile or huge. */
export function hostileRequest(opts: RequestOptions): fc.Arbitrary<ScoreRequestMessage> {
  const text = hostileText(opts);
  const query: fc.Arbitrary<QueryMessage> = fc
    .record({ text, locale: text }, { requiredKeys: [] })
    .map((q) => ({ text: "", locale: "", ...q }));
  const documents = fc.oneof(
    { weight: 1, arbitrary: fc.constant<DocumentMessage[]>([]) },
    { weight: 6, arbitrary: fc.array(hostileDocument(opts), { minLength: 1, maxLength: 4 }) },
    {
      weight: 1,
      arbitrary: fc.array(hostileDocument(opts), {
        minLength: opts.maxDocuments,
        maxLength: opts.maxDocuments + 1,
      }),
    },
  );
  return fc
    .record(
      {
        requestId: text,
        query,
        documents,
        routingKey: text,
        experiment: fc.oneof(fc.constantFrom("", "teacher-eval", "unknown"), text),
        priority: enumNumber,
        modelPreference: enumNumber,
        cachePolicy: enumNumber,
      },
      { requiredKeys: [] },
    )
    .map((m) => ({
      requestId: "",
      query: undefined,
      documents: [],
      routingKey: "",
      experiment: "",
      priority: 0,
      modelPreference: 0,
      cachePolicy: 0,
      ...m,
    }));
}

/**
 * Hostile requests, half of them repaired so that most of those pass
 * validation: visible query text, at least one document, unique non-empty
 * ids, visible titles, a configured or no experiment and known enum values;
 * the hostile text stays.
 */
export function mostlyValidRequest(opts: RequestOptions): fc.Arbitrary<ScoreRequestMessage> {
  return fc.tuple(hostileRequest(opts), fc.boolean()).map(([m, repair]) => (repair ? repaired(m) : m));
}

function repaired(m: ScoreRequestMessage): ScoreRequestMessage {
  const documents = m.documents.length > 0 ? m.documents : [emptyDocument()];
  return {
    ...m,
    query: { text: `q ${m.query?.text ?? ""}`, locale: m.query?.locale ?? "" },
    documents: documents.map((d, i) => ({ ...d, id: `${i}:${d.id}`, title: `t ${d.title}` })),
    experiment: m.experiment === "teacher-eval" ? m.experiment : "",
    priority: Math.abs(m.priority % 4),
    modelPreference: Math.abs(m.modelPreference % 3),
    cachePolicy: Math.abs((m.cachePolicy ?? 0) % 3),
  };
}

function emptyDocument(): DocumentMessage {
  return {
    id: "",
    title: "",
    description: "",
    imageCaption: "",
    boardTitles: [],
    engagedQueries: [],
    linkText: "",
    locale: "",
  };
}

/** Whether `s` has a lone surrogate (with the u flag, a pair is one code point and does not match). */
export function hasLoneSurrogate(s: string): boolean {
  return /\p{Cs}/u.test(s);
}
