import type { ArrivalRate } from "./arrival-rate.js";
import type { Fifo } from "./fifo.js";
import type { Job } from "./job.js";

/**
 * What the item queue (item-queue.ts) is made of, bands of flows, and what
 * a new request competes with in them: the work served before its last
 * item, queued now or still to come.
 */

/** The priority bands, served in this order. */
export type ItemPriority = "interactive" | "bulk" | "background";

/** A job's items still waiting: [start, end), `start` moving on as batches take them. */
export interface Segment {
  readonly job: Job;
  start: number;
  readonly end: number;
  readonly enqueuedAtMs: number;
}

/** One client's items in one band; `dead` counts its segments whose job has settled. */
export interface Flow {
  readonly client: string;
  readonly band: Band;
  readonly segments: Fifo<Segment>;
  dead: number;
  /** Live items queued (settled jobs' excluded). */
  items: number;
  weight: number;
  /** Items it may still take in its current turn; below 1 when the turn is over. */
  deficit: number;
  /** In its band's ring (it may stay there briefly with nothing live, until its turn comes). */
  inRing: boolean;
  /** Items it has been queueing, recently. */
  readonly arrivals: ArrivalRate;
}

export interface Band {
  readonly priority: ItemPriority;
  readonly flows: Map<string, Flow>;
  /** Flows with segments, in round-robin order; the head's turn is running. */
  readonly ring: Fifo<Flow>;
  /** Items owed to this band by its minimum share. */
  credit: number;
  /** Live items queued in this band. */
  items: number;
  /** Items queued in this band, every client's, recently. */
  readonly arrivals: ArrivalRate;
}

/** A client's weight held to the config's range (0.01–1000): 0 or NaN would never earn an item. */
export function clampWeight(weight: number): number {
  return weight >= 0.01 ? Math.min(weight, 1000) : 0.01;
}

/** Work that may still arrive ahead of a request: `perMs` items a millisecond, `room` items at most. */
export interface Arrivals {
  readonly perMs: number;
  /** +Infinity for a band above: it is served first whatever it sends. */
  readonly room: number;
}

export interface Competition {
  /** Items queued now that are served before the request's last one (its client's queued ones included). */
  readonly aheadItems: number;
  /** Who may add items ahead of it while it waits. */
  readonly arrivals: readonly Arrivals[];
}

/**
 * What a new request of `items` items from `client` (weight `weight`) in
 * band `own` competes with: everything queued in the bands above and what
 * they keep sending (all served first); its client's queued items (first
 * come, first served); and of every other client in the band, what deficit
 * round robin serves of it meanwhile: at most (the client's items) × (its
 * weight ÷ the client's), from what it has queued and, while that falls
 * short, from what it keeps sending. The bands' minimum shares are left out:
 * they only shorten the wait of the bands they serve.
 */
export function competition(
  bands: readonly Band[],
  own: Band,
  client: string,
  weight: number,
  items: number,
  nowMs: number,
): Competition {
  const w = clampWeight(weight);
  let ahead = 0;
  const arrivals: Arrivals[] = [];
  for (const band of bands) {
    if (band === own) break;
    ahead += band.items;
    arrivals.push({ perMs: band.arrivals.perMs(nowMs), room: Number.POSITIVE_INFINITY });
  }
  const mine = (own.flows.get(client)?.items ?? 0) + items;
  for (const flow of own.flows.values()) {
    if (flow.client === client) {
      ahead += flow.items;
      continue;
    }
    const share = (mine * flow.weight) / w;
    ahead += Math.min(flow.items, share);
    if (flow.items < share) arrivals.push({ perMs: flow.arrivals.perMs(nowMs), room: share - flow.items });
  }
  return { aheadItems: ahead, arrivals };
}
