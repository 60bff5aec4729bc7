/**
 * What a bench run produces: per scenario, the figures of each configuration
 * (one entry per round, and their medians) and the goals judged from them.
 * Written as bench.json; report.ts renders it as Markdown, chart.ts as SVG.
 */

export const SCENARIO_IDS = [
  "overhead",
  "batching",
  "cpu-ceiling",
  "shadow",
  "fairness",
  "replicas",
  "cache",
  "cache-shared",
  "memory",
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** One configuration measured once. */
export interface RoundFigures {
  /** Answered in the measured window. */
  readonly requests: number;
  readonly items: number;
  readonly measuredS: number;
  readonly reqPerS: number;
  readonly itemsPerS: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly errorCounts: Readonly<Record<string, number>>;
  /** CPU used during the window by each process, in cores (1 = one core all the time). */
  readonly cores: Readonly<Record<string, number>>;
  /** Mean pairs per ModelInfer call the simulator executed in the window, when there is one. */
  readonly meanBatch?: number | undefined;
  /** The gateway's score cache over the window, when a gateway was measured. */
  readonly cache?: CacheFigures | undefined;
}

/**
 * A gateway's score cache over a window, from its /metrics: off, or the
 * in-process tier's hits and misses (pairs) and the pairs coalesced into
 * another's backend item. hitRatio = hits ÷ (hits + misses), null when
 * nothing was looked up.
 */
export type CacheFigures =
  | { readonly kind: "off" }
  | {
      readonly kind: "on";
      readonly hits: number;
      readonly misses: number;
      readonly coalesced: number;
      readonly hitRatio: number | null;
    };

export function hitRatio(hits: number, misses: number): number | null {
  return hits + misses > 0 ? hits / (hits + misses) : null;
}

/** A configuration over all rounds: the figures of each round and their medians. */
export interface Measurement {
  readonly name: string;
  readonly rounds: readonly RoundFigures[];
  readonly median: RoundFigures;
  /** The server process's peak resident set over its life (VmHWM), when measured. */
  readonly peakRssMb?: number | undefined;
  /** Anything else worth a column (shadow comparisons, drops). */
  readonly extra?: Readonly<Record<string, number>> | undefined;
}

export type Comparator = "<=" | ">=" | "<";

export interface Goal {
  readonly id: string;
  readonly scenario: ScenarioId;
  /** What is judged, in words: "gateway p50 − direct p50". */
  readonly what: string;
  readonly measured: number;
  readonly comparator: Comparator;
  readonly target: number;
  /** How both numbers read: "ms", "×", "", "MB", "%". */
  readonly unit: string;
  readonly met: boolean;
  /** The figures behind it, in words. */
  readonly detail: string;
}

export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  /** What ran: processes, cost model, load. */
  readonly setup: string;
  readonly measurements: readonly Measurement[];
  readonly goals: readonly Goal[];
  readonly notes: readonly string[];
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly totalMemoryMb: number;
  readonly platform: string;
  readonly node: string;
  /** 1, 5 and 15-minute load averages when the run started and ended. */
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
}

export interface BenchReport {
  readonly schema: "relevance-gateway-bench/1";
  readonly mode: "quick" | "full";
  readonly command: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly machine: MachineInfo;
  readonly scenarios: readonly ScenarioResult[];
  /** Gateways ran under --cpu-prof: figures are slower than unprofiled ones. */
  readonly profiled: boolean;
  /** Scenarios that could not finish, with why. */
  readonly failures: readonly string[];
}

export function judge(comparator: Comparator, measured: number, target: number): boolean {
  switch (comparator) {
    case "<=":
      return measured <= target;
    case ">=":
      return measured >= target;
    case "<":
      return measured < target;
    default: {
      const _: never = comparator;
      return _;
    }
  }
}

export function goal(g: Omit<Goal, "met">): Goal {
  return { ...g, met: Number.isFinite(g.measured) && judge(g.comparator, g.measured, g.target) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Element-wise medians of rounds (counts summed over rounds are in `rounds`). */
export function medianRound(rounds: readonly RoundFigures[]): RoundFigures {
  const m = (f: (r: RoundFigures) => number) => median(rounds.map(f));
  const processes = [...new Set(rounds.flatMap((r) => Object.keys(r.cores)))];
  const errorNames = [...new Set(rounds.flatMap((r) => Object.keys(r.errorCounts)))];
  const batches = rounds.map((r) => r.meanBatch).filter((b): b is number => b !== undefined);
  const cache = medianCache(rounds);
  return {
    requests: m((r) => r.requests),
    items: m((r) => r.items),
    measuredS: m((r) => r.measuredS),
    reqPerS: m((r) => r.reqPerS),
    itemsPerS: m((r) => r.itemsPerS),
    p50Ms: m((r) => r.p50Ms),
    p95Ms: m((r) => r.p95Ms),
    p99Ms: m((r) => r.p99Ms),
    maxMs: m((r) => r.maxMs),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    errorCounts: Object.fromEntries(
      errorNames.map((e) => [e, rounds.reduce((n, r) => n + (r.errorCounts[e] ?? 0), 0)]),
    ),
    cores: Object.fromEntries(processes.map((p) => [p, median(rounds.map((r) => r.cores[p] ?? 0))])),
    meanBatch: batches.length > 0 ? median(batches) : undefined,
    ...(cache === undefined ? {} : { cache }),
  };
}

/** Off when every round's cache was off; the medians of the rounds that had it on otherwise. */
function medianCache(rounds: readonly RoundFigures[]): CacheFigures | undefined {
  const known = rounds.map((r) => r.cache).filter((c): c is CacheFigures => c !== undefined);
  const on = known.filter((c) => c.kind === "on");
  if (on.length === 0) return known.length > 0 ? { kind: "off" } : undefined;
  const ratios = on.map((c) => c.hitRatio).filter((x): x is number => x !== null);
  return {
    kind: "on",
    hits: median(on.map((c) => c.hits)),
    misses: median(on.map((c) => c.misses)),
    coalesced: median(on.map((c) => c.coalesced)),
    hitRatio: ratios.length > 0 ? median(ratios) : null,
  };
}

export function measurement(
  name: string,
  rounds: readonly RoundFigures[],
  more: Pick<Measurement, "peakRssMb" | "extra"> = {},
): Measurement {
  return { name, rounds, median: medianRound(rounds), ...more };
}

/** The median over rounds of a per-round comparison of two configurations (paired by round). */
export function pairedMedian(
  a: Measurement,
  b: Measurement,
  f: (x: RoundFigures, y: RoundFigures) => number,
): number {
  const n = Math.min(a.rounds.length, b.rounds.length);
  return median(Array.from({ length: n }, (_, i) => f(a.rounds[i]!, b.rounds[i]!)));
}
