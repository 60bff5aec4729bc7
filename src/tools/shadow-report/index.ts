import { CliError, intOption } from "../../cli/fail.js";
import { ShadowAggregator } from "./aggregate.js";
import { writeCharts } from "./charts.js";
import { type BadLine, readComparisonLogs, unreadable } from "./read-log.js";
import { renderText } from "./render-text.js";

/** Where the command writes; injectable so it can be run in-process. */
export interface ReportIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly stderrIsTTY: boolean;
  readonly now?: () => number;
}

const processIo: ReportIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  stderrIsTTY: process.stderr.isTTY === true,
};

/** Bad lines echoed to stderr as they are found; the rest are only counted. */
const MAX_BAD_LINES_SHOWN = 20;

/** The options of `relevance-gateway shadow-report` (src/cli/commands.ts), defaults filled in there. */
export interface ShadowReportFlags {
  readonly out: string;
  readonly k: string;
  readonly worst: string;
  readonly json?: boolean | undefined;
  readonly progress?: boolean | undefined;
}

/**
 * `relevance-gateway shadow-report FILE… [--out DIR] [--k N] [--worst N] [--json] [--progress]`
 * (options parsed by the CLI, src/cli/commands.ts):
 * reads comparison logs, prints the report (or JSON) and writes the charts.
 * Usage errors throw a CliError (exit 2); so does a run where no file could
 * be read, or the charts could not be written (exit 1). Bad lines are
 * reported and counted but do not fail the run.
 */
export async function runShadowReport(
  files: readonly string[],
  values: ShadowReportFlags,
  io: ReportIo = processIo,
): Promise<void> {
  if (files.length === 0) throw new CliError("shadow-report: give at least one comparison log FILE");
  const k = intOption("k", values.k);
  if (k < 1) throw new CliError(`--k: expected a positive integer, got ${JSON.stringify(values.k)}`);
  const worst = intOption("worst", values.worst);
  const out = values.out;

  // On a terminal the progress line is redrawn in place; otherwise each one is its own line.
  const tty = io.stderrIsTTY;
  const showProgress = values.progress === true || tty;
  let progressShown = false;
  const clearProgress = () => {
    if (tty && progressShown) io.stderr("\r\x1b[K");
  };
  let shown = 0;
  const onBadLine = (bad: BadLine) => {
    if (shown++ >= MAX_BAD_LINES_SHOWN) return;
    clearProgress();
    io.stderr(`shadow-report: ${bad.file}:${bad.line}: ${bad.error}\n`);
  };

  const aggregator = new ShadowAggregator({ k, worst });
  const input = await readComparisonLogs(files, (record) => aggregator.add(record), {
    onBadLine,
    now: io.now,
    progress: showProgress
      ? (line, final) => {
          progressShown = true;
          io.stderr(tty ? `\r${line}\x1b[K${final ? "\n" : ""}` : `${line}\n`);
        }
      : undefined,
  });

  for (const f of input.files) {
    if (f.error)
      io.stderr(
        `shadow-report: ${unreadable(f) ? "cannot read" : "stopped reading"} ${f.file}: ${f.error}\n`,
      );
  }
  if (input.files.every(unreadable)) throw new CliError("shadow-report: no file could be read", 1);
  if (input.badLines > 0) {
    const more =
      input.badLines > MAX_BAD_LINES_SHOWN ? ` (the first ${MAX_BAD_LINES_SHOWN} shown above)` : "";
    const lines = `${input.badLines.toLocaleString("en-US")} bad line${input.badLines === 1 ? "" : "s"}`;
    io.stderr(`shadow-report: skipped ${lines}${more}\n`);
  }

  const summary = aggregator.summary();
  // A chart directory that cannot be written should not cost the reader the report itself.
  let charts: string[] = [];
  let chartError: string | undefined;
  try {
    charts = await writeCharts(out, summary, aggregator.scatterSample());
  } catch (err) {
    chartError = `shadow-report: cannot write the charts to ${out}: ${(err as Error).message}`;
  }
  if (values.json) {
    io.stdout(`${JSON.stringify({ input, ...summary, charts }, null, 2)}\n`);
  } else {
    io.stdout(renderText(summary, input, charts));
  }
  if (chartError) throw new CliError(chartError, 1);
}
