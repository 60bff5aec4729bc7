import t from "tap";
import {
  CodecError,
  DeferredScoreRequest,
  decodeScoreRequest,
  decodeScoreResponse,
  encodeScoreRequest,
  encodeScoreResponse,
  type ScoreRequestMessage,
  type ScoreResponseMessage,
  takeDocuments,
} from "../../../src/codec/index.js";
import { crossCheck } from "../cross-check.js";
import { scoreRequest, scoreResponse } from "../gen.js";
import { normalize, pbjsDecode, pbjsEncode } from "../pbjs.js";

const emptyRequest: ScoreRequestMessage = {
  requestId: "",
  query: undefined,
  documents: [],
  routingKey: "",
  experiment: "",
  priority: 0,
  modelPreference: 0,
  cachePolicy: 0,
};

const unicodeRequest: ScoreRequestMessage = {
  requestId: "req-1",
  query: { text: "沙发 أريكة 🛋️ cafe\u0301", locale: "zh-CN" },
  documents: [
    {
      id: "pin-1",
      title: "北欧风格客厅",
      description: "غرفة معيشة بسيطة ومريحة",
      imageCaption: "a grey sofa 🛋️ next to a plant 🪴, family 👩‍👩‍👧‍👦",
      boardTitles: ["Living room", "リビング", ""],
      engagedQueries: ["sofa", "ソファ", "e\u0301\u0327"],
      linkText: "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP",
      locale: "en-US",
    },
    {
      id: "",
      title: "",
      description: "",
      imageCaption: "",
      boardTitles: [],
      engagedQueries: [],
      linkText: "",
      locale: "",
    },
  ],
  routingKey: "user-42",
  experiment: "ab-7",
  priority: 2,
  modelPreference: 1,
  cachePolicy: 2,
};

const emptyResponse: ScoreResponseMessage = { requestId: "", scores: [], model: undefined, route: "" };

function bigResponse(n: number): ScoreResponseMessage {
  const scores = [];
  for (let i = 0; i < n; i++) {
    scores.push({
      documentId: `pin-${i}`,
      probabilities: new Float32Array([0.1, 0.2, 0.3, 0.25, 0.15]),
      expectedRelevance: Math.fround(3.05),
      label: 3,
      cached: i % 3 === 0,
    });
  }
  return {
    requestId: "req-big",
    scores,
    model: { role: 1, name: "relevance-student", version: "3", backend: "student" },
    route: "canary",
  };
}

t.test("ScoreRequest", async (t) => {
  crossCheck(
    t,
    { kind: "scoreRequest", encode: encodeScoreRequest, decode: decodeScoreRequest, generate: scoreRequest },
    {
      empty: emptyRequest,
      unicode: unicodeRequest,
      "present but empty query": { ...emptyRequest, query: { text: "", locale: "" } },
      "negative and unknown enums": { ...emptyRequest, priority: -1, modelPreference: 99, cachePolicy: -3 },
      "cache policy alone": { ...emptyRequest, cachePolicy: 1 },
    },
  );
});

/**
 * A DeferredScoreRequest as a plain message, its documents read last; its
 * document count, read before, must be theirs.
 */
function decodeDeferred(buf: Buffer): ScoreRequestMessage {
  const m = new DeferredScoreRequest(buf);
  const count = m.documentCount;
  const { requestId, query, routingKey, experiment, priority, modelPreference, cachePolicy } = m;
  const documents = m.documents;
  if (documents.length !== count) throw new Error(`documentCount ${count}, ${documents.length} documents`);
  return { requestId, query, documents, routingKey, experiment, priority, modelPreference, cachePolicy };
}

t.test("ScoreRequest with deferred documents", async (t) => {
  crossCheck(
    t,
    { kind: "scoreRequest", encode: encodeScoreRequest, decode: decodeDeferred, generate: scoreRequest },
    { empty: emptyRequest, unicode: unicodeRequest },
  );
});

t.test("deferred documents: counted at once, decoded when first read", async (t) => {
  const body = encodeScoreRequest(unicodeRequest);
  // A third document whose region is framed right but holds field number 0.
  const bad = Buffer.concat([body, Buffer.from([0x1a, 0x01, 0x00])]);
  const m = new DeferredScoreRequest(bad);
  t.equal(m.documentCount, unicodeRequest.documents.length + 1, "counted without decoding");
  t.same(m.query, unicodeRequest.query, "the other fields are decoded at once");
  t.throws(() => m.documents, CodecError, "the malformed document surfaces when documents are read");
  t.throws(() => decodeScoreRequest(bad), CodecError, "the eager decoder rejects the same body");
  // A region that overruns the body is a framing error, found at once.
  t.throws(
    () => new DeferredScoreRequest(Buffer.concat([body, Buffer.from([0x1a, 0x05, 0x0a])])),
    CodecError,
  );

  const ok = new DeferredScoreRequest(body);
  const first = ok.documents;
  t.equal(ok.documents, first, "decoded once");
  ok.documents = [];
  t.equal(ok.documentCount, 0, "an assigned list replaces them");
});

