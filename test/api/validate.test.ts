import { status } from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { type ValidationLimits, validateScoreRequest } from "../../src/api/validate.js";
import type { DocumentMessage, ScoreRequestMessage } from "../../src/codec/index.js";
import { GatewayError } from "../../src/util/gateway-error.js";

const limits: ValidationLimits = {
  maxDocumentsPerRequest: 1000,
  maxFieldBytes: 65536,
  maxRequestTextBytes: 4 << 20,
};

function doc(id: string, fields: Partial<DocumentMessage> = {}): DocumentMessage {
  return {
    id,
    title: `title of ${id}`,
    description: "",
    imageCaption: "",
    boardTitles: [],
    engagedQueries: [],
    linkText: "",
    locale: "",
    ...fields,
  };
}

function request(fields: Partial<ScoreRequestMessage> = {}): ScoreRequestMessage {
  return {
    requestId: "req-1",
    query: { text: "red shoes", locale: "en-US" },
    documents: [doc("a"), doc("b")],
    routingKey: "user-1",
    experiment: "",
    priority: 0,
    modelPreference: 0,
    ...fields,
  };
}

const newId = () => "generated-id";

/** The error message, failing the test when the request is accepted. */
function rejection(t: Test, msg: ScoreRequestMessage, lim: ValidationLimits = limits): string {
  const v = validateScoreRequest(msg, lim, newId);
  if (v.ok) {
    t.fail("request was accepted");
    return "";
  }
  t.ok(v.error instanceof GatewayError);
  t.equal(v.error.code, status.INVALID_ARGUMENT);
  t.equal(v.error.reason, "INVALID_REQUEST");
  return v.error.message;
}

t.test("a valid request passes with its fields", async (t) => {
  const msg = request({ experiment: "teacher-eval", priority: 2, modelPreference: 2 });
  const v = validateScoreRequest(msg, limits, newId);
  t.ok(v.ok);
  if (!v.ok) return;
  t.equal(v.value.requestId, "req-1");
  t.equal(v.value.message, msg);
  t.equal(v.value.query, msg.query);
  t.equal(v.value.documents, msg.documents);
  t.equal(v.value.routingKey, "user-1");
  t.equal(v.value.experiment, "teacher-eval");
  t.equal(v.value.priority, "bulk");
  t.equal(v.value.modelPreference, "teacher");
});

t.test("request id: generated when empty, kept otherwise", async (t) => {
  let calls = 0;
  const gen = () => `gen-${++calls}`;
  const a = validateScoreRequest(request({ requestId: "" }), limits, gen);
  t.ok(a.ok && a.value.requestId === "gen-1");
  const b = validateScoreRequest(request({ requestId: "mine" }), limits, gen);
  t.ok(b.ok && b.value.requestId === "mine");
  t.equal(calls, 1, "not called when the client sent an id");
});

t.test("priority and model preference enums", async (t) => {
  const cases: [number, string][] = [
    [0, "interactive"],
    [1, "interactive"],
    [2, "bulk"],
    [3, "background"],
  ];
  for (const [n, want] of cases) {
    const v = validateScoreRequest(request({ priority: n }), limits, newId);
    t.equal(v.ok && v.value.priority, want, `priority ${n}`);
  }
  const prefs: [number, string][] = [
    [0, "unspecified"],
    [1, "student"],
    [2, "teacher"],
  ];
  for (const [n, want] of prefs) {
    const v = validateScoreRequest(request({ modelPreference: n }), limits, newId);
    t.equal(v.ok && v.value.modelPreference, want, `model_preference ${n}`);
  }
  t.equal(rejection(t, request({ priority: 4 })), "priority: unknown value 4");
  t.equal(rejection(t, request({ priority: 7 })), "priority: unknown value 7");
  t.equal(rejection(t, request({ priority: -1 })), "priority: unknown value -1");
  t.equal(rejection(t, request({ modelPreference: 9 })), "model_preference: unknown value 9");
});

t.test("query", async (t) => {
  t.equal(rejection(t, request({ query: undefined })), "query.text: must not be empty");
  t.equal(rejection(t, request({ query: { text: "", locale: "" } })), "query.text: must not be empty");
  t.equal(rejection(t, request({ query: { text: " \n\t ", locale: "" } })), "query.text: must not be empty");
  t.equal(
    rejection(t, request({ query: { text: "\u0000\u0007", locale: "" } })),
    "query.text: must not be empty",
  );
});

