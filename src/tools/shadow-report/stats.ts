/**
 * Bounded-memory statistics for the shadow report: a log can hold millions of
 * records, so anything kept per record is either a running sum, a fixed-size
 * reservoir sample or a fixed-size heap.
 */

import { mulberry32 } from "../../util/mulberry32.js";

/**
 * Reservoir samples come from a seeded PRNG rather than Math.random so that
 * the same log always gives the same report (and tests can rely on exact figures).
 */
export const seededRandom = mulberry32;

/** Algorithm R: a uniform sample of at most `capacity` of the items added. */
export class Reservoir<T> {
  readonly items: T[] = [];
  seen = 0;

  constructor(
    readonly capacity: number,
    private readonly random: () => number,
  ) {}

  add(item: T): void {
    this.seen++;
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.capacity) this.items[j] = item;
  }
}

/**
 * Quantile of ascending `sorted` values by linear interpolation between the
 * two nearest ranks (the usual "type 7" definition); undefined when empty.
 */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  return a + (sorted[hi]! - a) * (pos - lo);
}

/** A running mean that ignores undefined and non-finite values (metrics undefined for a request). */
export class Mean {
  n = 0;
  sum = 0;
  add(v: number | undefined): void {
    if (v === undefined || !Number.isFinite(v)) return;
    this.n++;
    this.sum += v;
  }
  value(): number | null {
    return this.n === 0 ? null : this.sum / this.n;
  }
}

/** Count, mean and quantiles of a stream of numbers; quantiles come from a reservoir sample. */
export class NumberSummary {
  private readonly sample: Reservoir<number>;
  count = 0;
  sum = 0;

  constructor(sampleSize: number, random: () => number) {
    this.sample = new Reservoir<number>(sampleSize, random);
  }

  add(value: number): void {
    this.count++;
    this.sum += value;
    this.sample.add(value);
  }

  mean(): number | null {
    return this.count === 0 ? null : this.sum / this.count;
  }

  /** Quantiles at each of `qs`, null when nothing was added. */
  quantiles(qs: readonly number[]): (number | null)[] {
    const sorted = [...this.sample.items].sort((a, b) => a - b);
    return qs.map((q) => quantile(sorted, q) ?? null);
  }
}

interface Ranked<T> {
  score: number;
  seq: number;
  item: T;
}

/**
 * Keeps the `capacity` items with the largest scores seen so far, using a
 * min-heap so each add is O(log capacity). On equal scores the item added
 * first wins, which keeps the report stable across runs.
 */
export class TopK<T> {
  private readonly heap: Ranked<T>[] = [];
  private seq = 0;

  constructor(readonly capacity: number) {}

  add(score: number, item: () => T): void {
    const seq = this.seq++;
    if (this.capacity === 0) return;
    if (this.heap.length < this.capacity) {
      this.heap.push({ score, seq, item: item() });
      this.siftUp(this.heap.length - 1);
      return;
    }
    // The item is built lazily: most documents never make it into the list.
    if (score <= this.heap[0]!.score) return;
    this.heap[0] = { score, seq, item: item() };
    this.siftDown(0);
  }

  /** The kept items, largest score first. */
  sorted(): T[] {
    return [...this.heap].sort((a, b) => b.score - a.score || a.seq - b.seq).map((r) => r.item);
  }

  /** True when `a` should sit above `b` in the min-heap: lower score, or equal score and added later. */
  private less(a: Ranked<T>, b: Ranked<T>): boolean {
    return a.score < b.score || (a.score === b.score && a.seq > b.seq);
  }

  private siftUp(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
