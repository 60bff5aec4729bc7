/**
 * How fast the backend answers items when work is waiting for it: the
 * measured service rate that admission divides the work ahead of a request
 * by (admission.ts, predictWaitMs).
 *
 * Only time during which a full batch of work waited for a busy slot counts
 * (the batcher is backlogged): then the backend, not the arrivals, sets the
 * pace, and everything that slows the backend down as the gateway sees it is
 * in the measure: batches smaller than the configured size (an endpoint's
 * own cap), calls slower on one endpoint than another, retries and isolation
 * calls holding slots, and the gateway's own CPU (decoding and refusing other
 * requests) answering completions late. Lightly loaded time would measure the
 * arrival rate instead, and is left out.
 *
 *   work waiting ──────┬───────────────────────────────┬─────────
 *   completions    ●   │   ○       ●        ●      ●    │    ●
 *                      │   mark    +items   +items +items│ (stops: nothing waiting)
 *                      │           +time    +time  +time │
 *
 * The first completion of a backlogged stretch only marks where counting
 * starts (the batch it answers left before the stretch began). Each later one
 * adds its items and the time since the previous completion; older counts
 * fade with each millisecond counted (half-life `halfLifeMs`), so the rate
 * is items over time in a recent window, and idle time keeps the last
 * measure rather than forgetting it. Time is counted per usable endpoint,
 * so the rate follows endpoints that come and go.
 */
export interface ServiceRateOptions {
  /** Counted time after which a count weighs half (default 2000 ms). */
  readonly halfLifeMs?: number | undefined;
  /** Backlogged time to count before the rate is trusted (default 250 ms); before it, none. */
  readonly minMeasuredMs?: number | undefined;
}

export class ServiceRate {
  readonly #halfLifeMs: number;
  readonly #minMeasuredMs: number;
  /** Whether work waited for a slot after the latest pump. */
  #waiting = false;
  /** The completion counting started from in the current backlogged stretch. */
  #markMs: number | undefined;
  /** Decayed items answered and endpoint-milliseconds taken, in backlogged stretches. */
  #items = 0;
  #endpointMs = 0;
  /** Backlogged time counted so far (not decayed). */
  #measuredMs = 0;

  constructor(opts: ServiceRateOptions = {}) {
    this.#halfLifeMs = opts.halfLifeMs ?? 2000;
    this.#minMeasuredMs = opts.minMeasuredMs ?? 250;
  }

  /** A batch of `items` was answered at `nowMs`, with `usableEndpoints` endpoints serving. */
  completed(items: number, nowMs: number, usableEndpoints: number): void {
    if (!this.#waiting) return;
    const from = this.#markMs;
    this.#markMs = nowMs;
    if (from === undefined) return;
    const dtMs = nowMs - from;
    const keep = 0.5 ** (dtMs / this.#halfLifeMs);
    this.#items = this.#items * keep + items;
    this.#endpointMs = this.#endpointMs * keep + dtMs * Math.max(1, usableEndpoints);
    this.#measuredMs += dtMs;
  }

  /** After a pump: whether a full batch of work is left waiting with every slot busy. */
  backlog(waiting: boolean): void {
    this.#waiting = waiting;
    if (!waiting) this.#markMs = undefined;
  }

  /** Items answered per millisecond per usable endpoint while backlogged; undefined until measured. */
  get itemsPerEndpointMs(): number | undefined {
    if (this.#measuredMs < this.#minMeasuredMs || this.#endpointMs <= 0) return undefined;
    return this.#items / this.#endpointMs;
  }
}
