/**
 * Time as the gateway sees it. Everything that waits or measures durations
 * (batcher, deadlines, probes) reads this interface, never the globals, so
 * tests can drive time with a fake clock.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (arbitrary origin); use only for differences. */
  now(): number;
  /** Runs `fn` once after `delayMs`; the handle cancels it. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
}

/** The real clock: `performance.now()` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, delayMs) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    // Timers never keep the process alive on their own: listeners do, and shutdown cancels what is left.
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * One pending wake-up that only moves earlier: `at(dueMs)` keeps a timer
 * already due sooner, else replaces it. `fn` runs once per firing.
 */
export class WakeTimer {
  readonly #clock: Clock;
  readonly #fn: () => void;
  #timer: TimerHandle | undefined;
  #dueMs = Number.POSITIVE_INFINITY;

  constructor(clock: Clock, fn: () => void) {
    this.#clock = clock;
    this.#fn = fn;
  }

  at(dueMs: number): void {
    if (this.#timer && this.#dueMs <= dueMs) return;
    this.#timer?.cancel();
    this.#dueMs = dueMs;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#dueMs = Number.POSITIVE_INFINITY;
      this.#fn();
    }, dueMs - this.#clock.now());
  }
}