t.test("document count", async (t) => {
  t.equal(rejection(t, request({ documents: [] })), "documents: must contain at least one document");
  const docs = Array.from({ length: 1001 }, (_, i) => doc(`d${i}`));
  t.equal(
    rejection(t, request({ documents: docs })),
    "documents: 1001 documents exceed the limit of 1000 per request",
  );
  t.ok(
    validateScoreRequest(request({ documents: docs.slice(0, 1000) }), limits, newId).ok,
    "exactly the limit",
  );
});

t.test("document ids", async (t) => {
  const docs = [doc("a"), doc("b"), doc("c"), doc(""), doc("d")];
  t.equal(rejection(t, request({ documents: docs })), "documents[3].id: must not be empty");
  const dup = [doc("x"), doc("y"), doc("abc"), doc("z"), doc("w"), doc("abc")];
  t.equal(
    rejection(t, request({ documents: dup })),
    'documents[5].id: duplicate id "abc" (first used by documents[2])',
  );
  t.equal(
    rejection(t, request({ documents: [doc('q"\n'), doc('q"\n')] })),
    'documents[1].id: duplicate id "q\\"\\n" (first used by documents[0])',
    "the id is quoted and escaped",
  );
  const long = "i".repeat(1000);
  t.equal(
    rejection(t, request({ documents: [doc(long), doc(long)] })),
    `documents[1].id: duplicate id "${"i".repeat(64)}"…(+936 chars) (first used by documents[0])`,
    "a long id is cut, and the marker says by how much",
  );
});

t.test("a document without text", async (t) => {
  const empty = doc("e", {
    title: "",
    description: " ",
    imageCaption: "\n",
    boardTitles: ["", "  "],
    engagedQueries: ["\t"],
    linkText: "",
    locale: "en",
  });
  t.equal(
    rejection(t, request({ documents: [doc("a"), doc("b"), doc("c"), doc("d"), empty] })),
    "documents[4]: has no text to score (title, description, image_caption, board_titles, engaged_queries and link_text are all empty)",
  );
  // Any one field with text is enough.
  const none = { title: "" };
  for (const fields of [
    { description: "d" },
    { imageCaption: "c" },
    { boardTitles: ["", "b"] },
    { engagedQueries: ["q"] },
    { linkText: "l" },
  ]) {
    t.ok(validateScoreRequest(request({ documents: [doc("a", { ...none, ...fields })] }), limits, newId).ok);
  }
  // A list item with text counts even when blank items follow it, in its own list or the next one.
  for (const fields of [
    { boardTitles: ["b", "", " "] },
    { engagedQueries: ["q", "\t"] },
    { boardTitles: ["b"], engagedQueries: [" "] },
  ]) {
    const v = validateScoreRequest(request({ documents: [doc("a", { ...none, ...fields })] }), limits, newId);
    t.ok(v.ok, JSON.stringify(fields));
  }
});

