import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { type ComparisonRecord, parseComparisonRecord } from "../../shadow/comparison-record.js";

export interface BadLine {
  file: string;
  line: number;
  error: string;
}

export interface FileSummary {
  file: string;
  /** Size on disk (compressed size for .gz); 0 when it could not be found. */
  bytes: number;
  /** Non-blank lines seen. */
  lines: number;
  records: number;
  badLines: number;
  /** Why the file could not be opened, or why reading stopped part-way. */
  error?: string;
}

export interface ReadSummary {
  files: FileSummary[];
  records: number;
  badLines: number;
  /** The first bad lines, so a report can show examples without holding them all. */
  badLineSamples: BadLine[];
}

/** Receives one progress line; `final` is true for the last one, written when reading ends. */
export type ProgressWriter = (line: string, final: boolean) => void;

export interface ReadLogOptions {
  /** Called for every bad line as it is found. */
  readonly onBadLine?: ((bad: BadLine) => void) | undefined;
  /** Progress is reported only when a writer is given. */
  readonly progress?: ProgressWriter | undefined;
  readonly progressIntervalMs?: number;
  readonly now?: () => number;
  readonly maxBadLineSamples?: number;
}

/** A file counts as unreadable when it failed before yielding a single line. */
export function unreadable(f: FileSummary): boolean {
  return f.error !== undefined && f.lines === 0;
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)} kB`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

const count = (n: number) => n.toLocaleString("en-US");

/**
 * Streams the JSON Lines comparison logs in `files` (gzip-compressed when the
 * name ends in .gz), handing each parsed record to `onRecord`. A line that
 * does not parse, or that `onRecord` rejects by returning a reason, is
 * counted as bad and reading goes on: one corrupt line (say, a torn write at
 * the end of a rotated file) must not cost the whole report. A file that
 * cannot be opened or fails part-way is recorded in its summary, and the
 * other files are still read.
 */
export async function readComparisonLogs(
  files: readonly string[],
  onRecord: (record: ComparisonRecord) => string | undefined,
  opts: ReadLogOptions = {},
): Promise<ReadSummary> {
  const now = opts.now ?? Date.now;
  const interval = opts.progressIntervalMs ?? 1000;
  const maxSamples = opts.maxBadLineSamples ?? 20;
  const summaries: FileSummary[] = [];
  const sizes = await Promise.all(
    files.map((f) =>
      stat(f).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const badLineSamples: BadLine[] = [];
  let records = 0;
  let badLines = 0;
  let doneBytes = 0;
  let lastProgress = now();

  const progressLine = (bytes: number) =>
    `read ${count(records)} records (${formatBytes(bytes)} of ${formatBytes(totalBytes)}, ${
      totalBytes === 0 ? 100 : Math.floor((bytes / totalBytes) * 100)
    }%)`;

  for (const [index, file] of files.entries()) {
    const summary: FileSummary = { file, bytes: sizes[index]!, lines: 0, records: 0, badLines: 0 };
    summaries.push(summary);
    const raw = createReadStream(file);
    const input: Readable = file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
    const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    let lineNo = 0;

    await new Promise<void>((resolve) => {
      const fail = (err: Error) => {
        summary.error ??= summary.lines === 0 ? err.message : `${err.message} (after line ${lineNo})`;
        rl.close();
        raw.destroy();
        if (input !== raw) input.destroy();
      };
      raw.on("error", fail);
      if (input !== raw) input.on("error", fail);
      rl.on("error", fail);
      rl.on("close", resolve);
      rl.on("line", (line) => {
        lineNo++;
        if (line.trim() === "") return;
        summary.lines++;
        const error = parseLine(line, onRecord);
        if (error === undefined) {
          summary.records++;
          records++;
        } else {
          summary.badLines++;
          badLines++;
          const bad = { file, line: lineNo, error };
          if (badLineSamples.length < maxSamples) badLineSamples.push(bad);
          opts.onBadLine?.(bad);
        }
        if (opts.progress && now() - lastProgress >= interval) {
          lastProgress = now();
          opts.progress(progressLine(doneBytes + raw.bytesRead), false);
        }
      });
    });
    doneBytes += sizes[index]!;
  }
  opts.progress?.(progressLine(doneBytes), true);
  return { files: summaries, records, badLines, badLineSamples };
}

function parseLine(
  line: string,
  onRecord: (record: ComparisonRecord) => string | undefined,
): string | undefined {
  let parsed: ComparisonRecord | string;
  try {
    parsed = parseComparisonRecord(line);
  } catch (err) {
    return (err as Error).message;
  }
  return typeof parsed === "string" ? parsed : onRecord(parsed);
}
