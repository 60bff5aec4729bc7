import type { Clock } from "../../util/clock.js";
import { LatencyRecorder, type LatencySummary } from "./latency-stats.js";
import type { TuneRequest, Workload } from "./workload.js";

export interface ClosedLoopOptions {
  /** Workers, each with one request outstanding at a time. */
  readonly concurrency: number;
  /** Load before measuring starts (queues and batch sizes reach their steady state). */
  readonly warmupMs: number;
  /** The measured window. */
  readonly durationMs: number;
  readonly workload: Workload;
  /** Sends one request; settles when it is answered. */
  readonly send: (request: TuneRequest) => Promise<unknown>;
  readonly clock: Clock;
  /** Stops the workers early; the result is then marked `aborted`. */
  readonly signal?: AbortSignal | undefined;
  /**
   * A worker whose request failed waits this long before the next one, so a
   * backend that rejects at once is not hammered in a tight loop (which would
   * also starve the timers that end the run). Default 10.
   */
  readonly errorBackoffMs?: number | undefined;
  /** Called when the measured window opens and closes (the sweep counts batches in it). */
  readonly onWindow?: ((open: boolean) => void) | undefined;
}

export interface ClosedLoopResult {
  /** Requests answered inside the window. */
  readonly requests: number;
  /** Documents of those requests. */
  readonly items: number;
  /**
   * Answered documents attributed to the window: each answered request's
   * documents spread evenly over its lifetime, counting the part inside the
   * window. Throughput is this over `measuredMs`.
   */
  readonly windowItems: number;
  /** Length of the window actually measured (shorter than asked when aborted). */
  readonly measuredMs: number;
  /** Latencies of the requests answered inside the window. */
  readonly latency: LatencySummary;
  /** Failed requests over the whole run: warm-up, window and the tail after it. */
  readonly errors: number;
  /** Up to three distinct error messages, for the report. */
  readonly errorSamples: readonly string[];
  readonly aborted: boolean;
}

const MAX_ERROR_SAMPLES = 3;

/**
 * A closed-loop load generator: `concurrency` workers each send a request,
 * wait for its answer and send the next at once. The offered load therefore
 * adapts to the backend (at most `concurrency` requests are ever outstanding),
 * and by Little's law latency ≈ outstanding work / throughput.
 *
 *   start ──warm-up──▶ window opens ──durationMs──▶ window closes ──▶ in-flight answers drain
 *
 * Latency percentiles are over the requests answered inside the window.
 * Throughput pro-rates the requests that straddle the window's edges by the
 * part of their lifetime inside it: with slow batches, answers arrive in
 * bursts, and counting whole bursts would make a 3 s window over 500 ms
 * batches off by up to a sixth depending on where its edges fall. The run
 * resolves once every worker's last request has settled (the tail is needed
 * for the straddling requests).
 */
export async function runClosedLoop(opts: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { clock, signal } = opts;
  const recorder = new LatencyRecorder();
  const backoffMs = opts.errorBackoffMs ?? 10;
  const startMs = clock.now();
  const fromMs = startMs + opts.warmupMs;
  const toMs = fromMs + opts.durationMs;
  let items = 0;
  let windowItems = 0;
  let errors = 0;
  const errorSamples = new Set<string>();
  let abortedAtMs: number | undefined;
  const onAbort = () => {
    abortedAtMs ??= clock.now();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();

  let windowOpen = false;
  const setWindow = (open: boolean) => {
    if (windowOpen === open) return;
    windowOpen = open;
    opts.onWindow?.(open);
  };
  const opening = clock.setTimeout(() => setWindow(true), opts.warmupMs);
  const closing = clock.setTimeout(() => setWindow(false), opts.warmupMs + opts.durationMs);

  const running = () => abortedAtMs === undefined && clock.now() < toMs;
  const worker = async () => {
    while (running()) {
      const request = opts.workload.next();
      const sentMs = clock.now();
      try {
        await opts.send(request);
        const doneMs = clock.now();
        const n = request.documents.length;
        if (doneMs >= fromMs && doneMs < toMs && abortedAtMs === undefined) {
          recorder.record(doneMs - sentMs);
          items += n;
        }
        const inside = Math.min(doneMs, toMs) - Math.max(sentMs, fromMs);
        if (inside > 0) windowItems += (n * inside) / (doneMs - sentMs);
        else if (doneMs === sentMs && doneMs >= fromMs && doneMs < toMs) windowItems += n;
      } catch (err) {
        errors++;
        if (errorSamples.size < MAX_ERROR_SAMPLES) {
          errorSamples.add(err instanceof Error ? err.message : String(err));
        }
        await new Promise<void>((resolve) => clock.setTimeout(resolve, backoffMs));
      }
    }
  };
  // The clock's timers (and the batcher's) are unref'd: in the gateway its
  // listeners keep the process alive. A load run has no listener, so it holds
  // a ref'd timer, or Node would exit while every worker waits on a timer.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    clearInterval(keepAlive);
    opening.cancel();
    closing.cancel();
    setWindow(false);
    signal?.removeEventListener("abort", onAbort);
  }
  const endMs = abortedAtMs === undefined ? toMs : Math.min(toMs, abortedAtMs);
  return {
    requests: recorder.count,
    items,
    windowItems,
    measuredMs: Math.max(0, endMs - fromMs),
    latency: recorder.summary(),
    errors,
    errorSamples: [...errorSamples],
    aborted: abortedAtMs !== undefined,
  };
}
