/**
 * Fault injection shared by the simulators, for tests and for game days: a
 * spec of what to break and how often (fault-spec.ts, re-exported here), the
 * injector that applies it with a seeded PRNG so that a run is
 * reproducible, and the bookkeeping for the calls the injector holds back
 * (added latency, hangs), so that replacing or clearing the spec releases
 * them and closing the simulator aborts them instead of leaving them behind.
 *
 * Each call draws one number u in [0, 1) and falls into consecutive bands:
 * [0, errorRate) is an error, then hangRate, malformedRate and resetRate; the
 * rest is "ok". The rates are therefore exact shares of the calls and must
 * add up to at most 1. `set()` restarts the PRNG from the seed, so the n-th
 * call after a given spec is set always gets the same fate.
 */

import { Counter, type Registry } from "prom-client";
import { type Clock, systemClock, type TimerHandle } from "../../util/clock.js";
import { mulberry32 } from "../../util/mulberry32.js";
import {
  FAULT_KINDS,
  type FaultDecision,
  type FaultKind,
  type FaultSpec,
  type InputFault,
  RATES,
  validateFaultSpec,
} from "./fault-spec.js";

export {
  FAULT_KINDS,
  type FaultDecision,
  type FaultKind,
  type FaultSpec,
  type InputFault,
  TRITON_MALFORMED_KINDS,
  VLLM_MALFORMED_KINDS,
  validateFaultSpec,
} from "./fault-spec.js";

/** Spreads faults deterministically for a seed. */
export const seededRandom = mulberry32;

/** How a hold ended: "go" (time is up, or released by set/clear), "aborted" (the injector closed). */
export type HoldOutcome = "go" | "aborted";

/** Thrown by `wait()` when the injector closes under it. */
export class FaultHoldAborted extends Error {
  constructor() {
    super("sim: closed while the call was held back");
    this.name = "FaultHoldAborted";
  }
}

export interface FaultInjectorOptions {
  /** The sim's malformations; the first is the default. */
  readonly malformedKinds: readonly string[];
  /** PRNG seed; default 1. */
  readonly seed?: number;
  readonly spec?: FaultSpec;
  readonly clock?: Clock;
  /** Called for each counted fault (to feed the sim's metrics). */
  readonly onInjected?: (kind: FaultKind) => void;
}

interface Hold {
  readonly done: (outcome: HoldOutcome) => void;
  timer: TimerHandle | undefined;
}

export class FaultInjector {
  readonly malformedKinds: readonly string[];
  readonly #seed: number;
  readonly #clock: Clock;
  readonly #onInjected: ((kind: FaultKind) => void) | undefined;
  readonly #holds = new Set<Hold>();
  readonly #counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  #spec: FaultSpec = {};
  /** Bumped by every set(): a hold asked for under an older spec is not held. */
  #generation = 0;
  #random: () => number;
  /** slowRate's accumulator: a call that brings it to 1 is slow. */
  #slowCredit = 0;
  #closed = false;

  constructor(opts: FaultInjectorOptions) {
    if (opts.malformedKinds.length === 0) throw new RangeError("sim faults: no malformed kinds");
    const seed = opts.seed ?? 1;
    if (!Number.isInteger(seed))
      throw new RangeError(`sim faults: faultSeed must be an integer, got ${seed}`);
    this.malformedKinds = opts.malformedKinds;
    this.#seed = seed;
    this.#clock = opts.clock ?? systemClock;
    this.#onInjected = opts.onInjected;
    this.#random = seededRandom(seed);
    if (opts.spec) this.set(opts.spec);
  }

  validate(raw: unknown): FaultSpec | string {
    return validateFaultSpec(raw, this.malformedKinds);
  }

  /** Replaces the spec (RangeError naming the field if invalid), restarts the PRNG and releases held calls. */
  set(spec: FaultSpec): void {
    const valid = this.validate(spec);
    if (typeof valid === "string") throw new RangeError(`sim faults: ${valid}`);
    this.#spec = valid;
    this.#generation++;
    this.#random = seededRandom(this.#seed);
    this.#slowCredit = 0;
    this.#releaseAll("go");
  }

  clear(): void {
    this.set({});
  }

