/**
 * Synthetic comparison logs with known probabilities, and straightforward
 * (quadratic, unoptimised) reference computations of every report figure, so
 * the aggregation is checked against arithmetic written separately from it.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Test } from "tap";
import type { ComparisonRecord, ModelAnswer } from "../../../src/shadow/comparison-record.js";

export type Row = [number, number, number, number, number];

export function tmp(): string {
  return mkdtempSync(join(tmpdir(), "rg-shadow-report-"));
}

/** A deterministic LCG, independent of the report's own PRNG. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** A probability row rounded to 6 decimals like the logger writes, summing to 1. */
export function randomRow(random: () => number): Row {
  const w = [0, 1, 2, 3, 4].map(() => random() ** 2 + 0.01);
  const total = w.reduce((a, b) => a + b, 0);
  const p = w.map((x) => Math.round((x / total) * 1e6) / 1e6);
  p[4] = Math.round((1 - p[0]! - p[1]! - p[2]! - p[3]!) * 1e6) / 1e6;
  return p as Row;
}

function answer(backend: string, latencyMs: number, probabilities: Row[]): ModelAnswer {
  return { backend, model: `${backend}-model`, version: "1", latencyMs, probabilities };
}

export interface RecordSpec {
  requestId: string;
  query?: string | null;
  student: Row[];
  teacher: Row[];
  repeat?: Row[];
  studentLatencyMs?: number;
  teacherLatencyMs?: number;
  time?: string;
}

const HASH = "a".repeat(64);

/**
 * A record as the gateway writes it, except that the logged comparison figures
 * are deliberately wrong: the report must recompute them, never trust them.
 */
export function record(spec: RecordSpec): ComparisonRecord {
  const query = spec.query === undefined ? `query of ${spec.requestId}` : spec.query;
  const r: ComparisonRecord = {
    v: 1,
    time: spec.time ?? "2025-03-01T12:00:00.000Z",
    requestId: spec.requestId,
    experiment: "",
    route: "bulk",
    query: query === null ? { text: null, locale: "en-US", sha256: HASH } : { text: query, locale: "en-US" },
    documents: spec.student.map((_, i) =>
      query === null
        ? { id: `doc-${i}`, modelText: null, sha256: HASH }
        : { id: `doc-${i}`, modelText: `text ${i} of ${spec.requestId}` },
    ),
    student: answer("student", spec.studentLatencyMs ?? 10, spec.student),
    teacher: answer("teacher", spec.teacherLatencyMs ?? 100, spec.teacher),
    comparison: {
      labelAgreement: 0,
      meanAbsErDelta: 3.9,
      kendallTau: -1,
      spearman: -1,
      ndcgAtK: 0,
      topKOverlap: 0,
      k: 1,
    },
  };
  if (spec.repeat) r.teacherRepeat = answer("teacher", 120, spec.repeat);
  return r;
}

/** A mixed log: random requests (some with a teacher repeat, some with one document, some redacted). */
export function randomRecords(count: number, seed: number): ComparisonRecord[] {
  const random = lcg(seed);
  const out: ComparisonRecord[] = [];
  for (let r = 0; r < count; r++) {
    const n = 1 + Math.floor(random() * 7);
    const student: Row[] = [];
    const teacher: Row[] = [];
    const repeat: Row[] = [];
    for (let i = 0; i < n; i++) {
      student.push(randomRow(random));
      teacher.push(randomRow(random));
      repeat.push(randomRow(random));
    }
    out.push(
      record({
        requestId: `req-${r}`,
        query: r % 7 === 3 ? null : undefined,
        student,
        teacher,
        ...(r % 3 === 0 ? { repeat } : {}),
        studentLatencyMs: Math.round(random() * 2000) / 100,
        teacherLatencyMs: Math.round(random() * 20000) / 100,
        time: new Date(Date.UTC(2025, 2, 1) + r * 60_000).toISOString(),
      }),
    );
  }
  return out;
}

