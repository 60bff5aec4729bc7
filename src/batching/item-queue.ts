import { PRIORITY_BANDS } from "../backends/backend-client.js";
import { ArrivalRate } from "./arrival-rate.js";
import type { BatchPart } from "./batch.js";
import { Fifo } from "./fifo.js";
import {
  type Band,
  type Competition,
  clampWeight,
  competition,
  type Flow,
  type ItemPriority,
  type Overtaken,
  overtaken,
  type Segment,
} from "./flows.js";
import type { Job } from "./job.js";

export type { ItemPriority, Overtaken } from "./flows.js";

/** The lower bands' minimum shares of the items taken, while they have items queued (0: none). */
export interface BandShares {
  readonly bulk: number;
  readonly background: number;
}

export const NO_SHARES: BandShares = { bulk: 0, background: 0 };

/**
 * Items a flow of weight 1 may take per round of deficit round robin. Small
 * enough that one batch mixes many clients; a client's weight multiplies it.
 */
export const FAIR_QUANTUM_ITEMS = 16;

/**
 * Dead segments a flow may hold beyond its live ones before it is compacted.
 * Without compaction a live head (a request waiting out an overload) would
 * keep every expired request behind it, documents included.
 */
export const DEAD_SEGMENT_SLACK = 64;

/** How often pushes look for idle flows to drop (clock time). */
const SWEEP_INTERVAL_MS = 10_000;

export interface ItemQueueHooks {
  /** A job found past its deadline while still queued: the owner expires it. */
  expired(job: Job): void;
  /** `items` of a segment of `client`'s in `band` left the queue after waiting `ms`. */
  waited(ms: number, client: string, band: ItemPriority, items: number): void;
  /** A queued job of `client`'s in `band` was taken out by `evictBelow`. */
  evicted(client: string, band: ItemPriority): void;
}

/**
 * The batcher's queue of items. Three priority bands are served in order,
 * a band only when the bands above have nothing queued, except for a lower
 * band's minimum share (`shares`): while it has items queued, it is owed
 * that fraction of every batch taken and is served its due first. Inside a
 * band, clients share by deficit round robin over items (not requests): each
 * turn a client may take FAIR_QUANTUM_ITEMS × its weight, so a client with
 * huge requests cannot crowd out many small ones, and a batch fills from
 * every client at once. Requests without a client are one client ("").
 * Within a client, requests are first come, first served.
 *
 * A settled job's segment is not looked for: it is skipped when it reaches
 * its flow's head (`dead`), or dropped by compaction once the dead outnumber
 * the live by DEAD_SEGMENT_SLACK.
 */