t.test("deferred documents taken: the request lets go of them and keeps their count", async (t) => {
  const body = encodeScoreRequest(unicodeRequest);
  const m = new DeferredScoreRequest(body);
  const taken = takeDocuments(m);
  t.same(taken, unicodeRequest.documents, "decoded as the eager decoder would");
  t.equal(m.documentCount, unicodeRequest.documents.length, "the count stays");
  t.same(m.query, unicodeRequest.query, "the other fields stay");
  t.throws(() => m.documents, /were taken/, "read again, they are gone");

  // Taken after they were read: the same list, then gone from the request.
  const read = new DeferredScoreRequest(body);
  const first = read.documents;
  t.equal(takeDocuments(read), first);
  t.throws(() => read.documents, /were taken/);

  // A malformed document fails the taking, as it fails reading.
  const bad = new DeferredScoreRequest(Buffer.concat([body, Buffer.from([0x1a, 0x01, 0x00])]));
  t.throws(() => takeDocuments(bad), CodecError);

  // A message decoded whole keeps its documents: its owner decides how long they live.
  const eager = decodeScoreRequest(body);
  t.equal(takeDocuments(eager), eager.documents);
});

t.test("ScoreResponse", async (t) => {
  crossCheck(
    t,
    {
      kind: "scoreResponse",
      encode: encodeScoreResponse,
      decode: decodeScoreResponse,
      generate: scoreResponse,
    },
    {
      empty: emptyResponse,
      "1000 scores from a Float32Array": bigResponse(1000),
      "present but empty model": { ...emptyResponse, model: { role: 0, name: "", version: "", backend: "" } },
      "negative zero and NaN are not defaults": {
        ...emptyResponse,
        scores: [
          {
            documentId: "a",
            probabilities: [Number.NaN, -0],
            expectedRelevance: -0,
            label: -7,
            cached: false,
          },
        ],
      },
    },
  );
});

t.test("the empty message encodes to zero bytes", async (t) => {
  t.equal(encodeScoreRequest(emptyRequest).length, 0);
  t.equal(encodeScoreResponse(emptyResponse).length, 0);
  t.same(decodeScoreRequest(Buffer.alloc(0)), emptyRequest);
  t.same(decodeScoreResponse(Buffer.alloc(0)), emptyResponse);
});

t.test("lone surrogates are encoded as U+FFFD, as Buffer does", async (t) => {
  const m: ScoreRequestMessage = {
    ...emptyRequest,
    requestId: "a\uD800b",
    query: { text: "\uDC00", locale: "x\uD83D" },
  };
  const buf = encodeScoreRequest(m);
  const expected = { ...m, requestId: "a\uFFFDb", query: { text: "\uFFFD", locale: "x\uFFFD" } };
  t.same(decodeScoreRequest(buf), expected);
  t.same(pbjsDecode("scoreRequest", buf), expected);
});

t.test("invalid UTF-8 decodes to U+FFFD", async (t) => {
  // Field 1 (request_id), length 3: 'a', a lone continuation byte, 'b'.
  const m = decodeScoreRequest(Buffer.from([0x0a, 0x03, 0x61, 0x80, 0x62]));
  t.equal(m.requestId, "a\uFFFDb");
});

t.test("scalars: the last value on the wire wins; message fields merge", async (t) => {
  const a = encodeScoreRequest({
    ...emptyRequest,
    requestId: "first",
    priority: 1,
    query: { text: "q", locale: "" },
  });
  const b = encodeScoreRequest({ ...emptyRequest, requestId: "second", query: { text: "", locale: "ja" } });
  const m = decodeScoreRequest(Buffer.concat([a, b]));
  t.equal(m.requestId, "second");
  t.equal(m.priority, 1);
  t.same(m.query, { text: "q", locale: "ja" });

  const r1 = encodeScoreResponse({
    ...emptyResponse,
    model: { role: 2, name: "n", version: "", backend: "" },
  });
  const r2 = encodeScoreResponse({
    ...emptyResponse,
    model: { role: 0, name: "", version: "v", backend: "" },
  });
  t.same(decodeScoreResponse(Buffer.concat([r1, r2])).model, {
    role: 2,
    name: "n",
    version: "v",
    backend: "",
  });
});

t.test("a known field number with an unexpected wire type is skipped", async (t) => {
  // priority (field 6) as a length-delimited field, then request_id.
  const m = decodeScoreRequest(Buffer.from([0x32, 0x01, 0x07, 0x0a, 0x01, 0x7a]));
  t.equal(m.priority, 0);
  t.equal(m.requestId, "z");
});

t.test("large message: byte-identical to protobufjs and decoded back", async (t) => {
  const m = bigResponse(1000);
  const ours = encodeScoreResponse(m);
  t.ok(ours.equals(pbjsEncode("scoreResponse", m)));
  const back = decodeScoreResponse(ours);
  t.equal(back.scores.length, 1000);
  t.same(normalize(back), normalize(m));
});
