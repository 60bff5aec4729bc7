import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Writable } from "node:stream";
import { Fifo } from "../batching/fifo.js";
import type { Logger } from "../observability/logger.js";
import type { ComparisonRecord } from "./comparison-record.js";

/** Why a record never reached the disk: the bounded queue was full, or the file system failed. */
export type ComparisonLogDropReason = "queue_full" | "write_error";

export interface ComparisonLogOptions {
  /** Directory of the log; created when missing. */
  readonly dir: string;
  /** Name of the file being written; rotated files insert a timestamp before its extension. */
  readonly fileName?: string;
  /** A file is rotated before a line would take it past this size (a single larger line gets a file of its own). */
  readonly maxFileBytes: number;
  /** Files kept in total, the current one included; the oldest rotated files are deleted. */
  readonly maxFiles: number;
  /** Serialised records waiting for the disk; beyond this, records are dropped and counted. */
  readonly maxQueuedRecords: number;
  readonly logger: Logger;
  readonly onDrop?: (reason: ComparisonLogDropReason) => void;
  /** Called once per record the file system accepted. */
  readonly onWrite?: () => void;
  /** Opens the current file for appending; tests substitute slow or failing streams. */
  readonly openStream?: (path: string) => Writable;
  /** Wall-clock epoch milliseconds for rotated file names (the gateway's Clock is monotonic). */
  readonly wallClockMs?: () => number;
}

export interface ComparisonLogStats {
  /** Records serialised and waiting for the disk. */
  readonly queued: number;
  /** Records the file system accepted. */
  readonly written: number;
  readonly dropped: { readonly queue_full: number; readonly write_error: number };
  /** Records refused because write() came after close(). */
  readonly afterClose: number;
  readonly rotations: number;
  /** Size of the current file, counting lines handed to the stream but not yet flushed. */
  readonly fileBytes: number;
}

export interface ComparisonLog {
  /**
   * Serialises `record` to one JSON line and queues it for the disk. Cheap,
   * never blocks and never throws: false (and onDrop) when the record was
   * dropped because `maxQueuedRecords` are already waiting.
   */
  write(record: ComparisonRecord): boolean;
  /**
   * Stops accepting records, writes what is queued and closes the file.
   * Idempotent. Waits for the disk however slow it is: callers bound it with
   * their shutdown grace period.
   */
  close(): Promise<void>;
  stats(): ComparisonLogStats;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** 2025-03-01T14:22:33.517Z → 20250301T142233.517Z: ISO 8601 basic format, which sorts and is safe in file names. */
function fileTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/[-:]/g, "");
}

function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : err instanceof Error ? err.name : "unknown";
}

/** Resolves once `s` can take more data, or once it is gone (an error or close ends the wait too). */
function drained(s: Writable): Promise<void> {
  if (s.destroyed || !s.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      s.off("drain", done);
      s.off("close", done);
      s.off("error", done);
      resolve();
    };
    s.on("drain", done);
    s.on("close", done);
    s.on("error", done);
  });
}

/** Ends `s` and resolves when it has closed (for a file: flushed and the descriptor released). */
function ended(s: Writable): Promise<void> {
  if (s.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    s.once("close", () => resolve());
    s.end();
  });
}

/**
 * The comparison log's sink: JSON Lines appended to `dir/fileName`, rotated by
 * size, with bounded disk use (≈ maxFiles × maxFileBytes) and bounded memory
 * (maxQueuedRecords lines). Writes happen off the request path through one
 * stream, respecting its backpressure; when the disk cannot keep up the queue
 * fills and the excess is dropped and counted rather than buffered without
 * limit. File-system errors are logged once per kind, counted, and retried
 * with the next record by reopening the file; they never reach the caller.
 */
