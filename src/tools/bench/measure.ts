import { decodeModelInferResponse, decodeScoreResponse } from "../../codec/index.js";
import type { BenchContext } from "./context.js";
import { cacheWindow, type GatewayUnderTest } from "./gateway-cache.js";
import type { ClosedLoadJob, LoadTick, OpenLoadJob } from "./load-jobs.js";
import type { LoadObserver } from "./load-runner.js";
import type { LoadPhase } from "./open-loop.js";
import type { WorkloadSpec } from "./payloads.js";
import { coresUsed, type ProcessSample, sampleProcess } from "./proc-stats.js";
import { metricSum, scrape } from "./processes.js";
import type { RoundFigures } from "./results.js";

/** A process whose CPU use is measured during the window. */
export interface Watched {
  readonly name: string;
  readonly pid: number;
}

export interface RoundSpec {
  /** Progress prefix: "batching · batching on · round 1/3". */
  readonly label: string;
  readonly job: ClosedLoadJob | OpenLoadJob;
  /** The servers under test; the bench's own process (the load generator) is always added. */
  readonly watch: readonly Watched[];
  /** The Triton simulator's /metrics, for the mean batch size it executed in the window. */
  readonly simMetricsUrl?: string | undefined;
  /** The gateway measured, for its cache's hit ratio (from its /metrics) over the window and its tail. */
  readonly gateway?: GatewayUnderTest | undefined;
  /** Called every `everyMs` while the window is open, and once as it opens (the memory soak samples RSS). */
  readonly during?: { readonly everyMs: number; readonly fn: (elapsedMs: number) => void } | undefined;
}

export const LOAD_GENERATOR = "load generator";

interface WindowMark {
  readonly atMs: number;
  readonly self: NodeJS.CpuUsage;
  readonly processes: ReadonlyMap<string, ProcessSample | undefined>;
  readonly batches: Promise<{ items: number; calls: number } | undefined>;
}

type JobFigures = Omit<RoundFigures, "cores" | "meanBatch" | "cache">;

/** Open-loop phases: an unmeasured warm-up, the measured window, and a marker for its end. */
export function openPhases(
  warmupS: number,
  measureS: number,
  ratePerS: number,
  warmupRatePerS = ratePerS,
): LoadPhase[] {
  return [
    { name: "warm-up", durationMs: warmupS * 1000, ratePerS: warmupRatePerS, measured: false },
    { name: "measured", durationMs: measureS * 1000, ratePerS, measured: true },
    // Zero length: its start marks the end of the window for the CPU samples.
    { name: "end", durationMs: 0, ratePerS: 0, measured: false },
  ];
}

/**
 * Runs one job in the load worker and measures the window: latency and
 * throughput from the worker, CPU time of every watched process and of this
 * one from the kernel, and the simulator's batch counts. Progress is logged
 * once a second.
 */
export async function measureRound(ctx: BenchContext, spec: RoundSpec): Promise<RoundFigures> {
  const marks: WindowMark[] = [];
  const mark = (): WindowMark => ({
    atMs: performance.now(),
    self: process.cpuUsage(),
    processes: new Map(spec.watch.map((w) => [w.name, sampleProcess(w.pid)])),
    batches: spec.simMetricsUrl ? simBatches(spec.simMetricsUrl) : Promise.resolve(undefined),
  });
  let problem: string | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const cacheFigures = cacheWindow(spec.gateway);
  const observer: LoadObserver = {
    onPhase: (name, measured) => {
      if (measured) void cacheFigures.open();
      // The window opens with the measured phase and closes with whatever follows it.
      if (measured || (marks.length === 1 && name !== "warm-up")) marks.push(mark());
      clearInterval(sampler);
      const during = spec.during;
      if (measured && during) {
        const openedMs = performance.now();
        during.fn(0);
        sampler = setInterval(() => during.fn(performance.now() - openedMs), during.everyMs);
      }
    },
    onTick: (tick) => ctx.log(progress(spec.label, tick)),
    onSample: (body) => {
      problem = checkAnswer(spec.job.workload, Buffer.from(body));
    },
  };

  let figures: JobFigures;
  try {
    figures = await runJob(ctx, spec, observer);
  } finally {
    clearInterval(sampler);
  }
  if (problem) throw new Error(`${spec.label}: unexpected answer: ${problem}`);
  // After the job: the answers still outstanding when the window closed are counted too.
  const cache = await cacheFigures.close();

  const [from, to] = marks;
  if (!from || !to) return { ...figures, cores: {}, cache };
  const elapsedMs = to.atMs - from.atMs;
  const cores: Record<string, number> = {};
  for (const w of spec.watch) {
    const a = from.processes.get(w.name);
    const b = to.processes.get(w.name);
    if (a && b) cores[w.name] = coresUsed(a, b, elapsedMs);
  }
  const self = process.cpuUsage(from.self);
  cores[LOAD_GENERATOR] = (self.user + self.system) / 1000 / elapsedMs;
  const [b0, b1] = await Promise.all([from.batches, to.batches]);
  const meanBatch =
    b0 && b1 && b1.calls > b0.calls ? (b1.items - b0.items) / (b1.calls - b0.calls) : undefined;
  return { ...figures, cores, meanBatch, cache };
}

