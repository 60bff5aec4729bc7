/**
 * Items arriving per millisecond, recently: what a client (or a band) keeps
 * adding to the queue. Admission needs it because fair sharing and bands
 * serve work that arrives after a request ahead of it: a client that keeps
 * sending takes its share of every batch for as long as the request waits,
 * not only the items it has queued when the request arrives.
 *
 * An exponentially decaying count: each item counts 1 when it arrives and
 * fades by e^(−age / timeConstantMs), so a steady λ items/ms settles at
 * λ × timeConstantMs, and the rate is the count over the time constant.
 */
export class ArrivalRate {
  readonly #timeConstantMs: number;
  #count = 0;
  #atMs = 0;

  constructor(timeConstantMs = 2000) {
    this.#timeConstantMs = timeConstantMs;
  }

  /** `items` arrived at `nowMs`. */
  add(items: number, nowMs: number): void {
    this.#count = this.#countAt(nowMs) + items;
    this.#atMs = nowMs;
  }

  /** Items per millisecond at `nowMs`. */
  perMs(nowMs: number): number {
    return this.#countAt(nowMs) / this.#timeConstantMs;
  }

  /** Whether what arrived has faded to nothing (under a hundredth of an item) by `nowMs`. */
  faded(nowMs: number): boolean {
    return this.#countAt(nowMs) < 0.01;
  }

  #countAt(nowMs: number): number {
    return this.#count === 0
      ? 0
      : this.#count * Math.exp(-Math.max(0, nowMs - this.#atMs) / this.#timeConstantMs);
  }
}
