/**
 * Property tests of the hand-written ScoreRequest codec (src/codec/), the
 * first code to touch a client's bytes. 7,000 generated cases.
 *
 * On any bytes the decoder either returns a message of well-formed strings
 * (which validation then accepts or refuses with INVALID_ARGUMENT) or throws
 * a CodecError, which the server answers with INVALID_ARGUMENT. Any message
 * survives encode → decode unchanged, except that lone surrogates become
 * U+FFFD, as UTF-8 encoding makes them.
 */

import { isDeepStrictEqual } from "node:util";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import t from "tap";
import { validateScoreRequest } from "../../src/api/validate.js";
import {
  CodecError,
  decodeScoreRequest,
  encodeScoreRequest,
  type ScoreRequestMessage,
} from "../../src/codec/index.js";
import { hasLoneSurrogate, hostileRequest } from "./fuzz-arbitraries.js";

const limits = { maxDocumentsPerRequest: 1000, maxFieldBytes: 64 * 1024, maxRequestTextBytes: 8 << 20 };

function strings(m: ScoreRequestMessage): string[] {
  const out = [m.requestId, m.routingKey, m.experiment];
  if (m.query) out.push(m.query.text, m.query.locale);
  for (const d of m.documents) {
    out.push(d.id, d.title, d.description, d.imageCaption, d.linkText, d.locale);
    out.push(...d.boardTitles, ...d.engagedQueries);
  }
  return out;
}

/** Outcome of decoding: "decoded" or "codec-error"; any other throw fails the property. */
function decodeChecked(buf: Uint8Array): "decoded" | "codec-error" {
  let m: ScoreRequestMessage;
  try {
    m = decodeScoreRequest(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  } catch (err) {
    if (err instanceof CodecError) return "codec-error";
    throw err;
  }
  if (strings(m).some(hasLoneSurrogate)) throw new Error("decoded a lone surrogate");
  if (!Number.isInteger(m.priority) || !Number.isInteger(m.modelPreference)) throw new Error("enum");
  const v = validateScoreRequest(m, limits, () => "id");
  if (!v.ok && v.error.code !== status.INVALID_ARGUMENT) throw new Error(`validation: ${v.error.message}`);
  return "decoded";
}

t.test("arbitrary bytes decode or fail with a CodecError: 3,000 cases", async (t) => {
  const seen = { decoded: 0, "codec-error": 0 };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      seen[decodeChecked(bytes)]++;
    }),
    { numRuns: 3000, seed: 911 },
  );
  t.ok(seen.decoded > 0 && seen["codec-error"] > 0, `both outcomes: ${JSON.stringify(seen)}`);
});

/** Byte-level edits of a valid encoding: where real corruption and crafted input live. */
type Mutation =
  | { op: "set"; at: number; byte: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; count: number }
  | { op: "truncate"; at: number }
  | { op: "varint"; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 12 }) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  // A maximal varint where a tag or length was: 10 continuation-heavy bytes.
  fc.record({ op: fc.constant("varint" as const), at: fc.nat() }),
);

function mutate(input: Buffer, edits: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + 1);
    switch (e.op) {
      case "set":
        if (at < b.length) b[at] = e.byte;
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.count)]);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "varint":
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(10, 0xff), b.subarray(at)]);
        break;
      default: {
        const _: never = e;
        throw new Error(`unknown mutation ${JSON.stringify(_)}`);
      }
    }
  }
  return b;
}

const wireRequest = hostileRequest({
  loneSurrogates: false,
  maxRepeat: 300,
  maxDocuments: 3,
  maxListItems: 4,
});

t.test("corrupted valid encodings decode or fail with a CodecError: 2,500 cases", async (t) => {
  const seen = { decoded: 0, "codec-error": 0 };
  fc.assert(
    fc.property(wireRequest, fc.array(mutation, { minLength: 1, maxLength: 4 }), (m, edits) => {
      seen[decodeChecked(mutate(encodeScoreRequest(m), edits))]++;
    }),
    { numRuns: 2500, seed: 912 },
  );
  t.ok(seen.decoded > 100 && seen["codec-error"] > 100, `both outcomes: ${JSON.stringify(seen)}`);
});

/** `m` as the wire carries it: strings well-formed (lone surrogates → U+FFFD), enums as int32. */
function asOnTheWire(m: ScoreRequestMessage): ScoreRequestMessage {
  const w = (s: string) => s.replace(/\p{Cs}/gu, "\uFFFD");
  return {
    requestId: w(m.requestId),
    query: m.query && { text: w(m.query.text), locale: w(m.query.locale) },
    documents: m.documents.map((d) => ({
      id: w(d.id),
      title: w(d.title),
      description: w(d.description),
      imageCaption: w(d.imageCaption),
      boardTitles: d.boardTitles.map(w),
      engagedQueries: d.engagedQueries.map(w),
      linkText: w(d.linkText),
      locale: w(d.locale),
    })),
    routingKey: w(m.routingKey),
    experiment: w(m.experiment),
    priority: m.priority | 0,
    modelPreference: m.modelPreference | 0,
    cachePolicy: (m.cachePolicy ?? 0) | 0,
  };
}

t.test("encode → decode round-trips any message: 1,500 cases", async (t) => {
  let withSurrogates = 0;
  fc.assert(
    fc.property(
      hostileRequest({ loneSurrogates: true, maxRepeat: 3000, maxDocuments: 4, maxListItems: 6 }),
      (m) => {
        if (strings(m).some(hasLoneSurrogate)) withSurrogates++;
        const decoded = decodeScoreRequest(encodeScoreRequest(m));
        return isDeepStrictEqual(decoded, asOnTheWire(m));
      },
    ),
    { numRuns: 1500, seed: 913 },
  );
  t.ok(withSurrogates > 50, `${withSurrogates} messages had lone surrogates`);
});
