/** What one progress interval saw: answers, failures and their latency tail. */
export interface IntervalSnapshot {
  readonly answered: number;
  readonly errors: number;
  /** p99 of the interval's answers; 0 when there were none. */
  readonly p99Ms: number;
}

/**
 * Counts for a progress line, reset at each `take()`. Keeps the interval's
 * latencies in a plain array: at most a few thousand a second, sorted once
 * per interval, off the measured path (the HDR recorders hold the figures).
 */
export class IntervalStats {
  #latencies: number[] = [];
  #errors = 0;

  record(latencyMs: number): void {
    this.#latencies.push(latencyMs);
  }

  fail(): void {
    this.#errors++;
  }

  take(): IntervalSnapshot {
    const sorted = this.#latencies.sort((a, b) => a - b);
    const snapshot = {
      answered: sorted.length,
      errors: this.#errors,
      p99Ms: sorted.length === 0 ? 0 : sorted[Math.ceil(0.99 * sorted.length) - 1]!,
    };
    this.#latencies = [];
    this.#errors = 0;
    return snapshot;
  }
}
