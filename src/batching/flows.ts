import type { PriorityBand } from "../backends/backend-client.js";
import type { ArrivalRate } from "./arrival-rate.js";
import { FairShares, shareIn } from "./fair-shares.js";
import type { Fifo } from "./fifo.js";
import type { Job } from "./job.js";

/**
 * What the item queue (item-queue.ts) is made of, bands of flows, and what
 * a new request competes with in them: the work served before its last
 * item, queued now or still to come.
 */

/** The priority bands, served in this order. */
export type ItemPriority = PriorityBand;

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

/** A queued job whose predicted wait has grown past its deadline (see overtaken). */
export interface Overtaken {
  readonly job: Job;
  readonly client: string;
  readonly band: ItemPriority;
  /** The predicted wait until its last item is answered, with only the work queued now ahead of it. */
  readonly predictedMs: number;
}

/**
 * The queued jobs that can no longer be answered by their deadline: the
 * wait `predict` gives for the work queued ahead of each one now, at its
 * place in the queue (what competition counts queued: the bands above,
 * its client's items before it, the other clients' fair shares, these
 * summed by FairShares), passes its deadline. Work that arrived in a band above
 * since it was admitted, a client of more weight, or a slower backend can
 * do that. What may still arrive is left out, unlike at admission: it may
 * not come, and a job admitted is shed only when what is already ahead of
 * it makes it late. Left alone: jobs without a deadline, jobs some of
 * whose items were sent already, and jobs past their deadline (their timer
 * answers them). Nothing is taken out: the caller fails the jobs returned.
 */
export function overtaken(
  bands: readonly Band[],
  nowMs: number,
  predict: (aheadItems: number, ownItems: number) => number | undefined,
): Overtaken[] {
  const found: Overtaken[] = [];
  let above = 0;
  for (const band of bands) {
    if (band.items === 0) continue;
    const shares = new FairShares(band.flows.values());
    for (const flow of band.flows.values()) {
      if (flow.items === 0) continue;
      let before = 0;
      for (const { job, start, end } of flow.segments) {
        if (job.done || job.deadlineMs <= nowMs) continue;
        const own = end - start;
        if (Number.isFinite(job.deadlineMs) && start === 0 && job.unsent === own) {
          // The other flows' shares summed in O(log flows); its own flow's term taken back out.
          const rounds = (before + own) / flow.weight;
          const ahead = above + before + shares.servedIn(rounds) - shareIn(flow, rounds);
          const predictedMs = predict(ahead, own);
          if (predictedMs !== undefined && nowMs + predictedMs > job.deadlineMs) {
            found.push({ job, client: flow.client, band: band.priority, predictedMs });
            continue; // failed, it is no longer ahead of the jobs behind it
          }
        }
        before += own;
      }
    }
    above += band.items;
  }
  return found;
}
