import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import t, { type Test } from "tap";
import type { Logger } from "../../src/observability/logger.js";
import { type ComparisonLogOptions, createComparisonLog } from "../../src/shadow/comparison-log.js";
import { type ComparisonRecord, parseComparisonRecord } from "../../src/shadow/comparison-record.js";
import { sampleRecord } from "./sample-record.js";

const ROTATED = /^comparisons-\d{8}T\d{6}\.\d{3}Z-\d{6}\.jsonl$/;

function record(i: number): ComparisonRecord {
  return { ...sampleRecord(3), requestId: `req-${i}` };
}

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: { level: number; msg: string; op?: string }[] } {
  const lines: { level: number; msg: string; op?: string }[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

function setup(t: Test, overrides: Partial<ComparisonLogOptions> = {}) {
  const drops: string[] = [];
  let writes = 0;
  const { logger, lines } = capturingLogger();
  // A fresh directory per test, removed by tap afterwards.
  const dir = overrides.dir ?? t.testdir();
  const log = createComparisonLog({
    dir,
    maxFileBytes: 1 << 20,
    maxFiles: 4,
    maxQueuedRecords: 1000,
    logger,
    onDrop: (reason) => drops.push(reason),
    onWrite: () => writes++,
    ...overrides,
  });
  return { log, dir, drops, lines, writes: () => writes };
}

function readLines(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").slice(0, -1);
}

const tick = () => new Promise((r) => setImmediate(r));

/** Waits for file-system callbacks (thread pool), which a loaded machine can delay for many event-loop turns. */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A stream that accepts one chunk at a time and completes each only when the test says so: a slow disk. */
function slowDisk() {
  const chunks: string[] = [];
  const pending: ((err?: Error) => void)[] = [];
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      pending.push(cb);
    },
  });
  const release = async () => {
    while (pending.length > 0) {
      pending.shift()!();
      await tick();
    }
  };
  return { stream, chunks, pending, release };
}

t.test("records round-trip, in order, into a directory it creates", async (t) => {
  const base = t.testdir();
  const { log, drops, writes } = setup(t, { dir: join(base, "a", "b") });
  const records = Array.from({ length: 20 }, (_, i) => record(i));
  for (const r of records) t.equal(log.write(r), true);
  await log.close();
  const lines = readLines(join(base, "a", "b", "comparisons.jsonl"));
  t.strictSame(lines.map(parseComparisonRecord), records);
  t.equal(writes(), 20);
  t.same(drops, []);
  t.match(log.stats(), { queued: 0, written: 20, dropped: { queue_full: 0, write_error: 0 }, rotations: 0 });
});

t.test("rotation keeps at most maxFiles files of at most maxFileBytes", async (t) => {
  const lineBytes = Buffer.byteLength(`${JSON.stringify(record(10))}\n`);
  const maxFileBytes = lineBytes * 3 + 10;
  const { log, dir } = setup(t, {
    maxFileBytes,
    maxFiles: 3,
    wallClockMs: () => Date.UTC(2025, 2, 1, 14, 22, 33, 517),
  });
  for (let i = 10; i < 60; i++) log.write(record(i));
  await log.close();

  const names = readdirSync(dir).sort();
  t.equal(names.length, 3);
  t.ok(names.includes("comparisons.jsonl"));
  const rotated = names.filter((n) => n !== "comparisons.jsonl");
  t.ok(
    rotated.every((n) => ROTATED.test(n)),
    `rotated names: ${rotated.join(", ")}`,
  );
  t.ok(rotated[0]!.startsWith("comparisons-20250301T142233.517Z-"));
  for (const n of names) t.ok(statSync(join(dir, n)).size <= maxFileBytes, `${n} ≤ maxFileBytes`);

  // What is kept is the newest records, contiguous and in order: rotated files oldest first, then the current one.
  const kept = [...rotated, "comparisons.jsonl"].flatMap((n) => readLines(join(dir, n)));
  const ids = kept.map((l) => (parseComparisonRecord(l) as ComparisonRecord).requestId);
  const first = 60 - ids.length;
  t.strictSame(
    ids,
    Array.from({ length: ids.length }, (_, i) => `req-${first + i}`),
  );
  t.equal(ids.length, 2 * 3 + 2, "two full rotated files and the current one (50 = 16 × 3 + 2)");
  t.equal(log.stats().rotations, 16);
});

t.test("a line larger than maxFileBytes gets a file of its own", async (t) => {
  const { log, dir } = setup(t, { maxFileBytes: 100, maxFiles: 10 });
  for (let i = 0; i < 4; i++) log.write(record(i));
  await log.close();
  const names = readdirSync(dir);
  t.equal(names.length, 4);
  for (const n of names) t.equal(readLines(join(dir, n)).length, 1, n);
});

t.test("at start: old rotated files beyond maxFiles go, and a cut-off last line is terminated", async (t) => {
  const dir = t.testdir();
  const old = ["20240101T000000.000Z-000000", "20240102T000000.000Z-000000", "20240103T000000.000Z-000000"];
  for (const o of old) writeFileSync(join(dir, `comparisons-${o}.jsonl`), "{}\n");
  writeFileSync(join(dir, "notes.txt"), "not ours");
  writeFileSync(join(dir, "comparisons.jsonl"), '{"v":1,"requestId":"cut');
  const { log } = setup(t, { dir, maxFiles: 2 });
  log.write(record(1));
  await log.close();
  t.strictSame(readdirSync(dir).sort(), [
    "comparisons-20240103T000000.000Z-000000.jsonl",
    "comparisons.jsonl",
    "notes.txt",
  ]);
  const lines = readLines(join(dir, "comparisons.jsonl"));
  t.equal(lines.length, 2);
  t.match(parseComparisonRecord(lines[0]!), /^line: not valid JSON/);
  t.strictSame(parseComparisonRecord(lines[1]!), record(1));
});

