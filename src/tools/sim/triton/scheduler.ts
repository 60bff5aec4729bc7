/**
 * The simulator's cost model: a GPU with `instances` model instances. Each
 * job (one ModelInfer call, i.e. one batch) occupies an instance for
 * `baseMs + perItemMs × n`; when all instances are busy, jobs wait, the
 * lowest priority level first and in arrival order within a level (Triton's
 * dynamic batcher with `priority_levels`). With `mergeUpTo` > 0 an instance
 * that frees takes the queued jobs together, in that order, while their
 * items fit in `mergeUpTo` (a job is never split; one that does not fit
 * closes the batch), as Triton's dynamic batcher merges queued requests;
 * otherwise each job is its own batch. Time comes from the injected Clock,
 * so tests can step it.
 */
import type { Clock, TimerHandle } from "../../../util/clock.js";
import { insertByPriority } from "../priority-order.js";

export interface SimCost {
  /** Fixed cost of one batch execution. */
  readonly baseMs: number;
  /** Added cost per pair in the batch. */
  readonly perItemMs: number;
  /** Batches that may execute at once. */
  readonly instances: number;
}

export const DEFAULT_SIM_COST: SimCost = { baseMs: 2, perItemMs: 0.02, instances: 1 };

export interface SimJob {
  readonly n: number;
  /** Its queue level: lower is served first (0 or 1 for all, without levels). */
  readonly priority: number;
  /** An instance picked the job up, in a batch of `batchItems` items (its own, or merged with others'). */
  onStart(batchItems: number, firstOfBatch: boolean): void;
  /** The execution finished; `firstOfBatch` as at the start. */
  onDone(firstOfBatch: boolean): void;
  /** The scheduler closed before the job finished. */
  onAbort(): void;
}

export interface SimTicket {
  /** Removes a queued job and returns true; returns false once it has started (a GPU batch runs to completion). */
  dequeue(): boolean;
}

export function validateCost(cost: SimCost): SimCost {
  const { baseMs, perItemMs, instances } = cost;
  if (!(baseMs >= 0) || !(perItemMs >= 0) || !Number.isFinite(baseMs + perItemMs)) {
    throw new RangeError(
      `sim cost: baseMs and perItemMs must be finite and >= 0, got ${baseMs} and ${perItemMs}`,
    );
  }
  if (!Number.isInteger(instances) || instances < 1) {
    throw new RangeError(`sim cost: instances must be an integer >= 1, got ${instances}`);
  }
  return { baseMs, perItemMs, instances };
}

export class SimScheduler {
  readonly #clock: Clock;
  readonly #cost: () => SimCost;
  readonly #mergeUpTo: number;
  readonly #queue: SimJob[] = [];
  /** Executing batches: their jobs and their timer. */
  readonly #running = new Map<readonly SimJob[], TimerHandle>();
  #closed = false;

  /** `cost` is read whenever a batch starts, so cost changes apply to the next batch. */
  constructor(clock: Clock, cost: () => SimCost, mergeUpTo = 0) {
    this.#clock = clock;
    this.#cost = cost;
    this.#mergeUpTo = mergeUpTo;
  }

  get executing(): number {
    return this.#running.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  submit(job: SimJob): SimTicket {
    if (this.#closed) {
      job.onAbort();
      return { dequeue: () => false };
    }
    insertByPriority(this.#queue, job, (j) => j.priority);
    this.#pump();
    return {
      dequeue: () => {
        const i = this.#queue.indexOf(job);
        if (i < 0) return false;
        this.#queue.splice(i, 1);
        return true;
      },
    };
  }

  /** Starts queued jobs while instances are free (also after `instances` grows). */
  pump(): void {
    this.#pump();
  }

  /** Aborts queued and running jobs; later submissions abort at once. */
  close(): void {
    this.#closed = true;
    const jobs = [...[...this.#running.keys()].flat(), ...this.#queue];
    for (const timer of this.#running.values()) timer.cancel();
    this.#running.clear();
    this.#queue.length = 0;
    for (const job of jobs) job.onAbort();
  }

  #pump(): void {
    while (!this.#closed && this.#queue.length > 0 && this.#running.size < this.#cost().instances) {
      const batch = [this.#queue.shift()!];
      let items = batch[0]!.n;
      while (this.#queue.length > 0 && items + this.#queue[0]!.n <= this.#mergeUpTo) {
        const next = this.#queue.shift()!;
        batch.push(next);
        items += next.n;
      }
      const { baseMs, perItemMs } = this.#cost();
      const timer = this.#clock.setTimeout(
        () => {
          if (!this.#running.delete(batch)) return;
          batch.forEach((job, i) => {
            job.onDone(i === 0);
          });
          this.#pump();
        },
        baseMs + perItemMs * items,
      );
      this.#running.set(batch, timer);
      batch.forEach((job, i) => {
        job.onStart(items, i === 0);
      });
    }
  }
}
