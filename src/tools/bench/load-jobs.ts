import type { ClosedLoopResult } from "../common/load-generator.js";
import type { IntervalSnapshot } from "./interval-stats.js";
import type { StreamResult, StreamsLoadJob } from "./load-streams.js";
import type { LoadPhase, OpenLoopPhaseResult } from "./open-loop.js";
import type { WorkloadSpec } from "./payloads.js";

/** Poisson arrivals through `phases` (src/tools/bench/open-loop.ts). */
export interface OpenLoadJob {
  readonly kind: "open";
  readonly target: string;
  readonly workload: WorkloadSpec;
  readonly phases: readonly LoadPhase[];
  /** Seed of the arrival times. */
  readonly seed: number;
  readonly deadlineMs: number;
}

/** `concurrency` requests always outstanding (src/tools/common/load-generator.ts). */
export interface ClosedLoadJob {
  readonly kind: "closed";
  readonly target: string;
  readonly workload: WorkloadSpec;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly deadlineMs: number;
}

export type LoadJob = OpenLoadJob | ClosedLoadJob | StreamsLoadJob;

export interface ClosedLoadResult extends ClosedLoopResult {
  readonly errorCounts: Readonly<Record<string, number>>;
}

/** One progress interval of a run. */
export interface LoadTick extends IntervalSnapshot {
  /** The phase ("warm-up", "measured", or an open-loop phase's name). */
  readonly phase: string;
  readonly elapsedMs: number;
}

/** Messages from the load worker to the bench. */
export type FromLoadWorker =
  | { readonly kind: "phase"; readonly name: string; readonly measured: boolean }
  | { readonly kind: "tick"; readonly tick: LoadTick }
  /** The first answer's body, so the bench can check it is what the scenario expects. */
  | { readonly kind: "sample"; readonly body: Uint8Array }
  | { readonly kind: "open-done"; readonly phases: readonly OpenLoopPhaseResult[] }
  | { readonly kind: "closed-done"; readonly result: ClosedLoadResult }
  | { readonly kind: "streams-done"; readonly streams: readonly StreamResult[] }
  | { readonly kind: "failed"; readonly message: string };
