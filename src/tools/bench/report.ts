import type { BenchReport, CacheFigures, Comparator, Goal, Measurement, ScenarioResult } from "./results.js";

const COMPARATOR_TEXT: Record<Comparator, string> = { "<=": "≤", ">=": "≥", "<": "<" };

/** A figure with its unit: "0.42 ms", "9.1×", "0.85", "150 MB", "2.1%". */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "n/a";
  switch (unit) {
    case "ms":
      return `${value.toFixed(2)} ms`;
    case "×":
      return `${value.toFixed(1)}×`;
    case "%":
      return `${value.toFixed(1)}%`;
    case "MB":
      return `${value.toFixed(0)} MB`;
    default:
      return value.toFixed(value >= 10 ? 1 : 2);
  }
}

/** The goal as written: "≤ 1 ms", "≥ 8×", "≥ 0.8". */
export function formatTarget(g: Pick<Goal, "comparator" | "target" | "unit">): string {
  const target = g.unit === "" ? String(g.target) : g.unit === "×" ? `${g.target}×` : `${g.target} ${g.unit}`;
  return `${COMPARATOR_TEXT[g.comparator]} ${target.replace(/ %$/, "%")}`;
}

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));

/** A Markdown table cell: no pipes or newlines inside. */
function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [
    `| ${header.map(cell).join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ];
}

/** One row per goal: the headline table. */
export function goalsTable(report: BenchReport): string[] {
  const rows = report.scenarios.flatMap((s) =>
    s.goals.map((g) => [
      s.title,
      g.what,
      formatValue(g.measured, g.unit),
      formatTarget(g),
      g.met ? "yes" : "**no**",
      g.detail,
    ]),
  );
  return table(["scenario", "measured", "figure", "goal", "met", "details"], rows);
}

function errorsText(m: Measurement): string {
  const e = m.median.errorCounts;
  const parts = Object.entries(e).map(([code, n]) => `${n} ${code}`);
  return parts.length === 0 ? String(m.median.errors) : `${m.median.errors} (${parts.join(", ")})`;
}

function coresText(m: Measurement): string {
  const entries = Object.entries(m.median.cores);
  return entries.length === 0 ? "n/a" : entries.map(([p, c]) => `${p} ${c.toFixed(2)}`).join(", ");
}

/** A gateway's cache in a row: "cache off", the hit ratio ("61.2%"), "n/a" when nothing was looked up, "" with no gateway. */
export function cacheText(c: CacheFigures | undefined): string {
  if (c === undefined) return "";
  if (c.kind === "off") return "cache off";
  return c.hitRatio === null ? "n/a" : `${(100 * c.hitRatio).toFixed(1)}%`;
}

/** The figures of every configuration of a scenario (medians over rounds). */
export function measurementsTable(s: ScenarioResult): string[] {
  const extras = [...new Set(s.measurements.flatMap((m) => Object.keys(m.extra ?? {})))];
  const withCache = s.measurements.some((m) => m.median.cache !== undefined);
  const header = [
    "configuration",
    "req/s",
    "items/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "mean batch",
    "CPU, cores",
    "peak RSS MB",
    ...(withCache ? ["cache hit ratio"] : []),
    ...extras,
  ];
  const rows = s.measurements.map((m) => [
    m.name,
    thousands(m.median.reqPerS),
    thousands(m.median.itemsPerS),
    ms(m.median.p50Ms),
    ms(m.median.p95Ms),
    ms(m.median.p99Ms),
    errorsText(m),
    m.median.meanBatch === undefined ? "" : m.median.meanBatch.toFixed(1),
    coresText(m),
    m.peakRssMb === undefined ? "" : m.peakRssMb.toFixed(0),
    ...(withCache ? [cacheText(m.median.cache)] : []),
    ...extras.map((k) => (m.extra?.[k] === undefined ? "" : thousands(m.extra[k]))),
  ]);
  return table(header, rows);
}

export function machineLine(report: BenchReport): string {
  const m = report.machine;
  const load = (l: readonly number[]) => l.map((x) => x.toFixed(2)).join(" / ");
  return (
    `${m.cpus} × ${m.cpuModel}, ${m.totalMemoryMb.toLocaleString("en-US")} MB, ${m.platform}, Node ${m.node}; ` +
    `load average (1 / 5 / 15 min) ${load(m.loadAverage.start)} at the start, ${load(m.loadAverage.end)} at the end`
  );
}

/** The whole report as Markdown: headline goals, then each scenario's setup, figures and notes. */
export function toMarkdown(report: BenchReport): string {
  const rounds = report.scenarios.some((s) => s.measurements.some((m) => m.rounds.length > 1));
  const lines = [
    `# relevance-gateway bench (${report.mode} run${report.profiled ? ", profiled" : ""})`,
    "",
    `${report.startedAt}, ${Math.round(report.durationS)} s: \`${report.command}\``,
    "",
    `Machine: ${machineLine(report)}.`,
    "",
    ...goalsTable(report),
    "",
    rounds
      ? "Figures are medians over the rounds; ratios are taken per round (configurations alternate) and their median reported."
      : "One round per configuration.",
  ];
  if (report.failures.length > 0) {
    lines.push("", "Scenarios that failed:", "", ...report.failures.map((f) => `- ${f.split("\n")[0]}`));
  }
  for (const s of report.scenarios) {
    lines.push("", `## ${s.title}`, "", s.setup, "", ...measurementsTable(s));
    if (s.notes.length > 0) lines.push("", ...s.notes.map((n) => `- ${n}`));
  }
  return `${lines.join("\n")}\n`;
}

/** The goals as aligned plain text, for the terminal. */
export function goalsText(report: BenchReport): string {
  const rows = report.scenarios.flatMap((s) =>
    s.goals.map((g) => [g.what, formatValue(g.measured, g.unit), formatTarget(g), g.met ? "met" : "MISSED"]),
  );
  const header = ["goal", "measured", "target", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}
