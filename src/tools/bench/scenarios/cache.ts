import { gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { scrapeCacheCounters } from "../gateway-cache.js";
import { measureRound, openPhases } from "../measure.js";
import type { LoadPhase } from "../open-loop.js";
import { sampleProcess } from "../proc-stats.js";
import {
  type GatewayProcess,
  metricSum,
  scrape,
  startGateway,
  startTritonSim,
  type TritonSimProcess,
} from "../processes.js";
import type { RoundFigures, ScenarioResult } from "../results.js";
import { repeatShare, type ZipfWorkloadSpec, zipfRequests } from "../zipf-workload.js";
import { BATCHING_SIM } from "./batching.js";
import {
  BATCHING,
  BYPASS,
  CANDIDATES,
  type CachePlan,
  DOCS,
  LATENCY_RATE_PER_S,
  planCacheRun,
  REPLAY_RATE_PER_S,
  REPLAY_WINDOWS,
  TTL_MS,
} from "./cache-plan.js";
import { type CacheRound, cacheReport, type Replay } from "./cache-report.js";

const MiB = 2 ** 20;

/**
 * The score cache: a Zipf workload whose pairs repeat a stated share of the
 * time, replayed through a gateway with the cache off (`maxBytes: 0`) and
 * one with it on, in front of a simulator of known cost. Per round, each
 * gateway is new (an empty cache, its own peak RSS): the backend items of
 * both replays, the hit ratio from the gateway's metrics, then requests the
 * cache holds wholly against the same documents sent to the simulator as
 * ModelInfer calls.
 */
export async function cacheScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const plan = planCacheRun(REPLAY_WINDOWS * ctx.durations.measureS, ctx.seed);
  const requests = zipfRequests({ ...plan.spec, requests: plan.payloadRequests });
  ctx.log(
    `cache: ${plan.spec.queries.toLocaleString("en-US")} queries × ${CANDIDATES} candidates, ` +
      `${(100 * plan.planned.share).toFixed(1)}% of the pairs of ${plan.spec.requests} requests repeated; ` +
      `maxBytes ${plan.maxBytes / MiB} MiB`,
  );
  const stack = new ServerStack();
  try {
    const sim = await stack.add(startTritonSim("triton-sim", BATCHING_SIM));
    const rounds: CacheRound[] = [];
    const n = ctx.durations.rounds;
    for (let round = 1; round <= n; round++) {
      let off: Replay | undefined;
      let on: Omit<CacheRound, "off"> | undefined;
      // The order alternates, so neither configuration always runs on a machine the other has just warmed.
      for (const cacheOn of round % 2 === 1 ? [false, true] : [true, false]) {
        const m = await measureGateway(ctx, stack, sim, plan, requests, cacheOn, { round, of: n });
        if (m.kind === "off") off = m.replay;
        else on = m.result;
      }
      rounds.push({ off: off!, ...on! });
    }
    return cacheReport(plan, rounds, ctx);
  } finally {
    await stack.stopAll();
  }
}

type Measured =
  | { readonly kind: "off"; readonly replay: Replay }
  | { readonly kind: "on"; readonly result: Omit<CacheRound, "off"> };

/** A new gateway, the replay through it and, with the cache on, the latency of wholly cached requests; then it stops. */
async function measureGateway(
  ctx: BenchContext,
  stack: ServerStack,
  sim: TritonSimProcess,
  plan: CachePlan,
  requests: ReturnType<typeof zipfRequests>,
  on: boolean,
  at: { readonly round: number; readonly of: number },
): Promise<Measured> {
  const name = on ? "cache on" : "cache off";
  const roundLabel = `round ${at.round}/${at.of}`;
  const gateway = await stack.add(
    startGateway(
      `gateway (${name})`,
      gatewayConfig({
        student: sim.address,
        batching: BATCHING,
        cache: { maxBytes: on ? plan.maxBytes : 0, ttlMs: TTL_MS },
      }),
      ctx.scratch,
      ctx.gatewayNodeFlags(`cache-${on ? "on" : "off"}`),
    ),
  );
  try {
    const replay = await replayThrough(
      ctx,
      sim,
      gateway,
      plan,
      requests,
      `cache · replay, ${name} · ${roundLabel}`,
    );
    if (!on) return { kind: "off", replay };
    const counters = await scrapeCacheCounters(gateway.adminUrl);
    // The requests the replay sent are the ones the cache holds: the latency phase sends them again.
    const workload = { ...plan.spec, requests: Math.min(replay.sent, plan.payloadRequests) };
    const phases = openPhases(ctx.durations.warmupS, ctx.durations.measureS, LATENCY_RATE_PER_S);
    const cachedRun = () => cachedRequests(ctx, sim, gateway, workload, phases, roundLabel);
    const directRun = () => directRequests(ctx, sim, workload, phases, roundLabel);
    const cached = at.round % 2 === 1 ? await cachedRun() : undefined;
    const direct = await directRun();
    const cachedAfter = cached ?? (await cachedRun());
    const endPeakRssMb = peakRssMb(gateway);
    return { kind: "on", result: { on: replay, counters, cached: cachedAfter, direct, endPeakRssMb } };
  } finally {
    await gateway.stop();
  }
}

