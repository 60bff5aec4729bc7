/**
 * Adaptive batching (`batching.mode: adaptive`): chooses, within the static
 * caps, the batch size and the wait that keep request latency (admission to
 * answer) under `targetLatencyMs` at whatever load arrives.
 *
 * 1. **What the backend costs**: batch time t(n) ≈ a + b·n, learned online
 *    from every successful batch by weighted least squares (cost-model.ts).
 *
 * 2. **Keeping up (the floor)**: with λ the measured arrival rate of items,
 *    the batch size is at least the smallest n whose throughput n / t(n) is
 *    λ / 0.75, so the backend is at most 75% busy at that size. Below it
 *    queueing delay grows as 1 / (1 − busy share) and then without bound:
 *    the static configuration tuned for a low load, at a high one. When no
 *    size reaches it, the floor is the cap.
 *
 * 3. **Latency feedback (AIMD, after Clipper)**: the size aimed for grows by
 *    cap/16 per window of answered requests whose p99 is under the target,
 *    and is cut by 10% after a window whose p99 is over it (more than 1% of
 *    its requests, and at least two, over the target); growth stops at the largest n whose
 *    predicted batch time is half the target (a request may wait for the
 *    batch in flight, then its own). Clipper cuts by 10%, not TCP's half,
 *    because the best size is stable. The floor bounds the cuts: with a
 *    linear cost and FIFO batches, a smaller batch only lowers the latency
 *    of the first items of a backlog and raises everyone else's, so a target
 *    missed because of load is never chased by starving throughput. What the
 *    cuts correct is a model that is too optimistic about large batches (a
 *    backend slower than linear, or a GC pause).
 *
 * The batch size is max(floor, min(AIMD size, latency bound)), in [1, cap].
 *
 * **The wait** (BentoML's idea, in closed form): holding a partial batch for
 * Δ delays the q items in it by Δ, while sending it now makes what arrives
 * during the call wait for it; what newcomers save by sharing one call is the
 * fixed cost a. Waiting pays while q < λ·a, i.e. for about a − s/λ with s
 * the mean request size, and never at a low rate. It is capped so that the
 * wait plus three expected batch times (its own, the one in flight, one more
 * for a request split across batches) stays under the target, is 0 after a
 * window over the target, and never exceeds `maxQueueDelayMs`.
 *
 * Until five batches have been seen it sends batches up to the cap and never
 * waits: the static behaviour that keeps up with the most load. Decisions are
 * recomputed in the observe calls; `batchSize` and `queueDelayMs` only read
 * them (O(1), no allocation). docs/adaptive-batching.md has the figures.
 */
import type { BatchController } from "./controller.js";
import { BatchCostModel, maxBatchWithin, minBatchForRate } from "./cost-model.js";

export interface AdaptiveOptions {
  /** Request latency (admission to answer) to keep p99 under, ms. */
  readonly targetLatencyMs: number;
  /** Called when the learned batch time model changes: batch time ≈ fixedMs + perItemMs·n. */
  readonly onModel?: ((fixedMs: number, perItemMs: number) => void) | undefined;
}

export interface AdaptiveSnapshot {
  readonly targetLatencyMs: number;
  /** Batch size aimed for, under the last cap the batcher passed (0: the cap, before any decision). */
  readonly batchSize: number;
  /** Wait allowed to the oldest queued item, under the last maxQueueDelayMs passed, ms. */
  readonly queueDelayMs: number;
  /** Learned batch time ≈ fixedMs + perItemMs·n. */
  readonly fixedMs: number;
  readonly perItemMs: number;
  /** Batches learned from. */
  readonly samples: number;
  /** Measured arrival rate, items per second. */
  readonly arrivalItemsPerS: number;
  /** p99 of the last closed latency window (upper edge of its 9%-wide bucket), ms; 0 before the first. */
  readonly p99LatencyMs: number;
  /** Whether the last window's p99 was over the target. */
  readonly overTarget: boolean;
}

/**
 * The wait is a multiple of this (a power of two, so sums with whole or
 * dyadic clock times stay exact and a timer is never an ulp short of due).
 */
const WAIT_STEP_MS = 1 / 32;
/** Batches seen before the learned model is used. */
const MIN_SAMPLES = 5;
/** Time constant of the arrival rate estimate, ms. */
const RATE_TAU_MS = 500;
/** The backend's busy share the batch size floor aims for at the measured rate. */
const MAX_UTILISATION = 0.75;
/** Multiplicative decrease of the AIMD size after a window over target. */
const DECREASE = 0.9;
/** A latency window closes after this many answers… */
const WINDOW_SAMPLES = 100;
/** …or after max(this, 10 × target) ms with at least one. */
const WINDOW_MIN_MS = 1000;
/** Latency histogram: BUCKETS_PER_OCTAVE log buckets from target/64 to 64 × target. */
const BUCKETS_PER_OCTAVE = 8;
const BUCKETS = 12 * BUCKETS_PER_OCTAVE;

