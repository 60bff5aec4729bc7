/** A flow as fair sharing sees it: its items queued and its weight (> 0). */
export interface Share {
  readonly items: number;
  readonly weight: number;
}

/**
 * What deficit round robin serves of a band's flows while one client's
 * first m items are served: Σ over the flows of min(f.items, m × f.weight
 * ÷ w), w being that client's weight (flows.ts, competition, sums it flow
 * by flow for one new request). In rounds r = m ÷ w, a flow's term is its
 * whole queue once r reaches f.items ÷ f.weight, and r × f.weight before.
 * With the flows sorted by f.items ÷ f.weight, the sum is the items of a
 * prefix plus r times the weights of the rest, found by binary search:
 * O(F log F) to build for F flows, O(log F) per question. A recheck of J
 * queued requests (flows.ts, overtaken) costs O((J + F) log F), not J × F.
 */
export class FairShares {
  /** f.items ÷ f.weight, ascending. */
  readonly #rounds: Float64Array;
  /** [k]: the items of the first k flows in that order. */
  readonly #itemsBefore: Float64Array;
  /** [k]: the weights of flows k and after. */
  readonly #weightFrom: Float64Array;

  constructor(flows: Iterable<Share>) {
    const sorted = Array.from(flows, (f) => ({
      rounds: f.items / f.weight,
      items: f.items,
      weight: f.weight,
    }));
    sorted.sort((a, b) => a.rounds - b.rounds);
    const n = sorted.length;
    this.#rounds = Float64Array.from(sorted, (s) => s.rounds);
    this.#itemsBefore = new Float64Array(n + 1);
    this.#weightFrom = new Float64Array(n + 1);
    for (let k = 0; k < n; k++) this.#itemsBefore[k + 1] = this.#itemsBefore[k]! + sorted[k]!.items;
    for (let k = n - 1; k >= 0; k--) this.#weightFrom[k] = this.#weightFrom[k + 1]! + sorted[k]!.weight;
  }

  /** Σ over every flow of min(f.items, rounds × f.weight). */
  servedIn(rounds: number): number {
    let lo = 0;
    let hi = this.#rounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#rounds[mid]! <= rounds) lo = mid + 1;
      else hi = mid;
    }
    return this.#itemsBefore[lo]! + rounds * this.#weightFrom[lo]!;
  }
}

/** One flow's term of FairShares.servedIn: min(f.items, rounds × f.weight), as the sum counts it. */
export function shareIn(f: Share, rounds: number): number {
  return f.items / f.weight <= rounds ? f.items : rounds * f.weight;
}