  current(): FaultSpec {
    return { ...this.#spec };
  }

  /** Identifies the spec in force; pass it to `hold` for a fault decided now but held later. */
  get generation(): number {
    return this.#generation;
  }

  get addedLatencyMs(): number {
    return this.#spec.addedLatencyMs ?? 0;
  }

  /** The malformation to apply to a call decided "malformed". */
  get malformed(): string {
    return this.#spec.malformed ?? this.malformedKinds[0]!;
  }

  /**
   * The fault a call meets before any draw, counted: "poison" when one of
   * `documents` holds the spec's poison marker, "internal" when the spec
   * fails every call; undefined otherwise (then call `decide`). Such a call
   * is answered at once, without added latency, and draws nothing, so the
   * fates of the other calls do not depend on it.
   */
  inputFault(documents: readonly string[]): InputFault | undefined {
    const marker = this.#spec.poisonMarker;
    if (marker !== undefined && documents.some((d) => d.includes(marker))) {
      this.#count("poison");
      return "poison";
    }
    if (this.#spec.failAll) {
      this.#count("internal");
      return "internal";
    }
    return undefined;
  }

  /** One call's fate; call once per call. Counts the fault, and "latency" when the spec adds some. */
  decide(): FaultDecision {
    const u = this.#random();
    let decision: FaultDecision = "ok";
    let edge = 0;
    for (const [field, kind] of RATES) {
      edge += this.#spec[field] ?? 0;
      if (u < edge) {
        decision = kind;
        break;
      }
    }
    if (decision !== "ok") this.#count(decision);
    if (this.addedLatencyMs > 0) this.#count("latency");
    return decision;
  }

  /**
   * How long to hold one call before it runs: `addedLatencyMs`, plus
   * `slowMs` when it is one of the `slowRate` calls (counted as "slow").
   * Call once per call, after `decide()`.
   */
  delayMs(): number {
    const rate = this.#spec.slowRate ?? 0;
    if (rate <= 0) return this.addedLatencyMs;
    this.#slowCredit += rate;
    // The epsilon keeps float drift from skipping a slow call (0.7 * 10 sums to 6.999…).
    if (this.#slowCredit < 1 - 1e-9) return this.addedLatencyMs;
    this.#slowCredit -= 1;
    this.#count("slow");
    return this.addedLatencyMs + (this.#spec.slowMs ?? 0);
  }

  counts(): Record<FaultKind, number> {
    return { ...this.#counts };
  }

  /**
   * Holds a call for `ms` (Infinity: a hang, until the spec is replaced or
   * cleared). `done` runs once, asynchronously. The returned function drops
   * the hold without calling `done`: the caller went away. With the
   * `generation` of the spec that decided the fault, a hold that spec no
   * longer covers (a hang decided before a clear() that cut the call's added
   * latency short) ends at once instead of outliving its spec.
   */
  hold(ms: number, done: (outcome: HoldOutcome) => void, generation = this.#generation): () => void {
    const hold: Hold = { done, timer: undefined };
    if (this.#closed || generation !== this.#generation) {
      const outcome = this.#closed ? "aborted" : "go";
      let dropped = false;
      queueMicrotask(() => dropped || done(outcome));
      return () => {
        dropped = true;
      };
    }
    this.#holds.add(hold);
    if (Number.isFinite(ms)) hold.timer = this.#clock.setTimeout(() => this.#end(hold, "go"), ms);
    return () => {
      hold.timer?.cancel();
      this.#holds.delete(hold);
    };
  }

  /** `hold` as a promise: rejects with FaultHoldAborted on close, with the signal's reason on abort. */
  wait(ms: number, signal: AbortSignal, generation = this.#generation): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        drop();
        reject(signal.reason);
      };
      const drop = this.hold(
        ms,
        (outcome) => {
          signal.removeEventListener("abort", onAbort);
          if (outcome === "go") resolve();
          else reject(new FaultHoldAborted());
        },
        generation,
      );
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Calls held now (latency or hang). */
  get held(): number {
    return this.#holds.size;
  }

  /** Aborts every held call; later holds abort at once. */
  close(): void {
    this.#closed = true;
    this.#releaseAll("aborted");
  }

  #count(kind: FaultKind): void {
    this.#counts[kind]++;
    this.#onInjected?.(kind);
  }

  #end(hold: Hold, outcome: HoldOutcome): void {
    if (!this.#holds.delete(hold)) return;
    hold.timer?.cancel();
    hold.done(outcome);
  }

  #releaseAll(outcome: HoldOutcome): void {
    const holds = [...this.#holds];
    // Asynchronously, so that a caller of set()/close() never runs call handlers re-entrantly.
    queueMicrotask(() => {
      for (const hold of holds) this.#end(hold, outcome);
    });
  }
}

/** `sim_injected_faults_total{kind}` in `registry`, every kind at 0 from the start; returns its increment. */
export function faultCounter(registry: Registry): (kind: FaultKind) => void {
  const counter = new Counter({
    name: "sim_injected_faults_total",
    help: "Faults injected by the simulator (not a metric of the real server), by kind.",
    labelNames: ["kind"],
    registers: [registry],
  });
  for (const kind of FAULT_KINDS) counter.inc({ kind }, 0);
  return (kind) => counter.inc({ kind });
}
