/**
 * Several clients' load at once, each attributed to its client: the flow
 * control scenario needs to know whose requests were served, how fast, and
 * whose were refused. Each stream is its own open loop (Poisson arrivals, its
 * own seed) or a burst sent all at once as the window opens.
 *
 *   time ─▶  0 ─────── warm-up ───────┬──────── measured ────────┬─ sending stops ─▶ answers settle
 *   stream "a" (poisson)  ·  ·   ·  · │ ·  · ·   ·  ·  ·   · ·   │
 *   stream "b" (poisson)   ·     ·    │  ·     ·     ·    ·      │
 *   stream "c" (burst)                │▮ (count requests at once)│
 */
import type { Clock } from "../../util/clock.js";
import { LatencyRecorder, type LatencySummary } from "../common/latency-stats.js";
import { mulberry32 } from "../common/rng.js";
import { type IntervalSnapshot, IntervalStats } from "./interval-stats.js";
import { runOpenLoop } from "./open-loop.js";
import type { WorkloadSpec } from "./payloads.js";

export type StreamArrivals =
  /** Poisson arrivals at `warmupRatePerS` before the window and `ratePerS` in it (0 sends nothing). */
  | { readonly kind: "poisson"; readonly warmupRatePerS: number; readonly ratePerS: number }
  /** `count` requests at once as the window opens, nothing before. */
  | { readonly kind: "burst"; readonly count: number };

/** One client's share of the load. */
export interface LoadStream {
  /** Whose requests these are, in the report. */
  readonly client: string;
  /** Sent as `authorization: Bearer …`, so the gateway attributes the requests to the same client. */
  readonly apiKey?: string | undefined;
  /** Another server than the job's target (another gateway replica); absent: the job's. */
  readonly target?: string | undefined;
  readonly workload: WorkloadSpec;
  readonly arrivals: StreamArrivals;
  readonly deadlineMs: number;
}

/** Every stream in the same window, against one target unless a stream names its own. */
export interface StreamsLoadJob {
  readonly kind: "streams";
  readonly target: string;
  readonly streams: readonly LoadStream[];
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Stream i's arrivals are seeded from this and i. */
  readonly seed: number;
}

/** One stream's requests sent in the measured window (a burst's: all of them). */
export interface StreamResult {
  readonly client: string;
  readonly docsPerRequest: number;
  readonly deadlineMs: number;
  /** The window; a burst's: from the burst to its last answer. */
  readonly measuredMs: number;
  readonly sent: number;
  /** Of those, answered (maybe after the window closed). */
  readonly answered: number;
  /**
   * Answers that came inside the window, whenever their request left (a
   * warm-up request's too): what the server delivered to the stream in it.
   */
  readonly answeredInWindow: number;
  readonly errors: number;
  /** By status name: RESOURCE_EXHAUSTED is a refusal, DEADLINE_EXCEEDED an answer that came too late. */
  readonly errorCounts: Readonly<Record<string, number>>;
  /** Answers, from each request's scheduled time (a burst's: from the burst). */
  readonly latency: LatencySummary;
  /** Failures by status name, from when each request left: how long a refusal took. */
  readonly errorLatency: Readonly<Record<string, LatencySummary>>;
}

/** Progress over every stream (the load worker's LoadTick). */
export interface StreamsTick extends IntervalSnapshot {
  readonly phase: string;
  readonly elapsedMs: number;
}

export interface RunStreamsOptions {
  readonly streams: readonly LoadStream[];
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly seed: number;
  readonly clock: Clock;
  /** Sends one request of stream `index`; settles when it is answered (rejects on an error). */
  readonly send: (index: number) => Promise<unknown>;
  readonly classifyError: (err: unknown) => string;
  /** "warm-up", then "measured" as the window opens, then "end" as it closes. */
  readonly onPhase?: ((name: string, measured: boolean) => void) | undefined;
  /** Progress over every stream, every `tickMs` (default 1000). */
  readonly onTick?: ((tick: StreamsTick) => void) | undefined;
  readonly tickMs?: number | undefined;
}

