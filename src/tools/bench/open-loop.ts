import type { Clock, TimerHandle } from "../../util/clock.js";
import { LatencyRecorder, type LatencySummary } from "../common/latency-stats.js";
import { exponentialGapMs } from "../common/rng.js";
import { type IntervalSnapshot, IntervalStats } from "./interval-stats.js";

/** A stretch of constant offered load. */
export interface LoadPhase {
  readonly name: string;
  readonly durationMs: number;
  /** Mean requests per second, Poisson arrivals; 0 sends nothing. */
  readonly ratePerS: number;
  /** Whether the phase's latencies count (a warm-up's do not). */
  readonly measured: boolean;
}

export interface OpenLoopTick extends IntervalSnapshot {
  readonly phase: string;
  /** Since the start of the run. */
  readonly elapsedMs: number;
  /** Requests sent and not yet settled, at the tick. */
  readonly outstanding: number;
}

export interface OpenLoopOptions {
  readonly phases: readonly LoadPhase[];
  /** Uniform in [0, 1): seeded, so the same seed gives the same arrival times. */
  readonly random: () => number;
  readonly clock: Clock;
  /** Sends one request; settles when it is answered (rejects on an error). */
  readonly send: () => Promise<unknown>;
  /** A short, low-cardinality name for a failure (a gRPC status name); default the message. */
  readonly classifyError?: ((err: unknown) => string) | undefined;
  /** When each phase begins (the caller starts sampling the servers in measured phases). */
  readonly onPhase?: ((phase: LoadPhase, index: number) => void) | undefined;
  /** Progress every `tickMs` (default 1000). */
  readonly onTick?: ((tick: OpenLoopTick) => void) | undefined;
  readonly tickMs?: number | undefined;
}

/** One measured phase. */
export interface OpenLoopPhaseResult {
  readonly name: string;
  readonly durationMs: number;
  readonly ratePerS: number;
  /** Requests scheduled (and sent) in the phase. */
  readonly sent: number;
  /** Of those, answered without error. */
  readonly answered: number;
  /**
   * Answers (without error) that came while the phase ran, whichever phase
   * their request left in: what the server delivered in the phase. Under a
   * growing queue, fewer than `answered`, whose last answers come after.
   */
  readonly answeredInPhase: number;
  readonly errors: number;
  readonly errorCounts: Readonly<Record<string, number>>;
  /** Latency from each request's *scheduled* send time to its answer. */
  readonly latency: LatencySummary;
  /** The latest a request left after its scheduled time: above a millisecond or two, the generator fell behind. */
  readonly maxSendLagMs: number;
}

/**
 * Due within this much counts as due: a timer armed for `t` can fire at a
 * clock reading an ulp short of `t` (start + (t − now) rounds), and re-arming
 * for the difference would spin without time moving.
 */
const EPSILON_MS = 1e-6;

interface PhaseState {
  readonly phase: LoadPhase;
  readonly recorder: LatencyRecorder;
  readonly errorCounts: Record<string, number>;
  sent: number;
  errors: number;
  answeredInPhase: number;
  maxSendLagMs: number;
}

/**
 * An open-loop load generator: requests arrive as a Poisson process at each
 * phase's rate, whether or not earlier ones were answered, as independent
 * users' requests do. A closed loop (src/tools/common/load-generator.ts) slows down
 * with the system it measures and so under-reports queueing; an open loop
 * does not.
 *
 *   phase 0: gaps ~ Exp(λ₀) │ phase 1: gaps ~ Exp(λ₁) │ … │ sending stops ─▶ last answers settle
 *                           ↑ the first gap is drawn afresh from the boundary
 *                             (memoryless, so the process is still Poisson)
 *
 * Latency is measured from the scheduled arrival, not from when the timer
 * actually fired, so a late sender counts against the system, not for it
 * ("coordinated omission"). Arrivals that fall due while a timer was late
 * are all sent on that turn. Time comes from `clock`, so tests drive it.
 */
