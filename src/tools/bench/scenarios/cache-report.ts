/** The score cache scenario's figures, goals and notes, from what its rounds measured (cache.ts). */
import type { BenchContext } from "../context.js";
import type { CacheCounters } from "../gateway-cache.js";
import {
  goal,
  type Measurement,
  measurement,
  median,
  type RoundFigures,
  type ScenarioResult,
} from "../results.js";
import type { RepeatShare } from "../zipf-workload.js";
import { BATCHING_SIM } from "./batching.js";
import {
  BATCHING,
  CANDIDATES,
  type CachePlan,
  DOCS,
  EXPONENT,
  itemsFallPercent,
  LATENCY_RATE_PER_S,
  REPLAY_RATE_PER_S,
  RSS_FACTOR,
  rssRatio,
  SLACK_POINTS,
  TARGET_REPEAT_SHARE,
  TTL_MS,
} from "./cache-plan.js";

/** One replay of the workload through one gateway. */
export interface Replay {
  readonly figures: RoundFigures;
  /** Requests sent (answered or not). */
  readonly sent: number;
  /** The repeat share of the pairs sent. */
  readonly offered: RepeatShare;
  /** Pairs the simulator scored while the replay ran (nv_inference_count). */
  readonly backendItems: number;
  /** The gateway's peak RSS (VmHWM) at the end of the replay, MB; undefined without /proc. */
  readonly peakRssMb: number | undefined;
}

/** What one round measured. */
export interface CacheRound {
  readonly off: Replay;
  readonly on: Replay;
  /** The cache-on gateway's cache counters after the replay (totals: the gateway was new). */
  readonly counters: CacheCounters;
  /** Requests of the replay sent again: every pair cached. */
  readonly cached: RoundFigures;
  /** The same requests' documents as ModelInfer calls straight to the simulator. */
  readonly direct: RoundFigures;
  /** The cache-on gateway's peak RSS after the cached requests too, MB. */
  readonly endPeakRssMb: number | undefined;
}

const MiB = 2 ** 20;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const mb0 = (x: number | undefined) => (x === undefined ? "n/a" : x.toFixed(0));
const mb = (x: number | undefined) => (x === undefined ? "n/a" : `${x.toFixed(1)} MB`);

function medianOr(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return known.length > 0 ? median(known) : undefined;
}

function replayMeasurement(
  name: string,
  replays: readonly Replay[],
  more: Record<string, number> = {},
): Measurement {
  return measurement(
    name,
    replays.map((r) => r.figures),
    {
      peakRssMb: medianOr(replays.map((r) => r.peakRssMb)),
      extra: {
        "pairs offered": median(replays.map((r) => r.offered.pairs)),
        "backend items": median(replays.map((r) => r.backendItems)),
        ...more,
      },
    },
  );
}

