import type { BatchPart } from "./batch.js";
import { Fifo } from "./fifo.js";
import type { Job } from "./job.js";

export type ItemPriority = "interactive" | "bulk";

/** A job's items still waiting: [start, end), `start` moving on as batches take them. */
interface Segment {
  readonly job: Job;
  start: number;
  readonly end: number;
  readonly enqueuedAtMs: number;
}

/** One priority's FIFO; `dead` counts its segments whose job has settled (expired, cancelled). */
interface Band {
  readonly fifo: Fifo<Segment>;
  dead: number;
}

export interface ItemQueueHooks {
  /** A job found past its deadline while still queued: the owner expires it. */
  expired(job: Job): void;
  /** A segment left the queue (wholly or in part) after waiting `ms`. */
  waited(ms: number): void;
}

/**
 * Dead segments a band may hold beyond its live ones before it is compacted.
 * Without compaction a live head (a bulk request waiting out an interactive
 * overload) would keep every expired request behind it, documents included.
 */
export const DEAD_SEGMENT_SLACK = 64;

/**
 * The batcher's queue of items: one FIFO per priority, interactive served
 * first, each holding one segment per job. A settled job's segment is not
 * looked for: it is skipped when it reaches the head (`dead`), or dropped
 * by compaction once the dead outnumber the live by DEAD_SEGMENT_SLACK.
 */
export class ItemQueue {
  readonly #interactive: Band = { fifo: new Fifo<Segment>(), dead: 0 };
  readonly #bulk: Band = { fifo: new Fifo<Segment>(), dead: 0 };
  readonly #bands: readonly Band[] = [this.#interactive, this.#bulk];
  /** The band holding each job's segment, until the segment leaves it. */
  readonly #holder = new Map<Job, Band>();
  readonly #hooks: ItemQueueHooks;
  #items = 0;

  constructor(hooks: ItemQueueHooks) {
    this.#hooks = hooks;
  }

  /** Items waiting (settled jobs' items excluded). */
  get items(): number {
    return this.#items;
  }

  /** Segments held, dead ones included. */
  get retainedSegments(): number {
    return this.#interactive.fifo.length + this.#bulk.fifo.length;
  }

  /** Queues every item of `job` (a new job: none sent yet). */
  push(job: Job, priority: ItemPriority, nowMs: number): void {
    const band = priority === "bulk" ? this.#bulk : this.#interactive;
    band.fifo.push({ job, start: 0, end: job.documents.length, enqueuedAtMs: nowMs });
    this.#holder.set(job, band);
    this.#items += job.documents.length;
  }

  /** Drops settled and expired jobs from the band heads; returns when the oldest live head was queued. */
  oldestLiveMs(nowMs: number): number | undefined {
    let oldest: number | undefined;
    for (const band of this.#bands) {
      const head = this.#liveHead(band, nowMs);
      if (head && (oldest === undefined || head.enqueuedAtMs < oldest)) oldest = head.enqueuedAtMs;
    }
    return oldest;
  }

  /**
   * Takes up to `size` live items, interactive first, oldest first, splitting
   * the last job's segment when it does not fit; expired jobs met on the way
   * are handed to `hooks.expired`.
   */
  take(size: number, nowMs: number): BatchPart[] {
    const parts: BatchPart[] = [];
    let taken = 0;
    for (const band of this.#bands) {
      while (taken < size) {
        const seg = this.#liveHead(band, nowMs);
        if (!seg) break;
        const end = Math.min(seg.end, seg.start + (size - taken));
        const count = end - seg.start;
        parts.push({ job: seg.job, start: seg.start, end });
        this.#hooks.waited(nowMs - seg.enqueuedAtMs);
        this.#items -= count;
        taken += count;
        if (end === seg.end) this.#shift(band);
        else seg.start = end;
        seg.job.sent(count);
      }
    }
    return parts;
  }

  /**
   * A job settled: its unsent items leave the count (returned) and its
   * segment, if still held, is dead; call after the job is settled.
   */
  drop(job: Job): number {
    const n = job.dropUnsent();
    this.#items -= n;
    const band = this.#holder.get(job);
    if (band) {
      band.dead++;
      if (band.dead > band.fifo.length - band.dead + DEAD_SEGMENT_SLACK) this.#compact(band);
    }
    return n;
  }

  /** Empties the queue: every job with a segment held, interactive first. */
  removeAll(): Job[] {
    const jobs: Job[] = [];
    for (const band of this.#bands) {
      for (let seg = this.#shift(band); seg; seg = this.#shift(band)) jobs.push(seg.job);
    }
    return jobs;
  }

  #liveHead(band: Band, nowMs: number): Segment | undefined {
    for (let seg = band.fifo.peek(); seg; seg = band.fifo.peek()) {
      if (!seg.job.done && seg.job.deadlineMs > nowMs) return seg;
      this.#shift(band);
      if (!seg.job.done) this.#hooks.expired(seg.job);
    }
    return undefined;
  }

  #shift(band: Band): Segment | undefined {
    const seg = band.fifo.shift();
    if (seg) {
      if (seg.job.done) band.dead--;
      this.#holder.delete(seg.job);
    }
    return seg;
  }

  /** Drops every dead segment of `band` (callers hold no position in it across a settlement). */
  #compact(band: Band): void {
    band.fifo.retain((seg) => {
      if (!seg.job.done) return true;
      this.#holder.delete(seg.job);
      return false;
    });
    band.dead = 0;
  }
}