export function createComparisonLog(opts: ComparisonLogOptions): ComparisonLog {
  const log = opts.logger.child({ component: "comparison-log" });
  const fileName = opts.fileName ?? "comparisons.jsonl";
  const path = join(opts.dir, fileName);
  const ext = extname(fileName);
  const base = fileName.slice(0, fileName.length - ext.length);
  const rotatedName = new RegExp(`^${escapeRegExp(base)}-\\d{8}T\\d{6}\\.\\d{3}Z-\\d+${escapeRegExp(ext)}$`);
  const openStream = opts.openStream ?? ((p: string) => createWriteStream(p, { flags: "a" }));
  const wallClockMs = opts.wallClockMs ?? Date.now;

  const queue = new Fifo<string>();
  let stream: Writable | undefined;
  let fileBytes = 0;
  let rotationSeq = 0;
  let pruned = false;
  let pumping: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const counts = { written: 0, queue_full: 0, write_error: 0, afterClose: 0, rotations: 0 };
  // Failure kinds already logged; cleared when a write succeeds again so a later outage is logged anew.
  const reported = new Set<string>();

  function report(op: string, err: unknown): void {
    const kind = `${op}:${errorKind(err)}`;
    if (reported.has(kind)) return;
    reported.add(kind);
    log.error({ err, op, path }, `comparison log: ${op} failed; affected records are dropped and counted`);
  }

  function drop(reason: ComparisonLogDropReason): void {
    counts[reason]++;
    try {
      opts.onDrop?.(reason);
    } catch (err) {
      report("onDrop", err);
    }
  }

  function accepted(err: Error | null | undefined): void {
    if (err) {
      drop("write_error");
      return;
    }
    counts.written++;
    if (reported.size > 0) {
      reported.clear();
      log.info({ path }, "comparison log: writing again");
    }
    try {
      opts.onWrite?.();
    } catch (e) {
      report("onWrite", e);
    }
  }

  /** Size of the current file and whether it ends mid-line (a crash or a full disk cut a record short). */
  async function currentFile(): Promise<{ size: number; partialLine: boolean }> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, "r");
    } catch (err) {
      if (errorKind(err) === "ENOENT") return { size: 0, partialLine: false };
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (size === 0) return { size, partialLine: false };
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      return { size, partialLine: last[0] !== 0x0a };
    } finally {
      await handle.close();
    }
  }

  /** Deletes the oldest rotated files so that, with the current one, at most maxFiles remain. */
  async function prune(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(opts.dir);
    } catch (err) {
      report("prune", err);
      return;
    }
    const rotated = names.filter((n) => rotatedName.test(n)).sort();
    const excess = rotated.length - (opts.maxFiles - 1);
    for (const name of rotated.slice(0, Math.max(0, excess))) {
      await unlink(join(opts.dir, name)).catch((err: unknown) => report("delete", err));
    }
  }

  async function openCurrent(): Promise<Writable> {
    await mkdir(opts.dir, { recursive: true });
    if (!pruned) {
      // Once per process: a smaller maxFiles than last run's takes effect at start.
      await prune();
      pruned = true;
    }
    const { size, partialLine } = await currentFile();
    const s = openStream(path);
    s.on("error", (err: Error) => {
      report("write", err);
      // Records already handed to this stream fail through their callbacks; the next record reopens.
      if (stream === s) stream = undefined;
      s.destroy();
    });
    stream = s;
    fileBytes = size;
    if (partialLine) {
      // Terminate the cut-off line so the next record starts on a line of its own.
      s.write("\n");
      fileBytes += 1;
    }
    return s;
  }

  async function rotate(current: Writable): Promise<void> {
    stream = undefined;
    await ended(current);
    const name = `${base}-${fileTimestamp(wallClockMs())}-${String(rotationSeq++).padStart(6, "0")}${ext}`;
    try {
      await rename(path, join(opts.dir, name));
      counts.rotations++;
    } catch (err) {
      report("rotate", err);
    }
    await prune();
  }

  async function pump(): Promise<void> {
    for (let line = queue.peek(); line !== undefined; line = queue.peek()) {
      const bytes = Buffer.byteLength(line);
      // A stream that failed is marked before its 'error' event is delivered; never write into it.
      if (stream?.destroyed || stream?.errored) stream = undefined;
      let s: Writable;
      try {
        s = stream ?? (await openCurrent());
        if (fileBytes > 0 && fileBytes + bytes > opts.maxFileBytes) {
          await rotate(s);
          s = await openCurrent();
        }
      } catch (err) {
        report("open", err);
        queue.shift();
        drop("write_error");
        continue;
      }
      queue.shift();
      fileBytes += bytes;
      if (!s.write(line, accepted)) await drained(s);
    }
  }

  function kick(): void {
    if (pumping) return;
    pumping = pump()
      .catch((err: unknown) => {
        report("pump", err);
        // Give up on the record at the head so that a fault cannot turn into a busy loop.
        if (queue.shift() !== undefined) drop("write_error");
      })
      .finally(() => {
        pumping = undefined;
        // A record queued while the loop was finishing its last await.
        if (queue.length > 0) kick();
      });
  }

  return {
    write(record) {
      if (closing) {
        counts.afterClose++;
        return false;
      }
      if (queue.length >= opts.maxQueuedRecords) {
        drop("queue_full");
        return false;
      }
      let line: string;
      try {
        line = `${JSON.stringify(record)}\n`;
      } catch (err) {
        report("serialise", err);
        drop("write_error");
        return false;
      }
      queue.push(line);
      kick();
      return true;
    },

    close() {
      closing ??= (async () => {
        while (pumping) await pumping;
        const s = stream;
        stream = undefined;
        if (s) await ended(s);
      })().catch((err: unknown) => report("close", err));
      return closing;
    },

    stats() {
      return {
        queued: queue.length,
        written: counts.written,
        dropped: { queue_full: counts.queue_full, write_error: counts.write_error },
        afterClose: counts.afterClose,
        rotations: counts.rotations,
        fileBytes,
      };
    },
  };
}
