/**
 * One line of the comparison log (docs/comparison-log.md): a shadowed request,
 * the exact model text both models scored and both answers. It doubles as a
 * distillation dataset, so the parser is strict: a reader training on these
 * lines must never silently take a malformed row as a label.
 */

export const COMPARISON_RECORD_VERSION = 1;

/** Probabilities are rounded to this many decimals when written. */
export const PROBABILITY_DECIMALS = 6;

export interface ModelAnswer {
  /** Config name of the backend that answered ("student", "teacher", …). */
  backend: string;
  /** Model name and version as the model server reported them. */
  model: string;
  version: string;
  /**
   * Milliseconds as the gateway measured them (3 decimals): for the student,
   * from receiving the request to answering it; for the teacher, from
   * mirroring the request to the teacher's answer, shadow queueing included.
   */
  latencyMs: number;
  /** n rows of 5: P(label = 1..5) per document, rounded to 6 decimals. */
  probabilities: number[][];
}

export interface ComparisonRecord {
  v: 1;
  /** ISO 8601 (UTC), when the comparison finished. */
  time: string;
  requestId: string;
  /** "" when none. */
  experiment: string;
  /** The primary route ("bulk", …). */
  route: string;
  /** text is null and sha256 (hex of the UTF-8 text) set when redacted. */
  query: { text: string | null; locale: string; sha256?: string };
  /** The exact model text both models scored; null and sha256 set when redacted. */
  documents: { id: string; modelText: string | null; sha256?: string }[];
  student: ModelAnswer;
  teacher: ModelAnswer;
  /** The noise-floor sample: the teacher asked the same request a second time. */
  teacherRepeat?: ModelAnswer;
  comparison: {
    labelAgreement: number;
    meanAbsErDelta: number;
    kendallTau: number | null;
    spearman: number | null;
    ndcgAtK: number | null;
    topKOverlap: number;
    k: number;
  };
}

/** Thrown inside the parser only; parseComparisonRecord turns it into its string result. */
class InvalidField extends Error {}

function fail(path: string, message: string): never {
  throw new InvalidField(`${path}: ${message}`);
}

/** A short, single-line rendering of an offending value for error messages. */
function shown(v: unknown): string {
  const text = v === undefined ? "undefined" : (JSON.stringify(v) ?? String(v));
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    fail(path, `expected an object, got ${shown(v)}`);
  return v as Record<string, unknown>;
}

function string(v: unknown, path: string): string {
  if (typeof v !== "string") fail(path, `expected a string, got ${shown(v)}`);
  return v;
}

function stringOrNull(v: unknown, path: string): string | null {
  if (v !== null && typeof v !== "string") fail(path, `expected a string or null, got ${shown(v)}`);
  return v;
}

function number(v: unknown, path: string, min: number, max = Number.POSITIVE_INFINITY): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    const range = max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `in [${min}, ${max}]`;
    fail(path, `expected a number ${range}, got ${shown(v)}`);
  }
  return v;
}

