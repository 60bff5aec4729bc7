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
