import type { Clock } from "../../util/clock.js";

/** Envoy-style outlier ejection settings (`backends.<name>.outlierDetection`). */
export interface OutlierOptions {
  /** Consecutive failed calls that eject an endpoint. */
  readonly consecutiveFailures: number;
  /** First ejection lasts this long; the n-th lasts n times as long. */
  readonly baseEjectionTimeMs: number;
  /** Ejections never last longer than this. */
  readonly maxEjectionTimeMs: number;
  /** At most this share of a backend's endpoints is ejected at once (at least one may always be). */
  readonly maxEjectionPercent: number;
}

interface EndpointRecord {
  consecutiveFailures: number;
  ejections: number;
  ejectedUntilMs: number;
}

/**
 * Ejects endpoints that fail `consecutiveFailures` calls in a row, for a time
 * that grows with each repeat ejection (Envoy's outlier detection), never
 * ejecting more than `maxEjectionPercent` of the backend. An ejected endpoint
 * returns by itself when its time is up; a success resets its failure streak,
 * and a long healthy spell (ten base ejection times) forgets past ejections.
 */
export class OutlierDetector {
  readonly #opts: OutlierOptions;
  readonly #clock: Clock;
  readonly #records = new Map<string, EndpointRecord>();
  readonly #onEject: (endpoint: string, durationMs: number) => void;

  constructor(
    opts: OutlierOptions,
    clock: Clock,
    onEject: (endpoint: string, durationMs: number) => void = () => {},
  ) {
    this.#opts = opts;
    this.#clock = clock;
    this.#onEject = onEject;
  }

  isEjected(endpoint: string): boolean {
    const r = this.#records.get(endpoint);
    return r !== undefined && r.ejectedUntilMs > this.#clock.now();
  }

  recordSuccess(endpoint: string): void {
    const r = this.#records.get(endpoint);
    if (!r) return;
    r.consecutiveFailures = 0;
    if (r.ejections > 0 && this.#clock.now() - r.ejectedUntilMs > 10 * this.#opts.baseEjectionTimeMs)
      r.ejections = 0;
  }

  /** Counts a failure; `endpointCount` is the backend's current number of endpoints. */
  recordFailure(endpoint: string, endpointCount: number): void {
    let r = this.#records.get(endpoint);
    if (!r) {
      r = { consecutiveFailures: 0, ejections: 0, ejectedUntilMs: 0 };
      this.#records.set(endpoint, r);
    }
    r.consecutiveFailures++;
    if (r.consecutiveFailures < this.#opts.consecutiveFailures || this.isEjected(endpoint)) return;
    if (!this.#mayEject(endpointCount)) return;
    r.ejections++;
    r.consecutiveFailures = 0;
    const durationMs = Math.min(this.#opts.baseEjectionTimeMs * r.ejections, this.#opts.maxEjectionTimeMs);
    r.ejectedUntilMs = this.#clock.now() + durationMs;
    this.#onEject(endpoint, durationMs);
  }

  /** Forgets endpoints that left the backend. */
  retain(endpoints: ReadonlySet<string>): void {
    for (const id of this.#records.keys()) if (!endpoints.has(id)) this.#records.delete(id);
  }

  #mayEject(endpointCount: number): boolean {
    let ejected = 0;
    for (const id of this.#records.keys()) if (this.isEjected(id)) ejected++;
    const allowed = Math.max(1, Math.floor((endpointCount * this.#opts.maxEjectionPercent) / 100));
    return ejected + 1 <= allowed;
  }
}