export function cacheReport(
  plan: CachePlan,
  rounds: readonly CacheRound[],
  ctx: BenchContext,
): ScenarioResult {
  const maxMiB = plan.maxBytes / MiB;
  const offs = rounds.map((r) => r.off);
  const ons = rounds.map((r) => r.on);
  const last = rounds[rounds.length - 1]!;
  const repeat = median(ons.map((r) => r.offered.share));
  const distinct = median(ons.map((r) => r.offered.distinct));
  const pairs = median(ons.map((r) => r.offered.pairs));
  const entries = median(rounds.map((r) => r.counters.entries));
  const heldBytes = median(rounds.map((r) => r.counters.bytes));
  const evictions = median(rounds.map((r) => r.counters.evictions));
  const coalesced = median(rounds.map((r) => r.counters.coalesced));
  const ratio = median(
    rounds.map((r) => {
      const { hits, misses } = r.counters;
      return hits + misses > 0 ? hits / (hits + misses) : Number.NaN;
    }),
  );

  const measurements = [
    replayMeasurement("replay, cache off (maxBytes 0)", offs),
    replayMeasurement(`replay, cache on (maxBytes ${maxMiB} MiB)`, ons, {
      "cache entries at the end": entries,
    }),
    measurement(
      "wholly cached requests",
      rounds.map((r) => r.cached),
    ),
    measurement(
      "direct ModelInfer, same documents",
      rounds.map((r) => r.direct),
    ),
  ];

  // 1. Backend items.
  const fall = median(rounds.map((r) => itemsFallPercent(r.on.backendItems, r.off.backendItems)));
  const failedOff = offs.reduce((n, r) => n + r.figures.errors, 0);
  const failedOn = ons.reduce((n, r) => n + r.figures.errors, 0);
  const failed =
    failedOff + failedOn === 0
      ? ""
      : `; ${fmt(failedOff)} replayed requests failed without the cache and ${fmt(failedOn)} with it: ` +
        "the two counts are not of the same work";
  const itemsWith = median(ons.map((r) => r.backendItems));
  const itemsWithout = median(offs.map((r) => r.backendItems));
  // 2. Latency of wholly cached requests.
  const p50Ratio = median(rounds.map((r) => r.cached.p50Ms / r.direct.p50Ms));
  const notHits = rounds.reduce((n, r) => n + missesOf(r) + coalescedOf(r), 0);
  const hitsInWindow = rounds.reduce(
    (n, r) => n + (r.cached.cache?.kind === "on" ? r.cached.cache.hits : 0),
    0,
  );
  const cachedM = measurements[2]!.median;
  const directM = measurements[3]!.median;
  // 3. RSS.
  const rss = medianOr(
    rounds.map((r) =>
      r.on.peakRssMb && r.off.peakRssMb
        ? rssRatio(r.on.peakRssMb, plan.maxBytes, r.off.peakRssMb)
        : undefined,
    ),
  );
  const peakOn = medianOr(ons.map((r) => r.peakRssMb));
  const peakOff = medianOr(offs.map((r) => r.peakRssMb));
  const overRounds = rounds.length > 1 ? ` (medians of ${rounds.length} rounds)` : "";

  const g = (x: Omit<Parameters<typeof goal>[0], "scenario">) => goal({ ...x, scenario: "cache" });
  return {
    id: "cache",
    title: "Score cache",
    setup:
      `A Zipf workload (exponent ${EXPONENT}) replayed through a new gateway with the cache off ` +
      `(maxBytes 0) and a new one with it on (maxBytes ${maxMiB} MiB, ttlMs ${TTL_MS}), each round, in front of ` +
      `one Triton simulator (${BATCHING_SIM.baseMs} ms + ${BATCHING_SIM.perItemMs} ms/item, ` +
      `${BATCHING_SIM.instances} instance; gateway maxBatchSize ${BATCHING.maxBatchSize}, maxQueueDelayMs ` +
      `${BATCHING.maxQueueDelayMs}). Key space: ${fmt(plan.spec.queries)} queries × ${CANDIDATES} candidates; a ` +
      `request is a query drawn by Zipf rank and ${DOCS} distinct candidates drawn by Zipf rank, sized so that ` +
      `${pct(TARGET_REPEAT_SHARE)} of the pairs of ${fmt(plan.spec.requests)} requests repeat. Replay: open loop, ` +
      `Poisson arrivals at ${REPLAY_RATE_PER_S} req/s for ${plan.replayS} s, all of it measured. Then, at ` +
      `${LATENCY_RATE_PER_S} req/s with the same arrivals: requests of the replay sent again to the cache-on ` +
      "gateway, and the same documents as ModelInfer calls straight to the simulator.",
    measurements,
    goals: [
      g({
        id: "cache-items",
        what: `backend items saved by the cache, % of the items without it (goal: repeat share − ${SLACK_POINTS} points)`,
        measured: fall,
        comparator: ">=",
        target: Math.round(10 * (100 * repeat - SLACK_POINTS)) / 10,
        unit: "%",
        detail:
          `${fmt(itemsWith)} vs ${fmt(itemsWithout)} items scored; ${fmt(pairs)} pairs offered, ${fmt(distinct)} ` +
          `distinct: ${pct(repeat)} repeated; hit ratio ${pct(ratio)}, ${fmt(coalesced)} pairs coalesced${overRounds}${failed}`,
      }),
      g({
        id: "cache-latency",
        what: "p50 of requests answered wholly from the cache ÷ p50 of a direct ModelInfer of the same documents",
        measured: p50Ratio,
        comparator: "<",
        target: 1,
        unit: "",
        detail:
          `p50 ${cachedM.p50Ms.toFixed(2)} vs ${directM.p50Ms.toFixed(2)} ms, p99 ${cachedM.p99Ms.toFixed(2)} vs ` +
          `${directM.p99Ms.toFixed(2)} ms; ${fmt(hitsInWindow)} pairs answered from the cache in the windows, ` +
          (notHits === 0 ? "none otherwise" : `${fmt(notHits)} not (missed or coalesced)`),
      }),
      g({
        id: "cache-rss",
        what: "(peak RSS with the cache − maxBytes) ÷ peak RSS without",
        measured: rss ?? Number.NaN,
        comparator: "<=",
        target: RSS_FACTOR,
        unit: "",
        detail:
          peakOn === undefined || peakOff === undefined
            ? "not measured (no /proc)"
            : `${mb(peakOn)} with the cache vs ${mb(peakOff)} without; bound ${maxMiB} MiB + ${RSS_FACTOR} × ` +
              `${mb(peakOff)} = ${mb(maxMiB + RSS_FACTOR * peakOff)}; the cache held ${mb(heldBytes / MiB)} ` +
              `(${fmt(entries)} entries) at the end`,
      }),
    ],
    notes: [
      `Repeat share of the pairs each replay sent: ${ons.map((r) => pct(r.offered.share)).join(", ")} ` +
        `(${fmt(last.on.sent)} requests in the last round; the key space was sized for ${pct(plan.planned.share)} ` +
        `of ${fmt(plan.spec.requests)}).`,
      `Without the cache the simulator scored ${offs.map((r) => fmt(r.backendItems)).join(", ")} items for ` +
        `${offs.map((r) => fmt(r.offered.pairs)).join(", ")} pairs offered.`,
      "Hit ratio = hits ÷ (hits + misses) of the memory tier, from the gateway's /metrics " +
        "(relevance_gateway_cache_hits_total, _misses_total). A repeat whose first offer was still queued or in " +
        "flight is coalesced into that item: neither a hit nor a miss, and no backend item either.",
      `Peak RSS at the end of each replay, MB, with / without the cache: ${rounds
        .map((r) => `${mb0(r.on.peakRssMb)} / ${mb0(r.off.peakRssMb)}`)
        .join(", ")}; the cache-on gateway's after its cached requests too: ${rounds
        .map((r) => mb0(r.endPeakRssMb))
        .join(", ")}.`,
      `At the end of the replay the cache held ${mb(heldBytes / MiB)} in ${fmt(entries)} entries, ` +
        `${pct(heldBytes / plan.maxBytes)} of maxBytes; ${fmt(evictions)} evicted.`,
      ...(ctx.quick ? ["Quick run: one short round; the figures are indicative only."] : []),
    ],
  };
}

function missesOf(r: CacheRound): number {
  const c = r.cached.cache;
  return c?.kind === "on" ? c.misses : 0;
}

function coalescedOf(r: CacheRound): number {
  const c = r.cached.cache;
  return c?.kind === "on" ? c.coalesced : 0;
}