const replayPhases = (replayS: number): LoadPhase[] => [
  { name: "replay", durationMs: replayS * 1000, ratePerS: REPLAY_RATE_PER_S, measured: true },
  { name: "end", durationMs: 0, ratePerS: 0, measured: false },
];

async function replayThrough(
  ctx: BenchContext,
  sim: TritonSimProcess,
  gateway: GatewayProcess,
  plan: CachePlan,
  requests: ReturnType<typeof zipfRequests>,
  label: string,
): Promise<Replay> {
  // A new gateway's code is not optimised yet: its warm-up, with texts of its own that bypass the cache.
  await ctx.load.open(
    {
      kind: "open",
      target: gateway.target,
      workload: { kind: "score", docsPerRequest: DOCS, seed: ctx.seed + 1, cachePolicy: BYPASS },
      phases: [
        {
          name: "warm-up",
          durationMs: ctx.durations.warmupS * 1000,
          ratePerS: REPLAY_RATE_PER_S,
          measured: false,
        },
      ],
      seed: ctx.seed + 1,
      deadlineMs: 10_000,
    },
    {
      onTick: (t) =>
        ctx.log(`${label} · warm-up ${Math.round(t.elapsedMs / 1000)} s: ${t.answered} answered`),
    },
  );
  const before = await simItems(sim);
  const figures = await measureRound(ctx, {
    label,
    job: {
      kind: "open",
      target: gateway.target,
      workload: {
        kind: "score",
        docsPerRequest: DOCS,
        seed: ctx.seed,
        zipf: { ...plan.spec, requests: plan.payloadRequests },
      },
      // The whole replay is measured: filling the cache from empty is part of the workload.
      phases: replayPhases(plan.replayS),
      seed: ctx.seed,
      deadlineMs: 10_000,
    },
    watch: [
      { name: "gateway", pid: gateway.pid },
      { name: "triton-sim", pid: sim.pid },
    ],
    gateway,
    simMetricsUrl: sim.metricsUrl,
  });
  // The open loop has settled every request it sent: the simulator's count is complete.
  const backendItems = (await simItems(sim)) - before;
  const sent = figures.requests + figures.errors;
  // Judged here, after the same work for both gateways (the cache-on one has more to do afterwards).
  const peak = peakRssMb(gateway);
  return { figures, sent, offered: repeatShare(requests, CANDIDATES, sent), backendItems, peakRssMb: peak };
}

function cachedRequests(
  ctx: BenchContext,
  sim: TritonSimProcess,
  gateway: GatewayProcess,
  workload: ZipfWorkloadSpec,
  phases: LoadPhase[],
  roundLabel: string,
): Promise<RoundFigures> {
  return measureRound(ctx, {
    label: `cache · wholly cached requests · ${roundLabel}`,
    job: {
      kind: "open",
      target: gateway.target,
      workload: { kind: "score", docsPerRequest: DOCS, seed: ctx.seed, zipf: workload },
      phases,
      seed: ctx.seed,
      deadlineMs: 10_000,
    },
    watch: [
      { name: "gateway", pid: gateway.pid },
      { name: "triton-sim", pid: sim.pid },
    ],
    gateway,
  });
}

function directRequests(
  ctx: BenchContext,
  sim: TritonSimProcess,
  workload: ZipfWorkloadSpec,
  phases: LoadPhase[],
  roundLabel: string,
): Promise<RoundFigures> {
  return measureRound(ctx, {
    label: `cache · direct ModelInfer · ${roundLabel}`,
    job: {
      kind: "open",
      target: sim.address,
      workload: {
        kind: "model-infer",
        docsPerRequest: DOCS,
        seed: ctx.seed,
        model: "relevance_student",
        zipf: workload,
      },
      // The same arrivals as the cached requests, and the same requests in the same order.
      phases,
      seed: ctx.seed,
      deadlineMs: 10_000,
    },
    watch: [{ name: "triton-sim", pid: sim.pid }],
  });
}

async function simItems(sim: TritonSimProcess): Promise<number> {
  return metricSum(await scrape(sim.metricsUrl), "nv_inference_count");
}

function peakRssMb(gateway: GatewayProcess): number | undefined {
  const s = sampleProcess(gateway.pid);
  return s ? s.peakRssBytes / MiB : undefined;
}