export async function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopPhaseResult[]> {
  const { clock, phases, random } = opts;
  const classify = opts.classifyError ?? ((err) => (err instanceof Error ? err.message : String(err)));
  const states: PhaseState[] = phases.map((phase) => ({
    phase,
    recorder: new LatencyRecorder(),
    errorCounts: {},
    sent: 0,
    errors: 0,
    answeredInPhase: 0,
    maxSendLagMs: 0,
  }));
  // Phase i covers [ends[i-1], ends[i]) ms from the start.
  const ends: number[] = [];
  let total = 0;
  for (const p of phases) {
    total += p.durationMs;
    ends.push(total);
  }

  /** The phase running `ms` after the start; undefined once the last has ended. */
  const phaseAt = (ms: number): PhaseState | undefined => {
    const i = ends.findIndex((end) => ms < end);
    return i < 0 ? undefined : states[i];
  };

  const start = clock.now();
  const interval = new IntervalStats();
  let phaseIndex = 0;
  let outstanding = 0;
  let sending = true;
  let drained: () => void = () => {};
  const allSettled = new Promise<void>((resolve) => {
    drained = resolve;
  });

  const send = (state: PhaseState, scheduledMs: number): void => {
    const lag = clock.now() - (start + scheduledMs);
    if (lag > state.maxSendLagMs) state.maxSendLagMs = lag;
    state.sent++;
    outstanding++;
    const settle = (err: unknown, failed: boolean) => {
      if (failed) {
        state.errors++;
        const key = classify(err);
        state.errorCounts[key] = (state.errorCounts[key] ?? 0) + 1;
        interval.fail();
      } else {
        const nowMs = clock.now() - start;
        const latencyMs = nowMs - scheduledMs;
        if (state.phase.measured) state.recorder.record(latencyMs);
        interval.record(latencyMs);
        const answeredIn = phaseAt(nowMs);
        if (answeredIn) answeredIn.answeredInPhase++;
      }
      if (--outstanding === 0 && !sending) drained();
    };
    let pending: Promise<unknown>;
    try {
      pending = opts.send();
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      () => settle(undefined, false),
      (err: unknown) => settle(err, true),
    );
  };

  const tickMs = opts.tickMs ?? 1000;
  let ticker: TimerHandle | undefined;
  const tick = () => {
    const name = phases[Math.min(phaseIndex, phases.length - 1)]?.name ?? "";
    opts.onTick?.({ phase: name, elapsedMs: clock.now() - start, outstanding, ...interval.take() });
    ticker = clock.setTimeout(tick, tickMs);
  };
  if (opts.onTick) ticker = clock.setTimeout(tick, tickMs);
  // The system clock's timers are unref'd; a load run has no listener of its own to keep Node alive.
  const keepAlive = setInterval(() => {}, 60_000);

  try {
    if (phases.length > 0) opts.onPhase?.(phases[0]!, 0);
    let next = exponentialGapMs(random, phases[0]?.ratePerS ?? 0);
    await new Promise<void>((resolve) => {
      const pump = () => {
        const now = clock.now() - start;
        while (phaseIndex < phases.length) {
          const end = ends[phaseIndex]!;
          if (next < end) {
            if (next - now > EPSILON_MS) {
              clock.setTimeout(pump, next - now);
              return;
            }
            send(states[phaseIndex]!, next);
            next += exponentialGapMs(random, phases[phaseIndex]!.ratePerS);
            continue;
          }
          // The next arrival falls past this phase: wait for the boundary, then draw
          // afresh at the next phase's rate (memoryless, so nothing is lost).
          if (end - now > EPSILON_MS) {
            clock.setTimeout(pump, end - now);
            return;
          }
          phaseIndex++;
          if (phaseIndex < phases.length) {
            opts.onPhase?.(phases[phaseIndex]!, phaseIndex);
            next = end + exponentialGapMs(random, phases[phaseIndex]!.ratePerS);
          }
        }
        resolve();
      };
      pump();
    });
    sending = false;
    if (outstanding > 0) await allSettled;
  } finally {
    ticker?.cancel();
    clearInterval(keepAlive);
  }

  return states
    .filter((s) => s.phase.measured)
    .map((s) => ({
      name: s.phase.name,
      durationMs: s.phase.durationMs,
      ratePerS: s.phase.ratePerS,
      sent: s.sent,
      answered: s.recorder.count,
      answeredInPhase: s.answeredInPhase,
      errors: s.errors,
      errorCounts: s.errorCounts,
      latency: s.recorder.summary(),
      maxSendLagMs: s.maxSendLagMs,
    }));
}