async function runJob(ctx: BenchContext, spec: RoundSpec, observer: LoadObserver): Promise<JobFigures> {
  const docs = spec.job.workload.docsPerRequest;
  if (spec.job.kind === "closed") {
    const r = await ctx.load.closed(spec.job, observer);
    const measuredS = r.measuredMs / 1000;
    // Requests straddling the window's edges count pro rata (src/tools/common/load-generator.ts).
    const itemsPerS = measuredS > 0 ? r.windowItems / measuredS : 0;
    return {
      requests: r.requests,
      items: r.items,
      measuredS,
      reqPerS: itemsPerS / docs,
      itemsPerS,
      p50Ms: r.latency.p50Ms,
      p95Ms: r.latency.p95Ms,
      p99Ms: r.latency.p99Ms,
      maxMs: r.latency.maxMs,
      errors: r.errors,
      errorCounts: r.errorCounts,
    };
  }
  const phases = await ctx.load.open(spec.job, observer);
  const p = phases.find((x) => x.name === "measured") ?? phases[0];
  if (!p) throw new Error(`${spec.label}: the open-loop job measured nothing`);
  const measuredS = p.durationMs / 1000;
  return {
    requests: p.answered,
    items: p.answered * docs,
    measuredS,
    reqPerS: p.answered / measuredS,
    itemsPerS: (p.answered * docs) / measuredS,
    p50Ms: p.latency.p50Ms,
    p95Ms: p.latency.p95Ms,
    p99Ms: p.latency.p99Ms,
    maxMs: p.latency.maxMs,
    errors: p.errors,
    errorCounts: p.errorCounts,
  };
}

/** Pairs executed and ModelInfer executions so far, from the simulator's Triton-style counters. */
async function simBatches(metricsUrl: string): Promise<{ items: number; calls: number } | undefined> {
  try {
    const text = await scrape(metricsUrl);
    return {
      items: metricSum(text, "nv_inference_count"),
      calls: metricSum(text, "nv_inference_exec_count"),
    };
  } catch {
    return undefined;
  }
}

/** A problem with the first answer of a run, or undefined when it is what the workload expects. */
export function checkAnswer(workload: WorkloadSpec, body: Buffer): string | undefined {
  try {
    if (workload.kind === "score") {
      const r = decodeScoreResponse(body);
      return r.scores.length === workload.docsPerRequest
        ? undefined
        : `${r.scores.length} scores for ${workload.docsPerRequest} documents`;
    }
    const r = decodeModelInferResponse(body);
    return r.outputs.length > 0 ? undefined : "ModelInfer answered no output";
  } catch (err) {
    return (err as Error).message;
  }
}

function progress(label: string, t: LoadTick): string {
  const errors = t.errors > 0 ? `, ${t.errors} errors` : "";
  return (
    `${label} · ${t.phase} ${Math.round(t.elapsedMs / 1000)} s: ${t.answered} answered, ` +
    `p99 ${t.p99Ms.toFixed(1)} ms${errors}`
  );
}
