import { type Agreement, LABEL_VALUES, type LatencySummary, type ShadowAggregate } from "./aggregate.js";
import { formatBytes, type ReadSummary, unreadable } from "./read-log.js";

const count = (n: number) => n.toLocaleString("en-US");
const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(1)}%`);
const num = (v: number | null, digits = 3) => (v === null ? "–" : v.toFixed(digits));
const signed = (v: number | null) => (v === null ? "–" : `${v >= 0 ? "+" : ""}${v.toFixed(3)}`);
const plural = (n: number, what: string) => `${count(n)} ${what}${n === 1 ? "" : "s"}`;
const ms = (v: number | null) => (v === null ? "–" : v.toFixed(1));

/** A Markdown table with columns padded to line up in a terminal too. */
export function table(header: string[], rows: string[][], align: ("l" | "r")[] = []): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const pad = (c: string, i: number) => (align[i] === "r" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!));
  const line = (cells: string[]) => `| ${cells.map(pad).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (align[i] === "r" ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(header), rule, ...rows.map(line)];
}

/** Free text must not break a table: one line, and no bare column separators. */
function cell(s: string): string {
  return s.replace(/\s+/g, " ").replace(/\|/g, "\\|");
}

function truncate(s: string, max: number): string {
  const flat = s.replace(/\s+/g, " ");
  return cell(flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`);
}

function inputSection(input: ReadSummary, s: ShadowAggregate): string[] {
  const out = ["## Input", ""];
  for (const f of input.files) {
    const what = unreadable(f)
      ? `not read: ${f.error}`
      : `${formatBytes(f.bytes)}, ${plural(f.records, "record")}, ${plural(f.badLines, "bad line")}${f.error ? `; stopped: ${f.error}` : ""}`;
    out.push(`- ${f.file}: ${what}`);
  }
  out.push("", `${count(s.requests)} requests, ${count(s.documents)} documents.`);
  if (s.timeRange) out.push(`Records from ${s.timeRange.first} to ${s.timeRange.last}.`);
  if (input.badLines > 0) {
    out.push("", `${plural(input.badLines, "bad line")} skipped, for example:`);
    for (const b of input.badLineSamples.slice(0, 5)) out.push(`- ${b.file}:${b.line}: ${b.error}`);
  }
  return out;
}

function agreementSection(s: ShadowAggregate): string[] {
  const t = s.kendallTau;
  const rows = [
    ["label agreement, over documents", pct(s.labelAgreement.documents)],
    ["label agreement, mean over requests", pct(s.labelAgreement.requests)],
    ["mean absolute ΔER over documents", num(s.expectedRelevance.mae)],
    ["mean ΔER (teacher − student)", signed(s.expectedRelevance.meanDelta)],
    [`Kendall τ, mean (${count(t.requests)} requests)`, num(t.mean)],
    ["Kendall τ, p10 / p50 / p90", `${num(t.p10)} / ${num(t.p50)} / ${num(t.p90)}`],
    [`Spearman ρ, mean (${count(s.spearman.requests)} requests)`, num(s.spearman.mean)],
    [`NDCG@${s.k}, mean (${count(s.ndcgAtK.requests)} requests)`, num(s.ndcgAtK.mean)],
    [`top-${s.k} overlap, mean (${count(s.topKOverlap.requests)} requests)`, num(s.topKOverlap.mean)],
  ];
  return [
    "## Student vs teacher",
    "",
    ...table(["figure", "value"], rows, ["l", "r"]),
    "",
    `ER is the expected relevance Σ label·p(label) on the ${LABEL_VALUES[0]}–${LABEL_VALUES[LABEL_VALUES.length - 1]} scale.`,
    `τ is undefined for ${count(t.undefinedRequests)} requests (fewer than two documents, or all tied).`,
  ];
}

function noiseSection(s: ShadowAggregate): string[] {
  const nf = s.noiseFloor;
  if (!nf)
    return [
      "## Noise floor",
      "",
      "No record carries a teacher repeat, so the teacher's self-disagreement is unknown.",
    ];
  const row = (name: string, get: (a: Agreement) => string) => [
    name,
    get(nf.studentVsTeacher),
    get(nf.teacherVsTeacher),
  ];
  return [
    "## Noise floor",
    "",
    `${count(nf.requests)} requests (${count(nf.documents)} documents) were sent to the teacher twice.`,
    "A student-vs-teacher difference no larger than the teacher's disagreement with itself",
    "is not evidence of a worse student.",
    "",
    ...table(
      ["over the same records", "student vs teacher", "teacher vs teacher"],
      [row("label agreement", (a) => pct(a.labelAgreement)), row("mean absolute ΔER", (a) => num(a.erMae))],
      ["l", "r", "r"],
    ),
  ];
}

function confusionSection(s: ShadowAggregate): string[] {
  const colTotals = LABEL_VALUES.map((_, t) => s.confusion.reduce((a, row) => a + (row[t] ?? 0), 0));
  const rows = s.confusion.map((row, i) => [
    `student ${LABEL_VALUES[i]}`,
    ...row.map(count),
    count(row.reduce((a, b) => a + b, 0)),
  ]);
  rows.push(["total", ...colTotals.map(count), count(s.documents)]);
  return [
    "## Label confusion (documents; rows student, columns teacher)",
    "",
    ...table(["", ...LABEL_VALUES.map((l) => `teacher ${l}`), "total"], rows, [
      "l",
      ...LABEL_VALUES.map(() => "r" as const),
      "r",
    ]),
  ];
}

function tauSection(s: ShadowAggregate): string[] {
  const max = Math.max(1, ...s.kendallTau.histogram.map((b) => b.count));
  const rows = s.kendallTau.histogram.map((b, i, all) => [
    `[${b.from.toFixed(1)}, ${b.to.toFixed(1)}${i === all.length - 1 ? "]" : ")"}`,
    count(b.count),
    "█".repeat(Math.round((b.count / max) * 40)),
  ]);
  return ["## Kendall τ per request", "", ...table(["τ", "requests", ""], rows, ["l", "r", "l"])];
}

function latencySection(s: ShadowAggregate): string[] {
  const row = (name: string, l: LatencySummary) => [name, count(l.count), ms(l.mean), ms(l.p50), ms(l.p95)];
  return [
    "## Latency (ms)",
    "",
    ...table(
      ["model", "answers", "mean", "p50", "p95"],
      [row("student", s.latencyMs.student), row("teacher", s.latencyMs.teacher)],
      ["l", "r", "r", "r", "r"],
    ),
  ];
}

function worstSection(s: ShadowAggregate): string[] {
  if (s.worst.length === 0) return [];
  const rows = s.worst.map((w, i) => [
    String(i + 1),
    signed(w.teacherEr - w.studentEr),
    `${num(w.studentEr)} (${w.studentLabel})`,
    `${num(w.teacherEr)} (${w.teacherLabel})`,
    cell(w.requestId),
    cell(w.documentId),
    truncate(w.query, 40),
    truncate(w.documentText, 50),
  ]);
  return [
    `## Largest disagreements (${s.worst.length} documents with the largest absolute ΔER)`,
    "",
    ...table(
      [
        "#",
        "ΔER (t − s)",
        "student ER (label)",
        "teacher ER (label)",
        "request",
        "document",
        "query",
        "document text",
      ],
      rows,
      ["r", "r", "r", "r", "l", "l", "l", "l"],
    ),
  ];
}

/** The report printed to stdout. */
export function renderText(s: ShadowAggregate, input: ReadSummary, charts: readonly string[]): string {
  const sections = [
    ["# Shadow comparison report"],
    inputSection(input, s),
    agreementSection(s),
    noiseSection(s),
    confusionSection(s),
    tauSection(s),
    latencySection(s),
    worstSection(s),
    charts.length ? ["## Charts", "", ...charts.map((c) => `- ${c}`)] : [],
  ];
  return `${sections
    .filter((x) => x.length)
    .map((x) => x.join("\n"))
    .join("\n\n")}\n`;
}
