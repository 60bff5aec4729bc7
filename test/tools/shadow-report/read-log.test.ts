import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { ComparisonRecord } from "../../../src/shadow/comparison-record.js";
import { ShadowAggregator } from "../../../src/tools/shadow-report/aggregate.js";
import {
  type BadLine,
  formatBytes,
  readComparisonLogs,
  unreadable,
} from "../../../src/tools/shadow-report/read-log.js";
import { randomRecords, tmp, writeLog } from "./fixtures.js";

const json = (r: ComparisonRecord) => JSON.stringify(r);

t.test("plain and gzip logs are read; bad lines are counted with file:line and the error", async (t) => {
  const dir = tmp();
  const records = randomRecords(30, 3);
  const wrongShape = JSON.parse(json(records[0]!)) as ComparisonRecord;
  wrongShape.student.probabilities.pop();
  const a = writeLog(dir, "a.jsonl", [
    json(records[0]!),
    json(records[1]!),
    '{"v":1,"time":"2025-03-01T1', // a torn write
    "",
    json(wrongShape),
    ...records.slice(2, 15).map(json),
  ]);
  const b = writeLog(dir, "b.jsonl.gz", records.slice(15).map(json));
  const seen: ComparisonRecord[] = [];
  const bad: BadLine[] = [];
  const summary = await readComparisonLogs(
    [a, b],
    (r) => {
      seen.push(r);
      return undefined;
    },
    { onBadLine: (x) => bad.push(x) },
  );
  t.equal(summary.records, 30);
  t.equal(summary.badLines, 2);
  t.same(
    seen.map((r) => r.requestId),
    records.map((r) => r.requestId),
    "every good record, in order",
  );
  t.equal(bad.length, 2);
  t.match(bad[0], { file: a, line: 3, error: /^line: not valid JSON/ });
  t.match(bad[1], { file: a, line: 5, error: /^student\.probabilities: expected \d+ rows/ });
  t.same(summary.badLineSamples, bad);
  t.match(summary.files, [
    { file: a, lines: 17, records: 15, badLines: 2 },
    { file: b, lines: 15, records: 15, badLines: 0 },
  ]);
  t.equal(summary.files[0]!.error, undefined);
  t.ok(summary.files[1]!.bytes < readFileSync(a).length, "a .gz file's size is its compressed size");
});

t.test("a record the consumer rejects counts as a bad line", async (t) => {
  const dir = tmp();
  const file = writeLog(dir, "log.jsonl", randomRecords(4, 1).map(json));
  const summary = await readComparisonLogs([file], (r) => (r.requestId === "req-2" ? "nope" : undefined));
  t.equal(summary.records, 3);
  t.same(summary.badLineSamples, [{ file, line: 3, error: "nope" }]);
});

t.test("missing and truncated files are reported, not fatal", async (t) => {
  const dir = tmp();
  const records = randomRecords(200, 5);
  const good = writeLog(dir, "good.jsonl", records.slice(0, 2).map(json));
  const whole = writeLog(dir, "cut.jsonl.gz", records.map(json));
  const bytes = readFileSync(whole);
  writeFileSync(whole, bytes.subarray(0, Math.floor(bytes.length * 0.8)));
  const notGzip = writeLog(dir, "plain.jsonl", records.slice(0, 1).map(json));
  const renamed = join(dir, "plain.jsonl.gz");
  writeFileSync(renamed, readFileSync(notGzip));
  const missing = join(dir, "missing.jsonl");

  const agg = new ShadowAggregator({ k: 10, worst: 5 });
  const summary = await readComparisonLogs([missing, good, whole, renamed], (r) => agg.add(r));
  const [m, g, cut, bogus] = summary.files;
  t.match(m, { lines: 0, error: /ENOENT/ });
  t.ok(unreadable(m!));
  t.match(g, { records: 2, error: undefined });
  t.notOk(unreadable(g!));
  t.ok(cut!.records > 0 && cut!.records < 200, `a truncated .gz yields what it has (${cut!.records})`);
  t.match(cut!.error, /unexpected end of file/);
  t.notOk(unreadable(cut!), "a file that yielded lines was read");
  t.match(bogus, { lines: 0, error: /incorrect header check/ });
  t.ok(unreadable(bogus!));
  t.equal(agg.summary().requests, summary.records);
  t.equal(summary.records, 2 + cut!.records);
});

t.test("progress lines come at most once per interval, then a final one", async (t) => {
  const dir = tmp();
  const records = randomRecords(50, 9);
  const a = writeLog(dir, "a.jsonl", records.slice(0, 25).map(json));
  const b = writeLog(dir, "b.jsonl.gz", records.slice(25).map(json));
  let clock = 0;
  const lines: { at: number; line: string; final: boolean }[] = [];
  const summary = await readComparisonLogs([a, b], () => undefined, {
    now: () => (clock += 100),
    progress: (line, final) => lines.push({ at: clock, line, final }),
  });
  t.equal(summary.records, 50);
  const periodic = lines.filter((l) => !l.final);
  t.ok(periodic.length >= 2, `${periodic.length} periodic lines`);
  for (let i = 1; i < periodic.length; i++) {
    t.ok(periodic[i]!.at - periodic[i - 1]!.at >= 1000, "at most one line a second");
  }
  for (const l of periodic)
    t.match(l.line, /^read \d+ records \(\d+(\.\d)? kB of \d+(\.\d)? kB, \d{1,3}%\)$/);
  const total = formatBytes(readFileSync(a).length + readFileSync(b).length);
  t.same(lines.at(-1), { at: clock, line: `read 50 records (${total} of ${total}, 100%)`, final: true });
  t.equal(lines.filter((l) => l.final).length, 1);

  const quiet = await readComparisonLogs([a], () => undefined);
  t.equal(quiet.records, 25, "no writer, no progress");
});

t.test("sizes are written compactly", async (t) => {
  t.equal(formatBytes(512), "512 B");
  t.equal(formatBytes(4_500), "4.5 kB");
  t.equal(formatBytes(45_000_000), "45 MB");
  t.equal(formatBytes(300_000_000), "300 MB");
  t.equal(formatBytes(1_200_000), "1.2 MB");
});