t.test("field byte limits name the field", async (t) => {
  const small: ValidationLimits = { ...limits, maxFieldBytes: 10 };
  const over = "x".repeat(11);
  const exact = "é".repeat(5); // 10 bytes, 5 code units
  const cases: [Partial<ScoreRequestMessage>, string][] = [
    [{ requestId: over }, "request_id: 11 bytes exceeds the limit of 10"],
    [{ query: { text: over, locale: "" } }, "query.text: 11 bytes exceeds the limit of 10"],
    [{ query: { text: "q", locale: over } }, "query.locale: 11 bytes exceeds the limit of 10"],
    [{ routingKey: over }, "routing_key: 11 bytes exceeds the limit of 10"],
    [{ experiment: "中文字符" }, "experiment: 12 bytes exceeds the limit of 10"],
    [{ documents: [doc("a"), doc(over)] }, "documents[1].id: 11 bytes exceeds the limit of 10"],
    [
      { documents: [doc("a"), doc("b", { title: over })] },
      "documents[1].title: 11 bytes exceeds the limit of 10",
    ],
    [
      { documents: [doc("a"), doc("b"), doc("c", { description: over })] },
      "documents[2].description: 11 bytes exceeds the limit of 10",
    ],
    [
      { documents: [doc("a", { imageCaption: over })] },
      "documents[0].image_caption: 11 bytes exceeds the limit of 10",
    ],
    [
      { documents: [doc("a", { linkText: over })] },
      "documents[0].link_text: 11 bytes exceeds the limit of 10",
    ],
    [
      { documents: [doc("a"), doc("b"), doc("c"), doc("d", { locale: over })] },
      "documents[3].locale: 11 bytes exceeds the limit of 10",
    ],
    [
      { documents: [doc("a", { boardTitles: ["ok", over] })] },
      "documents[0].board_titles[1]: 11 bytes exceeds the limit of 10",
    ],
    [
      { documents: [doc("a", { engagedQueries: [over] })] },
      "documents[0].engaged_queries[0]: 11 bytes exceeds the limit of 10",
    ],
  ];
  for (const [fields, want] of cases) {
    t.equal(
      rejection(t, request({ query: { text: "q", locale: "" }, routingKey: "", ...fields }), small),
      want,
    );
  }
  // Exactly the limit passes, measured in UTF-8 bytes.
  const ok = request({
    requestId: exact,
    query: { text: exact, locale: "" },
    routingKey: exact,
    experiment: exact,
    documents: [doc(exact, { title: exact, boardTitles: [exact], engagedQueries: [exact], linkText: exact })],
  });
  t.ok(validateScoreRequest(ok, small, newId).ok);
  t.equal(
    rejection(t, request({ documents: [doc("a", { description: "x".repeat(70000) })] })),
    "documents[0].description: 70000 bytes exceeds the limit of 65536",
  );
});

t.test("total request text", async (t) => {
  const docs = [doc("a", { title: "x".repeat(40) }), doc("b", { title: "é".repeat(20) })];
  const msg = request({ requestId: "r", query: { text: "q", locale: "" }, routingKey: "", documents: docs });
  // r + q + a + b + 40 + 40 = 84 bytes.
  t.ok(validateScoreRequest(msg, { ...limits, maxRequestTextBytes: 84 }, newId).ok, "exactly the limit");
  t.equal(
    rejection(t, msg, { ...limits, maxRequestTextBytes: 83 }),
    "documents: request text of 84 bytes exceeds the limit of 83",
  );
  // Strings long enough to be measured individually count too.
  const measured = { maxDocumentsPerRequest: 10, maxFieldBytes: 60, maxRequestTextBytes: 84 };
  t.ok(validateScoreRequest(msg, measured, newId).ok);
  t.equal(
    rejection(t, msg, { ...measured, maxRequestTextBytes: 83 }),
    "documents: request text of 84 bytes exceeds the limit of 83",
  );
});

t.test("total request text counts every string of the request", async (t) => {
  // Each string a different length, so that leaving any one out (or subtracting it) changes the
  // total: 1 + 2 + ... + 15 = 120 bytes. The cheap bound (3 bytes per code unit, 360) is over the
  // limits below, so the request is measured exactly.
  const x = (n: number) => "x".repeat(n);
  const msg = request({
    requestId: x(1),
    routingKey: x(2),
    experiment: x(3),
    query: { text: x(4), locale: x(5) },
    documents: [
      {
        id: x(6),
        title: x(7),
        description: x(8),
        imageCaption: x(9),
        linkText: x(10),
        locale: x(11),
        boardTitles: [x(12), x(13)],
        engagedQueries: [x(14), x(15)],
      },
    ],
  });
  t.ok(validateScoreRequest(msg, { ...limits, maxRequestTextBytes: 120 }, newId).ok, "exactly the limit");
  t.equal(
    rejection(t, msg, { ...limits, maxRequestTextBytes: 119 }),
    "documents: request text of 120 bytes exceeds the limit of 119",
  );
  // Over several documents: the second adds 6 + ... + 15 = 105 bytes (its id is "y" × 6).
  const second = { ...msg.documents[0]!, id: "y".repeat(6) };
  const two = request({ ...msg, documents: [msg.documents[0]!, second] });
  t.ok(validateScoreRequest(two, { ...limits, maxRequestTextBytes: 225 }, newId).ok, "exactly the limit");
  t.equal(
    rejection(t, two, { ...limits, maxRequestTextBytes: 224 }),
    "documents: request text of 225 bytes exceeds the limit of 224",
  );
});
