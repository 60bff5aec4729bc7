/**
 * The vLLM simulator's engine: continuous batching as vLLM V1 schedules it,
 * reduced to what a relevance request needs (its prompt's prefill, which
 * also yields the one sampled token or the pooled output).
 *
 * - Sequences (one per prompt; a list request fans out into several) enter an
 *   unbounded waiting queue, lowest `priority` first and in arrival order
 *   within a priority (vLLM's priority policy; under its default first-come
 *   policy every priority is 0): like vLLM, the engine never rejects.
 * - The engine runs steps back to back while there is work. When idle, it
 *   wakes one tick (0 ms on the clock) after the first arrival, so requests
 *   that arrive together share the first step.
 * - Each step, running sequences take prefill chunks from a token budget of
 *   `maxNumBatchedTokens` (chunked prefill), then waiting sequences are
 *   admitted while fewer than `maxNumSeqs` run and budget remains.
 * - A step lasts stepMs + perSeqMs × (sequences in the step) +
 *   prefillMsPerToken × (tokens in the step).
 * - A sequence finishes at the end of the step that processes its last
 *   prompt token. Cancelling frees it at once, waiting or running (vLLM
 *   aborts a request whose client went away).
 *
 * Time comes from the injected Clock, so tests can step it.
 */
import type { Clock, TimerHandle } from "../../../util/clock.js";
import { insertByPriority } from "../priority-order.js";

export interface VllmSimCost {
  /** Fixed cost of one engine step. */
  readonly stepMs: number;
  /** Added per sequence in the step. */
  readonly perSeqMs: number;
  /** Added per prompt token prefilled in the step. */
  readonly prefillMsPerToken: number;
}

export const DEFAULT_VLLM_SIM_COST: VllmSimCost = { stepMs: 4, perSeqMs: 0.05, prefillMsPerToken: 0.002 };

export interface EngineLimits {
  /** Sequences that may run at once (`--max-num-seqs`). */
  readonly maxNumSeqs: number;
  /** Tokens per step (`--max-num-batched-tokens`). */
  readonly maxNumBatchedTokens: number;
}

export interface EngineSeq {
  readonly promptTokens: number;
  /** Lower is admitted first (vLLM's `priority`; 0 by default). */
  readonly priority: number;
  /** The sequence joined the running batch. */
  onStart(): void;
  /** Its last prompt chunk was processed. */
  onDone(): void;
  /** The engine closed before it finished. */
  onAbort(): void;
}

export interface EngineTicket {
  /** Drops the sequence, waiting or running; no callback runs for it afterwards. */
  cancel(): void;
}

type State = "waiting" | "running" | "finished";

interface Entry {
  readonly seq: EngineSeq;
  remaining: number;
  state: State;
}

export function validateVllmCost(cost: VllmSimCost): VllmSimCost {
  const { stepMs, perSeqMs, prefillMsPerToken } = cost;
  for (const [name, v] of Object.entries({ stepMs, perSeqMs, prefillMsPerToken })) {
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new RangeError(`vllm sim cost: ${name} must be finite and >= 0, got ${v}`);
    }
  }
  return { stepMs, perSeqMs, prefillMsPerToken };
}

export function validateLimits(limits: EngineLimits): EngineLimits {
  for (const [name, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`vllm sim: ${name} must be an integer >= 1, got ${v}`);
  }
  return limits;
}

export class VllmScheduler {
  readonly #clock: Clock;
  readonly #cost: () => VllmSimCost;
  readonly #limits: EngineLimits;
  readonly #waiting: Entry[] = [];
  readonly #running: Entry[] = [];
  #timer: TimerHandle | undefined;
  #maxRunningSeen = 0;
  #closed = false;

  /** `cost` is read when each step starts, so changes apply from the next step. */
  constructor(clock: Clock, cost: () => VllmSimCost, limits: EngineLimits) {
    this.#clock = clock;
    this.#cost = cost;
    this.#limits = validateLimits(limits);
  }

  get running(): number {
    return this.#running.length;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get maxRunningSeen(): number {
    return this.#maxRunningSeen;
  }

  submit(seq: EngineSeq): EngineTicket {
    if (this.#closed) {
      seq.onAbort();
      return { cancel() {} };
    }
    const entry: Entry = { seq, remaining: Math.max(1, seq.promptTokens), state: "waiting" };
    insertByPriority(this.#waiting, entry, (e) => e.seq.priority);
    // Idle: wake on the next tick so simultaneous arrivals share a step.
    this.#timer ??= this.#clock.setTimeout(() => this.#step(), 0);
    return { cancel: () => this.#remove(entry) };
  }

  /** Aborts every sequence; later submissions abort at once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    const entries = [...this.#running, ...this.#waiting];
    this.#running.length = 0;
    this.#waiting.length = 0;
    for (const e of entries) {
      e.state = "finished";
      e.seq.onAbort();
    }
  }

  #remove(entry: Entry): void {
    const list = entry.state === "running" ? this.#running : entry.state === "waiting" ? this.#waiting : [];
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    entry.state = "finished";
  }

  #step(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    let budget = this.#limits.maxNumBatchedTokens;
    const scheduled: [Entry, number][] = [];
    for (const e of this.#running) {
      if (budget === 0) break;
      const chunk = Math.min(e.remaining, budget);
      budget -= chunk;
      scheduled.push([e, chunk]);
    }
    while (budget > 0 && this.#running.length < this.#limits.maxNumSeqs && this.#waiting.length > 0) {
      const e = this.#waiting.shift()!;
      e.state = "running";
      this.#running.push(e);
      const chunk = Math.min(e.remaining, budget);
      budget -= chunk;
      scheduled.push([e, chunk]);
      e.seq.onStart();
    }
    this.#maxRunningSeen = Math.max(this.#maxRunningSeen, this.#running.length);
    if (scheduled.length === 0) return;
    const tokens = scheduled.reduce((n, [, chunk]) => n + chunk, 0);
    const { stepMs, perSeqMs, prefillMsPerToken } = this.#cost();
    const ms = stepMs + perSeqMs * scheduled.length + prefillMsPerToken * tokens;
    this.#timer = this.#clock.setTimeout(() => this.#finishStep(scheduled), ms);
  }

  #finishStep(scheduled: readonly [Entry, number][]): void {
    this.#timer = undefined;
    for (const [e, chunk] of scheduled) {
      // Cancelled during the step: its share of the work is simply lost.
      if (e.state !== "running") continue;
      e.remaining -= chunk;
      if (e.remaining > 0) continue;
      this.#remove(e);
      e.seq.onDone();
    }
    if (this.#running.length > 0 || this.#waiting.length > 0) this.#step();
  }
}
