/**
 * Items arriving per millisecond, recently: what a client (or a band) keeps
 * adding to the queue. Admission needs it because fair sharing and bands
 * serve work that arrives after a request ahead of it: a client that keeps
 * sending takes its share of every batch for as long as the request waits,
 * not only the items it has queued when the request arrives.
 *
 * An exponentially decaying count: each item counts 1 when it arrives and
 * fades by e^(−age / timeConstantMs). Over the time the flow has been seen
 * sending (its span) a steady λ items/ms adds up to
 * λ × timeConstantMs × (1 − e^(−span / timeConstantMs)), so that is what the
 * count is divided by: a client that started sending a second ago is read at
 * its rate, not at the 39% less that the count alone would say. A pause
 * longer than the time constant starts a new span; a span is read as
 * MIN_SPAN_MS at least, so one request is not read as a flood.
 *
 *   count ▲      ___───‾‾‾ λ·τ           rate = count ÷ (τ·(1 − e^(−span/τ)))
 *         │   _─‾
 *         │ ╱
 *         └┴──────────▶ span
 */
/** The shortest span a rate is read over (ms). */
export const MIN_SPAN_MS = 250;

export class ArrivalRate {
  readonly #timeConstantMs: number;
  #count = 0;
  #atMs = 0;
  #sinceMs = 0;

  constructor(timeConstantMs = 2000) {
    this.#timeConstantMs = timeConstantMs;
  }

  /** `items` arrived at `nowMs`. */
  add(items: number, nowMs: number): void {
    if (this.#count === 0 || nowMs - this.#atMs > this.#timeConstantMs) {
      this.#count = 0;
      this.#sinceMs = nowMs;
    }
    this.#count = this.#countAt(nowMs) + items;
    this.#atMs = nowMs;
  }

  /** Items per millisecond at `nowMs`. */
  perMs(nowMs: number): number {
    const count = this.#countAt(nowMs);
    if (count === 0) return 0;
    const spanMs = Math.max(MIN_SPAN_MS, nowMs - this.#sinceMs);
    return count / (this.#timeConstantMs * -Math.expm1(-spanMs / this.#timeConstantMs));
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