export class AdaptiveController implements BatchController {
  readonly #onModel: ((fixedMs: number, perItemMs: number) => void) | undefined;
  readonly #model = new BatchCostModel();
  #targetMs: number;

  // Decisions, read by batchSize / queueDelayMs.
  #size = Number.POSITIVE_INFINITY;
  #waitMs = 0;
  #lastCap = Number.POSITIVE_INFINITY;
  #lastMaxDelayMs = Number.POSITIVE_INFINITY;

  // AIMD state.
  #aimdSize = Number.POSITIVE_INFINITY;
  #overTarget = false;
  #p99Ms = 0;

  // Arrival rate: an exponentially decaying count of admitted items.
  #rateCount = 0;
  #rateLastMs = Number.NaN;
  #rateFirstMs = Number.NaN;
  #meanRequestItems = 0;
  #nowMs = 0;

  // The current latency window.
  readonly #buckets = new Uint32Array(BUCKETS);
  #bucketBaseMs: number;
  #windowCount = 0;
  #windowOver = 0;
  #windowStartMs = Number.NaN;

  // Last model reported to onModel.
  #reportedFixedMs = Number.NaN;
  #reportedPerItemMs = Number.NaN;

  constructor(opts: AdaptiveOptions) {
    this.#targetMs = checkTarget(opts.targetLatencyMs);
    this.#bucketBaseMs = this.#targetMs / 64;
    this.#onModel = opts.onModel;
  }

  /** Live reconfiguration: a new target keeps what was learned. */
  setTargetLatencyMs(ms: number): void {
    this.#targetMs = checkTarget(ms);
    this.#bucketBaseMs = ms / 64;
    this.#resetWindow(this.#nowMs);
    this.#overTarget = false;
    this.#decide(this.#nowMs);
  }

  batchSize(cap: number): number {
    this.#lastCap = cap;
    return this.#sizeUnder(cap);
  }