export async function runStreams(opts: RunStreamsOptions): Promise<StreamResult[]> {
  const { clock } = opts;
  const start = clock.now();
  const interval = new IntervalStats();
  let phase = "warm-up";
  const enter = (name: string, measured: boolean) => {
    if (phase === "end") return;
    phase = name;
    opts.onPhase?.(name, measured);
  };
  enter("warm-up", false);
  const marks = [
    clock.setTimeout(() => enter("measured", true), opts.warmupMs),
    clock.setTimeout(() => enter("end", false), opts.warmupMs + opts.measureMs),
  ];
  let ticker = opts.onTick ? clock.setTimeout(tick, opts.tickMs ?? 1000) : undefined;
  function tick() {
    opts.onTick?.({ phase, elapsedMs: clock.now() - start, ...interval.take() });
    ticker = clock.setTimeout(tick, opts.tickMs ?? 1000);
  }
  // The system clock's timers are unref'd; nothing else keeps Node alive while a burst waits.
  const keepAlive = setInterval(() => {}, 60_000);

  const runOne = async (stream: LoadStream, index: number): Promise<StreamResult> => {
    const errorLatency = new Map<string, LatencyRecorder>();
    let inWindow = false;
    const timed = () => {
      const sentMs = clock.now();
      const counted = inWindow;
      return opts.send(index).then(
        (answer) => {
          interval.record(clock.now() - sentMs);
          return answer;
        },
        (err: unknown) => {
          interval.fail();
          if (counted) {
            const key = opts.classifyError(err);
            const recorder = errorLatency.get(key) ?? new LatencyRecorder();
            errorLatency.set(key, recorder);
            recorder.record(clock.now() - sentMs);
          }
          throw err;
        },
      );
    };
    const base = {
      client: stream.client,
      docsPerRequest: stream.workload.docsPerRequest,
      deadlineMs: stream.deadlineMs,
      measuredMs: opts.measureMs,
    };
    const arrivals = stream.arrivals;
    if (arrivals.kind === "poisson") {
      const [measured] = await runOpenLoop({
        phases: [
          { name: "warm-up", durationMs: opts.warmupMs, ratePerS: arrivals.warmupRatePerS, measured: false },
          { name: "measured", durationMs: opts.measureMs, ratePerS: arrivals.ratePerS, measured: true },
        ],
        random: mulberry32(opts.seed + 7919 * (index + 1)),
        clock,
        send: timed,
        classifyError: opts.classifyError,
        onPhase: (p) => {
          inWindow = p.measured;
        },
      });
      const m = measured!;
      return {
        ...base,
        sent: m.sent,
        answered: m.answered,
        answeredInWindow: m.answeredInPhase,
        errors: m.errors,
        errorCounts: m.errorCounts,
        latency: m.latency,
        errorLatency: summaries(errorLatency),
      };
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, opts.warmupMs));
    inWindow = true;
    const burstMs = clock.now();
    const latency = new LatencyRecorder();
    const errorCounts: Record<string, number> = {};
    let errors = 0;
    await Promise.all(
      Array.from({ length: arrivals.count }, () =>
        timed().then(
          () => latency.record(clock.now() - burstMs),
          (err: unknown) => {
            errors++;
            const key = opts.classifyError(err);
            errorCounts[key] = (errorCounts[key] ?? 0) + 1;
          },
        ),
      ),
    );
    return {
      ...base,
      measuredMs: clock.now() - burstMs,
      sent: arrivals.count,
      answered: latency.count,
      // The window closes with the burst's last answer.
      answeredInWindow: latency.count,
      errors,
      errorCounts,
      latency: latency.summary(),
      errorLatency: summaries(errorLatency),
    };
  };

  try {
    const results = await Promise.all(opts.streams.map(runOne));
    // A burst can be answered before the window's end: the window closes with the last answer.
    enter("end", false);
    return results;
  } finally {
    for (const m of marks) m.cancel();
    ticker?.cancel();
    clearInterval(keepAlive);
  }
}

function summaries(recorders: ReadonlyMap<string, LatencyRecorder>): Record<string, LatencySummary> {
  return Object.fromEntries([...recorders].map(([k, r]) => [k, r.summary()]));
}
