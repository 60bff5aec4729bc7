import t from "tap";
import { type ComparisonRecord, parseComparisonRecord } from "../../src/shadow/comparison-record.js";
import { answer, sampleRecord } from "./sample-record.js";

const sha = "a".repeat(64);

t.test("a record round-trips through JSON", (t) => {
  const record = sampleRecord();
  t.strictSame(parseComparisonRecord(JSON.stringify(record)), record);
  t.end();
});

t.test("redacted texts and the noise-floor sample round-trip", (t) => {
  const record: ComparisonRecord = {
    ...sampleRecord(2),
    query: { text: null, locale: "de-DE", sha256: sha },
    documents: [
      { id: "a", modelText: null, sha256: "b".repeat(64) },
      { id: "b", modelText: null, sha256: "c".repeat(64) },
    ],
    teacherRepeat: answer("teacher", 2, 2),
  };
  record.comparison.k = 1;
  t.strictSame(parseComparisonRecord(JSON.stringify(record)), record);
  t.end();
});

t.test("unknown fields are ignored", (t) => {
  const record = sampleRecord();
  const parsed = parseComparisonRecord(JSON.stringify({ ...record, later: { added: true } }));
  t.strictSame(parsed, record);
  t.end();
});

/** Applies `edit` to a fresh sample record (as plain JSON) and returns the parser's verdict. */
function parseEdited(
  edit: (r: Record<string, unknown> & ComparisonRecord) => void,
): ComparisonRecord | string {
  const r = JSON.parse(JSON.stringify(sampleRecord()));
  edit(r);
  return parseComparisonRecord(JSON.stringify(r));
}

t.test("errors name the field", (t) => {
  const cases: [string, (r: Record<string, unknown> & ComparisonRecord) => void, string][] = [
    ["a short row", (r) => r.student.probabilities[3]!.pop(), "student.probabilities[3]: expected 5 numbers"],
    [
      "a missing row",
      (r) => r.teacher.probabilities.pop(),
      "teacher.probabilities: expected 4 rows (one per document), got 3",
    ],
    [
      "a probability out of range",
      (r) => {
        r.teacher.probabilities[0]![2] = 1.5;
      },
      "teacher.probabilities[0][2]: expected a number in [0, 1], got 1.5",
    ],
    [
      "a string probability",
      (r) => {
        (r.student.probabilities[1] as unknown[])[0] = "0.1";
      },
      'student.probabilities[1][0]: expected a number in [0, 1], got "0.1"',
    ],
    ["another version", (r) => Object.assign(r, { v: 2 }), "v: unsupported version 2 (this reader knows 1)"],
    [
      "no request id",
      (r) => Reflect.deleteProperty(r, "requestId"),
      "requestId: expected a string, got undefined",
    ],
    [
      "a bad time",
      (r) => Object.assign(r, { time: "yesterday" }),
      'time: expected ISO 8601, got "yesterday"',
    ],
    [
      "redacted text without its hash",
      (r) => Object.assign(r, { query: { text: null, locale: "en" } }),
      "query.sha256: required when text is null (redacted)",
    ],
    [
      "a malformed hash",
      (r) => Object.assign(r.documents[1]!, { sha256: "XYZ" }),
      'documents[1].sha256: expected 64 lowercase hex digits, got "XYZ"',
    ],
    [
      "no documents",
      (r) => Object.assign(r, { documents: [] }),
      "documents: expected a non-empty array, got []",
    ],
    [
      "a numeric document id",
      (r) => Object.assign(r.documents[0]!, { id: 7 }),
      "documents[0].id: expected a string, got 7",
    ],
    [
      "k beyond n",
      (r) => Object.assign(r.comparison, { k: 5 }),
      "comparison.k: expected a number in [1, 4], got 5",
    ],
    [
      "fractional k",
      (r) => Object.assign(r.comparison, { k: 1.5 }),
      "comparison.k: expected an integer in [1, 4], got 1.5",
    ],
    [
      "τ out of range",
      (r) => Object.assign(r.comparison, { kendallTau: 2 }),
      "comparison.kendallTau: expected a number in [-1, 1], got 2",
    ],
    [
      "negative latency",
      (r) => Object.assign(r.student, { latencyMs: -1 }),
      "student.latencyMs: expected a number ≥ 0, got -1",
    ],
    ["no teacher", (r) => Reflect.deleteProperty(r, "teacher"), "teacher: expected an object, got undefined"],
    [
      "a malformed noise-floor sample",
      (r) => Object.assign(r, { teacherRepeat: { ...r.teacher, probabilities: [] } }),
      "teacherRepeat.probabilities: expected 4 rows (one per document), got 0",
    ],
  ];
  for (const [what, edit, message] of cases) t.equal(parseEdited(edit), message, what);
  t.end();
});

t.test("lines that are not records", (t) => {
  t.equal(parseComparisonRecord(""), "line: empty");
  t.equal(parseComparisonRecord("[1, 2]"), "record: expected an object, got [1,2]");
  t.match(parseComparisonRecord('{"v":1,"time":"2025-'), /^line: not valid JSON \(.+\)$/);
  t.end();
});

t.test("every truncation of a valid line is reported, never thrown", (t) => {
  const line = JSON.stringify({ ...sampleRecord(3), teacherRepeat: answer("teacher", 3) });
  let reported = 0;
  for (let cut = 0; cut < line.length; cut++) {
    const result = parseComparisonRecord(line.slice(0, cut));
    if (typeof result === "string" && !result.includes("\n")) reported++;
  }
  t.equal(reported, line.length);
  t.end();
});