  queueDelayMs(maxQueueDelayMs: number): number {
    this.#lastMaxDelayMs = maxQueueDelayMs;
    return Math.max(0, Math.min(this.#waitMs, maxQueueDelayMs));
  }

  itemsAdmitted(items: number, nowMs: number): void {
    if (!(items > 0) || !Number.isFinite(items + nowMs)) return;
    this.#nowMs = nowMs;
    if (Number.isNaN(this.#rateLastMs)) {
      this.#rateFirstMs = nowMs;
      this.#meanRequestItems = items;
    } else {
      this.#rateCount *= Math.exp(-Math.max(0, nowMs - this.#rateLastMs) / RATE_TAU_MS);
      this.#meanRequestItems += 0.05 * (items - this.#meanRequestItems);
    }
    this.#rateCount += items;
    this.#rateLastMs = nowMs;
    this.#decide(nowMs);
  }

  batchCompleted(items: number, durationMs: number, nowMs: number): void {
    if (Number.isFinite(nowMs)) this.#nowMs = nowMs;
    if (!this.#model.observe(items, durationMs)) return;
    const m = this.#model;
    if (
      this.#onModel &&
      m.samples >= MIN_SAMPLES &&
      (movedBy(m.fixedMs, this.#reportedFixedMs) || movedBy(m.perItemMs, this.#reportedPerItemMs))
    ) {
      this.#reportedFixedMs = m.fixedMs;
      this.#reportedPerItemMs = m.perItemMs;
      this.#onModel(m.fixedMs, m.perItemMs);
    }
    this.#decide(this.#nowMs);
  }

  requestCompleted(latencyMs: number, nowMs: number): void {
    if (!(latencyMs >= 0) || !Number.isFinite(latencyMs + nowMs)) return;
    this.#nowMs = nowMs;
    if (this.#windowCount === 0) this.#windowStartMs = nowMs - latencyMs;
    this.#windowCount++;
    if (latencyMs > this.#targetMs) this.#windowOver++;
    const i = Math.floor(BUCKETS_PER_OCTAVE * Math.log2(latencyMs / this.#bucketBaseMs));
    this.#buckets[i < 0 ? 0 : i >= BUCKETS ? BUCKETS - 1 : i]!++;
    const windowMs = Math.max(WINDOW_MIN_MS, 10 * this.#targetMs);
    if (this.#windowCount >= WINDOW_SAMPLES || nowMs - this.#windowStartMs >= windowMs) {
      this.#closeWindow(nowMs);
    }
  }

  /** Current state for the admin API / debugging. */
  snapshot(): AdaptiveSnapshot {
    const m = this.#model;
    const cap = this.#lastCap;
    return {
      targetLatencyMs: this.#targetMs,
      batchSize: Number.isFinite(cap) ? this.#sizeUnder(cap) : finiteOr0(Math.floor(this.#size)),
      queueDelayMs: Math.min(this.#waitMs, this.#lastMaxDelayMs),
      fixedMs: m.fixedMs,
      perItemMs: m.perItemMs,
      samples: m.samples,
      arrivalItemsPerS: this.#rateItemsPerMs(this.#nowMs) * 1000,
      p99LatencyMs: this.#p99Ms,
      overTarget: this.#overTarget,
    };
  }

  /** The batch size chosen under `cap`, without recording the cap. */
  #sizeUnder(cap: number): number {
    // Written so that a NaN anywhere still yields a size in [1, cap].
    const size = this.#size;
    if (size >= cap) return cap >= 1 ? Math.floor(cap) : 1;
    if (size >= 1) return Math.floor(size);
    return 1;
  }

  /** AIMD step: the p99 of the window just closed moves the size aimed for. */
  #closeWindow(nowMs: number): void {
    // p99 over target: more than 1% of the window over it, and more than one
    // request, so that a lone outlier in a short window (a GC pause) is not a trend.
    this.#overTarget = this.#windowOver * 100 > this.#windowCount && this.#windowOver >= 2;
    this.#p99Ms = this.#windowP99();
    const cap = this.#lastCap;
    const current = Math.min(this.#size, cap);
    if (this.#overTarget) {
      if (Number.isFinite(current)) this.#aimdSize = Math.max(1, Math.floor(current * DECREASE));
    } else if (Number.isFinite(this.#aimdSize)) {
      const step = Number.isFinite(cap) ? Math.max(1, Math.ceil(cap / 16)) : 1;
      this.#aimdSize = Math.min(cap, this.#aimdSize + step);
    }
    this.#resetWindow(nowMs);
    this.#decide(nowMs);
  }

  #resetWindow(nowMs: number): void {
    this.#buckets.fill(0);
    this.#windowCount = 0;
    this.#windowOver = 0;
    this.#windowStartMs = nowMs;
  }

  /** Upper edge of the bucket holding the window's 99th percentile. */
  #windowP99(): number {
    const allowed = Math.floor(this.#windowCount / 100);
    let above = 0;
    for (let i = BUCKETS - 1; i >= 0; i--) {
      above += this.#buckets[i]!;
      if (above > allowed) return this.#bucketBaseMs * 2 ** ((i + 1) / BUCKETS_PER_OCTAVE);
    }
    return 0;
  }

  /** Items per ms admitted recently; corrected for a history shorter than the time constant. */
  #rateItemsPerMs(nowMs: number): number {
    if (Number.isNaN(this.#rateLastMs)) return 0;
    const count = this.#rateCount * Math.exp(-Math.max(0, nowMs - this.#rateLastMs) / RATE_TAU_MS);
    const seenMs = Math.max(RATE_TAU_MS / 10, nowMs - this.#rateFirstMs);
    return count / (RATE_TAU_MS * (1 - Math.exp(-seenMs / RATE_TAU_MS)));
  }

  #decide(nowMs: number): void {
    const m = this.#model;
    if (m.samples < MIN_SAMPLES) {
      this.#size = Number.POSITIVE_INFINITY;
      this.#waitMs = 0;
      return;
    }
    const a = m.fixedMs;
    const b = m.perItemMs;
    const rate = this.#rateItemsPerMs(nowMs);
    const floor = minBatchForRate(a, b, rate / MAX_UTILISATION);
    const latencyBound = maxBatchWithin(a, b, this.#targetMs / 2);
    this.#size = Math.max(1, floor, Math.min(this.#aimdSize, latencyBound));

    // The batch an item can expect at this rate: what arrives during one batch, at least one request.
    const expected = Math.min(
      this.#size,
      this.#lastCap,
      Math.max(this.#meanRequestItems, minBatchForRate(a, b, rate)),
    );
    const batchMs = Number.isFinite(expected) ? m.predictMs(expected) : Number.POSITIVE_INFINITY;
    // Its own batch, the one in flight when it arrived, one more when its request is split.
    const slackMs = this.#targetMs - 3 * batchMs;
    const paysMs = rate > 0 ? a - this.#meanRequestItems / rate : 0;
    const wait = Math.floor(Math.min(paysMs, slackMs) / WAIT_STEP_MS) * WAIT_STEP_MS;
    this.#waitMs = this.#overTarget || !(wait > 0) ? 0 : wait;
  }
}

function checkTarget(ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`adaptive batching: targetLatencyMs must be a positive number, got ${ms}`);
  }
  return ms;
}

/** Changed by more than 1% (or from nothing). */
function movedBy(value: number, reported: number): boolean {
  return !(Math.abs(value - reported) <= 0.01 * Math.abs(reported));
}

function finiteOr0(x: number): number {
  return Number.isFinite(x) ? x : 0;
}