export class ItemQueue {
  readonly #bands: readonly Band[] = PRIORITY_BANDS.map((priority) => ({
    priority,
    flows: new Map<string, Flow>(),
    ring: new Fifo<Flow>(),
    credit: 0,
    items: 0,
    arrivals: new ArrivalRate(),
  }));
  /** The flow holding each job's segment, until the segment leaves it. */
  readonly #holder = new Map<Job, Flow>();
  readonly #hooks: ItemQueueHooks;
  #shares: BandShares = NO_SHARES;
  #items = 0;
  #segments = 0;
  #sweptAtMs = Number.NEGATIVE_INFINITY;

  constructor(hooks: ItemQueueHooks) {
    this.#hooks = hooks;
  }

  /** Items waiting (settled jobs' items excluded). */
  get items(): number {
    return this.#items;
  }

  /** Items waiting in one band. */
  bandItems(priority: ItemPriority): number {
    return this.#band(priority).items;
  }

  /** Live items queued per client and band (for metrics, read at scrape time). */
  *queuedByClient(): Generator<{ client: string; band: ItemPriority; items: number }> {
    for (const band of this.#bands) {
      for (const flow of band.flows.values()) {
        if (flow.items > 0) yield { client: flow.client, band: band.priority, items: flow.items };
      }
    }
  }

  /** Segments held, dead ones included. */
  get retainedSegments(): number {
    return this.#segments;
  }

  /** The lower bands' minimum shares, from the next take on. */
  setShares(shares: BandShares): void {
    this.#shares = shares;
  }

  /**
   * Queues every item of `job` (a new job: none sent yet) for `client` in
   * the job's band. `weight` (> 0) is the client's weight from now on, for
   * the items it has queued already too.
   */
  push(job: Job, nowMs: number, client = "", weight = 1): void {
    const band = this.#band(job.priority);
    let flow = band.flows.get(client);
    if (!flow) {
      flow = {
        client,
        band,
        segments: new Fifo<Segment>(),
        dead: 0,
        items: 0,
        weight,
        deficit: 0,
        inRing: false,
        arrivals: new ArrivalRate(),
      };
      band.flows.set(client, flow);
    }
    flow.weight = clampWeight(weight);
    if (!flow.inRing) {
      band.ring.push(flow);
      flow.inRing = true;
    }
    flow.segments.push({ job, start: 0, end: job.documents.length, enqueuedAtMs: nowMs });
    this.#segments++;
    this.#holder.set(job, flow);
    band.items += job.documents.length;
    flow.items += job.documents.length;
    this.#items += job.documents.length;
    band.arrivals.add(job.documents.length, nowMs);
    flow.arrivals.add(job.documents.length, nowMs);
    if (nowMs - this.#sweptAtMs >= SWEEP_INTERVAL_MS) this.#sweep(nowMs);
  }

  /** What a new request competes with for the backend (see flows.ts, competition). */
  competition(
    priority: ItemPriority,
    client: string,
    weight: number,
    items: number,
    nowMs: number,
  ): Competition {
    return competition(this.#bands, this.#band(priority), client, weight, items, nowMs);
  }

  /** The queued jobs that would now be answered after their deadline (see flows.ts, overtaken). */
  unreachable(
    nowMs: number,
    predict: (aheadItems: number, ownItems: number) => number | undefined,
  ): Overtaken[] {
    return overtaken(this.#bands, nowMs, predict);
  }

  /** Items waiting in the bands below `priority`'s: what a request there may evict. */
  itemsBelow(priority: ItemPriority): number {
    let n = 0;
    for (let b = this.#bands.length - 1; b >= 0 && this.#bands[b]!.priority !== priority; b--) {
      n += this.#bands[b]!.items;
    }
    return n;
  }

  /** Items `client` has waiting, in every band. */
  clientItems(client: string): number {
    let n = 0;
    for (const band of this.#bands) n += band.flows.get(client)?.items ?? 0;
    return n;
  }

  /**
   * Makes room for `items` items of a `priority` request by taking queued
   * jobs of the lower bands out: the lowest band first, in it the client with
   * the most items queued, its newest job first. Returns the jobs taken out,
   * which the owner fails and drops (their items leave the count then);
   * nothing when the lower bands cannot free enough.
   */
  evictBelow(priority: ItemPriority, items: number): Job[] {
    if (this.itemsBelow(priority) < items) return [];
    const evicted: Job[] = [];
    let freed = 0;
    for (let b = this.#bands.length - 1; b >= 0 && freed < items; b--) {
      const band = this.#bands[b]!;
      if (band.priority === priority) break;
      while (freed < items && band.items > 0) {
        let largest: Flow | undefined;
        for (const flow of band.flows.values()) if (!largest || flow.items > largest.items) largest = flow;
        const seg = largest?.segments.pop();
        if (!largest || !seg) break;
        this.#segments--;
        this.#holder.delete(seg.job);
        if (seg.job.done) {
          largest.dead--;
          continue;
        }
        const n = seg.end - seg.start;
        largest.items -= n;
        band.items -= n;
        freed += n;
        evicted.push(seg.job);
        this.#hooks.evicted(largest.client, band.priority);
      }
    }
    return evicted;
  }

  /** Drops settled and expired jobs from the flows' heads; returns when the oldest live item was queued. */
  oldestLiveMs(nowMs: number): number | undefined {
    let oldest: number | undefined;
    for (const band of this.#bands) {
      for (const flow of band.ring) {
        const head = this.#liveHead(flow, nowMs);
        if (head && (oldest === undefined || head.enqueuedAtMs < oldest)) oldest = head.enqueuedAtMs;
      }
    }
    return oldest;
  }

  /**
   * Takes up to `size` live items: first what the lower bands' minimum
   * shares are owed, then band by band, clients in turn; the last segment
   * taken is split when it does not fit. Expired jobs met on the way are
   * handed to `hooks.expired`.
   */
  take(size: number, nowMs: number): BatchPart[] {
    const parts: BatchPart[] = [];
    let taken = 0;
    for (let b = 1; b < this.#bands.length; b++) {
      const band = this.#bands[b]!;
      const share = band.priority === "bulk" ? this.#shares.bulk : this.#shares.background;
      if (share <= 0 || band.items === 0) {
        band.credit = 0;
        continue;
      }
      band.credit = Math.min(band.credit + size * share, size);
      const owed = Math.floor(band.credit);
      if (owed > 0) {
        const got = this.#takeFrom(band, Math.min(owed, size - taken), nowMs, parts);
        band.credit -= got;
        taken += got;
      }
    }
    for (const band of this.#bands) {
      if (taken >= size) break;
      taken += this.#takeFrom(band, size - taken, nowMs, parts);
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
    const flow = this.#holder.get(job);
    // A segment no longer held (expired at the head, or removed) left its band's count then.
    if (flow) {
      flow.band.items -= n;
      flow.items -= n;
      flow.dead++;
      if (flow.dead > flow.segments.length - flow.dead + DEAD_SEGMENT_SLACK) this.#compact(flow);
    }
    return n;
  }

  /** Empties the queue: every job with a segment held, band by band. */
  removeAll(): Job[] {
    const jobs: Job[] = [];
    for (const band of this.#bands) {
      for (let flow = band.ring.shift(); flow; flow = band.ring.shift()) {
        for (let seg = this.#shift(flow); seg; seg = this.#shift(flow)) jobs.push(seg.job);
        flow.deficit = 0;
        flow.inRing = false;
      }
      band.flows.clear();
      band.credit = 0;
      band.items = 0;
    }
    return jobs;
  }

  /** Drops flows with nothing held whose arrivals have faded, so idle clients cost nothing. */
  #sweep(nowMs: number): void {
    this.#sweptAtMs = nowMs;
    for (const band of this.#bands) {
      for (const [client, flow] of band.flows) {
        if (!flow.inRing && flow.segments.length === 0 && flow.arrivals.faded(nowMs))
          band.flows.delete(client);
      }
    }
  }

  #band(priority: ItemPriority): Band {
    return this.#bands[priority === "interactive" ? 0 : priority === "bulk" ? 1 : 2]!;
  }

  /** Deficit round robin over `band`'s flows, appending to `parts`; returns the items taken. */
  #takeFrom(band: Band, limit: number, nowMs: number, parts: BatchPart[]): number {
    let taken = 0;
    while (taken < limit) {
      const flow = band.ring.peek();
      if (!flow) break;
      const seg = this.#liveHead(flow, nowMs);
      if (!seg) {
        // Nothing live left: the flow leaves the ring; it stays in the map, with what it has been
        // sending, until that fades (#sweep), for the waits predicted meanwhile.
        band.ring.shift();
        flow.deficit = 0;
        flow.inRing = false;
        continue;
      }
      if (flow.deficit < 1) {
        // A new turn; a weight below 1/FAIR_QUANTUM_ITEMS needs several turns for one item.
        flow.deficit += FAIR_QUANTUM_ITEMS * flow.weight;
        if (flow.deficit < 1) {
          band.ring.push(band.ring.shift()!);
          continue;
        }
      }
      const quota = Math.floor(flow.deficit);
      const end = Math.min(seg.end, seg.start + Math.min(limit - taken, quota));
      const count = end - seg.start;
      parts.push({ job: seg.job, start: seg.start, end });
      this.#hooks.waited(nowMs - seg.enqueuedAtMs, flow.client, band.priority, count);
      this.#items -= count;
      band.items -= count;
      flow.items -= count;
      flow.deficit -= count;
      taken += count;
      if (end === seg.end) this.#shift(flow);
      else seg.start = end;
      seg.job.sent(count);
      // Its turn is over: the next client's turn.
      if (flow.deficit < 1) band.ring.push(band.ring.shift()!);
    }
    return taken;
  }

  #liveHead(flow: Flow, nowMs: number): Segment | undefined {
    for (let seg = flow.segments.peek(); seg; seg = flow.segments.peek()) {
      if (!seg.job.done && seg.job.deadlineMs > nowMs) return seg;
      this.#shift(flow);
      if (!seg.job.done) {
        flow.band.items -= seg.end - seg.start;
        flow.items -= seg.end - seg.start;
        this.#hooks.expired(seg.job);
      }
    }
    return undefined;
  }

  #shift(flow: Flow): Segment | undefined {
    const seg = flow.segments.shift();
    if (seg) {
      if (seg.job.done) flow.dead--;
      this.#segments--;
      this.#holder.delete(seg.job);
    }
    return seg;
  }

  /** Drops every dead segment of `flow` (callers hold no position in it across a settlement). */
  #compact(flow: Flow): void {
    flow.segments.retain((seg) => {
      if (!seg.job.done) return true;
      this.#segments--;
      this.#holder.delete(seg.job);
      return false;
    });
    flow.dead = 0;
  }
}