export function writeLog(dir: string, name: string, lines: string[]): string {
  const file = join(dir, name);
  const text = `${lines.join("\n")}\n`;
  writeFileSync(file, name.endsWith(".gz") ? gzipSync(text) : text);
  return file;
}

// ---- reference computations -------------------------------------------------

export const er = (p: readonly number[]) => p.reduce((a, x, k) => a + (k + 1) * x, 0);

export function label(p: readonly number[]): number {
  let best = 0;
  for (let k = 1; k < 5; k++) if (p[k]! > p[best]!) best = k;
  return best + 1;
}

/** Kendall τ-b by counting every pair. */
export function kendallTauB(x: number[], y: number[]): number | undefined {
  let concordant = 0;
  let discordant = 0;
  let tiedX = 0;
  let tiedY = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiedX++;
      else if (dy === 0) tiedY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const denom = Math.sqrt((concordant + discordant + tiedX) * (concordant + discordant + tiedY));
  return denom === 0 ? undefined : (concordant - discordant) / denom;
}

function descending(v: number[]): number[] {
  return v.map((_, i) => i).sort((a, b) => v[b]! - v[a]! || a - b);
}

/** NDCG@k with gains teacher ER − 1, the student's order against the teacher's own. */
export function ndcg(s: number[], t: number[], k: number): number | undefined {
  const cut = Math.min(k, s.length);
  const dcg = (order: number[]) =>
    order.slice(0, cut).reduce((a, d, r) => a + Math.max(0, t[d]! - 1) / Math.log2(r + 2), 0);
  const ideal = dcg(descending(t));
  return ideal > 0 ? Math.min(1, dcg(descending(s)) / ideal) : undefined;
}

export function topKOverlap(s: number[], t: number[], k: number): number {
  const cut = Math.min(k, s.length);
  const top = new Set(descending(t).slice(0, cut));
  return (
    descending(s)
      .slice(0, cut)
      .filter((d) => top.has(d)).length / cut
  );
}

/** Type-7 quantile (linear between closest ranks). */
export function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  return v[lo]! + (v[Math.ceil(pos)]! - v[lo]!) * (pos - lo);
}

export const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null);

// ---- SVG ---------------------------------------------------------------------

const occurrences = (s: string, re: RegExp) => [...s.matchAll(re)].length;

/**
 * Enough of an XML check for hand-written SVG: one root <svg> with the SVG
 * namespace and a size, a <title>, every tag closed in order, no stray `<` or
 * `&` in text, and every attribute quoted.
 */
export function checkSvg(t: Test, svg: string, what: string): void {
  t.ok(svg.startsWith("<svg "), `${what}: starts with <svg`);
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `${what}: SVG namespace`);
  t.match(svg, /^<svg [^>]*version="1\.1"[^>]*width="\d+"[^>]*height="\d+"/, `${what}: version and size`);
  t.match(svg, /<title>[^<]+<\/title>/, `${what}: a title`);
  t.equal(occurrences(svg, /<svg[\s>]/g), 1, `${what}: one <svg>`);
  t.equal(occurrences(svg, /<\/svg>/g), 1, `${what}: one </svg>`);
  t.ok(svg.trimEnd().endsWith("</svg>"), `${what}: ends with </svg>`);
  const stack: string[] = [];
  let problem: string | undefined;
  for (const m of svg.matchAll(
    /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!amp;|lt;|gt;|quot;)/g,
  )) {
    if (m[2] === undefined) {
      problem ??= `stray ${JSON.stringify(m[0])} at ${m.index}`;
      continue;
    }
    if (m[1]) {
      if (stack.pop() !== m[2]) problem ??= `</${m[2]}> closes the wrong element at ${m.index}`;
    } else if (!m[4]) stack.push(m[2]);
  }
  t.equal(problem, undefined, `${what}: well-formed tags and text`);
  t.same(stack, [], `${what}: every element closed`);
}