function numberOrNull(v: unknown, path: string, min: number, max: number): number | null {
  return v === null ? null : number(v, path, min, max);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function sha256(v: unknown, path: string): string {
  if (typeof v !== "string" || !SHA256_HEX.test(v))
    fail(path, `expected 64 lowercase hex digits, got ${shown(v)}`);
  return v;
}

/** `text` plus its hash: the hash is optional, but required when the text was redacted. */
function redactable(o: Record<string, unknown>, textKey: string, path: string) {
  const text = stringOrNull(o[textKey], `${path}.${textKey}`);
  if (o.sha256 === undefined) {
    if (text === null) fail(`${path}.sha256`, `required when ${textKey} is null (redacted)`);
    return { text };
  }
  return { text, sha256: sha256(o.sha256, `${path}.sha256`) };
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function modelAnswer(v: unknown, path: string, n: number): ModelAnswer {
  const o = object(v, path);
  const rows = o.probabilities;
  if (!Array.isArray(rows))
    fail(`${path}.probabilities`, `expected an array of ${n} rows, got ${shown(rows)}`);
  if (rows.length !== n) {
    fail(`${path}.probabilities`, `expected ${n} rows (one per document), got ${rows.length}`);
  }
  const probabilities = rows.map((row: unknown, i) => {
    const rowPath = `${path}.probabilities[${i}]`;
    if (!Array.isArray(row) || row.length !== 5) fail(rowPath, "expected 5 numbers");
    return row.map((p: unknown, j) => number(p, `${rowPath}[${j}]`, 0, 1));
  });
  return {
    backend: string(o.backend, `${path}.backend`),
    model: string(o.model, `${path}.model`),
    version: string(o.version, `${path}.version`),
    latencyMs: number(o.latencyMs, `${path}.latencyMs`, 0),
    probabilities,
  };
}

function parseRecord(line: string): ComparisonRecord {
  if (line.trim() === "") fail("line", "empty");
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    // Typically a line cut short by a crash or a full disk.
    fail("line", `not valid JSON (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`);
  }
  const o = object(json, "record");
  if (o.v !== COMPARISON_RECORD_VERSION) {
    fail("v", `unsupported version ${shown(o.v)} (this reader knows ${COMPARISON_RECORD_VERSION})`);
  }
  const time = string(o.time, "time");
  if (!ISO_TIME.test(time) || Number.isNaN(Date.parse(time)))
    fail("time", `expected ISO 8601, got ${shown(time)}`);

  const q = object(o.query, "query");
  const qText = redactable(q, "text", "query");
  const query: ComparisonRecord["query"] = { text: qText.text, locale: string(q.locale, "query.locale") };
  if (qText.sha256 !== undefined) query.sha256 = qText.sha256;

  if (!Array.isArray(o.documents) || o.documents.length === 0) {
    fail("documents", `expected a non-empty array, got ${shown(o.documents)}`);
  }
  const documents = o.documents.map((d: unknown, i) => {
    const path = `documents[${i}]`;
    const doc = object(d, path);
    const text = redactable(doc, "modelText", path);
    const out: ComparisonRecord["documents"][number] = {
      id: string(doc.id, `${path}.id`),
      modelText: text.text,
    };
    if (text.sha256 !== undefined) out.sha256 = text.sha256;
    return out;
  });
  const n = documents.length;

  const c = object(o.comparison, "comparison");
  const k = number(c.k, "comparison.k", 1, n);
  if (!Number.isInteger(k)) fail("comparison.k", `expected an integer in [1, ${n}], got ${k}`);

  const record: ComparisonRecord = {
    v: COMPARISON_RECORD_VERSION,
    time,
    requestId: string(o.requestId, "requestId"),
    experiment: string(o.experiment, "experiment"),
    route: string(o.route, "route"),
    query,
    documents,
    student: modelAnswer(o.student, "student", n),
    teacher: modelAnswer(o.teacher, "teacher", n),
    comparison: {
      labelAgreement: number(c.labelAgreement, "comparison.labelAgreement", 0, 1),
      // At most 4 in theory; float32 rows that do not sum to exactly 1 can overshoot by a hair.
      meanAbsErDelta: number(c.meanAbsErDelta, "comparison.meanAbsErDelta", 0),
      kendallTau: numberOrNull(c.kendallTau, "comparison.kendallTau", -1, 1),
      spearman: numberOrNull(c.spearman, "comparison.spearman", -1, 1),
      ndcgAtK: numberOrNull(c.ndcgAtK, "comparison.ndcgAtK", 0, 1),
      topKOverlap: number(c.topKOverlap, "comparison.topKOverlap", 0, 1),
      k,
    },
  };
  if (o.teacherRepeat !== undefined) record.teacherRepeat = modelAnswer(o.teacherRepeat, "teacherRepeat", n);
  return record;
}

/**
 * Parses and validates one line of the comparison log. Returns the record, or
 * a one-line message naming the first offending field
 * (`student.probabilities[3]: expected 5 numbers`) so a reader can skip and
 * count truncated or corrupt lines instead of stopping. Unknown fields are
 * ignored and not returned; version 1 readers accept additive changes.
 */
export function parseComparisonRecord(line: string): ComparisonRecord | string {
  try {
    return parseRecord(line);
  } catch (err) {
    if (err instanceof InvalidField) return err.message;
    throw err;
  }
}