t.test("a slow disk: records beyond maxQueuedRecords are dropped and counted", async (t) => {
  const disk = slowDisk();
  const { log, drops, writes } = setup(t, { maxQueuedRecords: 5, openStream: () => disk.stream });
  t.equal(log.write(record(0)), true);
  await until("the first record reaches the stream", () => disk.pending.length === 1);

  const accepted = Array.from({ length: 20 }, (_, i) => log.write(record(i + 1)));
  t.strictSame(accepted, [...Array(5).fill(true), ...Array(15).fill(false)]);
  t.equal(drops.length, 15);
  t.ok(drops.every((d) => d === "queue_full"));
  t.match(log.stats(), { queued: 5, written: 0, dropped: { queue_full: 15, write_error: 0 } });

  let closed = false;
  const closing = log.close().then(() => {
    closed = true;
  });
  await tick();
  t.equal(closed, false, "close waits for the disk");
  t.equal(log.write(record(99)), false, "nothing is accepted once closing");

  await disk.release();
  await closing;
  t.equal(writes(), 6);
  t.strictSame(
    disk.chunks.map((c) => (parseComparisonRecord(c) as ComparisonRecord).requestId),
    ["req-0", "req-1", "req-2", "req-3", "req-4", "req-5"],
  );
  t.match(log.stats(), { queued: 0, written: 6, afterClose: 1 });
});

t.test("write errors are counted, logged once per kind, and never thrown", async (t) => {
  let opened = 0;
  const failing = () => {
    opened++;
    return new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error("no space left on device"), { code: "ENOSPC" }));
      },
    });
  };
  const { log, drops, lines } = setup(t, { openStream: failing });
  for (let i = 0; i < 10; i++) {
    t.equal(log.write(record(i)), true);
    if (i % 3 === 0) await tick();
  }
  await log.close();
  t.equal(drops.length, 10);
  t.ok(drops.every((d) => d === "write_error"));
  t.match(log.stats(), { written: 0, dropped: { write_error: 10 } });
  t.ok(opened > 1, "the file is reopened after a failure");
  const errors = lines.filter((l) => l.level >= 50);
  t.equal(errors.length, 1, "one log line for one kind of failure");
  t.equal(errors[0]?.op, "write");
});

t.test("a full disk (/dev/full): every record is a write error", async (t) => {
  const { log, drops, lines } = setup(t, {
    dir: "/dev",
    fileName: "full",
    // Far above what the test writes: rotation must never try to rename a device.
    maxFileBytes: 2 ** 40,
  });
  for (let i = 0; i < 5; i++) log.write(record(i));
  await until("all five failed", () => drops.length === 5);
  for (let i = 5; i < 8; i++) log.write(record(i));
  await log.close();
  t.equal(drops.length, 8);
  t.ok(drops.every((d) => d === "write_error"));
  t.equal(log.stats().written, 0);
  const errors = lines.filter((l) => l.level >= 50);
  t.equal(errors.length, 1, "ENOSPC is logged once");
});

t.test("after a failure, writing resumes and says so", async (t) => {
  let opened = 0;
  const chunks: string[] = [];
  const flaky = () =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (opened++ === 0) cb(Object.assign(new Error("permission denied"), { code: "EACCES" }));
        else {
          chunks.push(chunk.toString());
          cb();
        }
      },
    });
  const { log, drops, lines } = setup(t, { openStream: flaky });
  log.write(record(0));
  await until("the failure", () => drops.length === 1);
  log.write(record(1));
  await log.close();
  t.strictSame(drops, ["write_error"]);
  t.equal(chunks.length, 1);
  t.ok(lines.some((l) => l.msg.includes("writing again")));
});

t.test("a directory that cannot be created: every record is a write error", async (t) => {
  const file = join(t.testdir(), "plain-file");
  writeFileSync(file, "");
  const { log, drops, lines } = setup(t, { dir: join(file, "sub") });
  for (let i = 0; i < 3; i++) log.write(record(i));
  await log.close();
  t.strictSame(drops, ["write_error", "write_error", "write_error"]);
  t.equal(lines.filter((l) => l.level >= 50).length, 1);
});

t.test("close is idempotent and writes after it are refused", async (t) => {
  const { log, dir } = setup(t);
  log.write(record(0));
  const a = log.close();
  t.equal(log.close(), a);
  await a;
  t.equal(log.write(record(1)), false);
  t.equal(readLines(join(dir, "comparisons.jsonl")).length, 1);
  await log.close();
});

t.test("an unserialisable record is dropped, not thrown", async (t) => {
  const { log, drops } = setup(t);
  const bad = { ...record(0), latencyMs: 10n } as unknown as ComparisonRecord;
  t.equal(log.write(bad), false);
  t.strictSame(drops, ["write_error"]);
  await log.close();
});
