import { gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { measureStreams, type StreamsRound } from "../measure-streams.js";
import { type GatewayProcess, startGateway, startTritonSim } from "../processes.js";
import { goal, type Measurement, measurement, median, type ScenarioResult } from "../results.js";
import {
  bulkShareOfRefusals,
  countStatus,
  REFUSED,
  requestedItemsAnswered,
  servedItems,
  servedShares,
  streamFigures,
  streamOf,
  TOO_LATE,
} from "./fairness-figures.js";
import {
  BAND_DOCS,
  BATCH_MS,
  BURST,
  CAPACITY,
  type Client,
  CONFIGS,
  type Config,
  clientsWith,
  FAIRNESS_SIM,
  LATENCY_WINDOWS,
  loadStream,
  OVERLOAD,
  SHARE_DOCS,
} from "./fairness-plan.js";

/**
 * Flow control: how a backend's capacity is shared between
 * clients, bands and request sizes under overload, and how the default
 * config admits a burst and refuses a sustained overload. Two gateways with
 * default batching in front of one simulator of known capacity; they differ
 * only in the clients' weights.
 */
export async function fairnessScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    const sim = await stack.add(startTritonSim("triton-sim", FAIRNESS_SIM));
    const gateways: Record<Config["gateway"], GatewayProcess> = {
      equal: await stack.add(
        startGateway(
          "gateway (equal weights)",
          gatewayConfig({ student: sim.address, clients: clientsWith({}) }),
          ctx.scratch,
          ctx.gatewayNodeFlags("fairness-equal"),
        ),
      ),
      weighted: await stack.add(
        startGateway(
          "gateway (weights 3:1)",
          gatewayConfig({ student: sim.address, clients: clientsWith({ heavy: 3 }) }),
          ctx.scratch,
          ctx.gatewayNodeFlags("fairness-weighted"),
        ),
      ),
    };
    const results = new Map<string, StreamsRound[]>(CONFIGS.map((c) => [c.name, []]));
    const rounds = ctx.durations.rounds;
    for (let round = 1; round <= rounds; round++) {
      for (let k = 0; k < CONFIGS.length; k++) {
        const c = CONFIGS[(k + round - 1) % CONFIGS.length]!;
        const label = `fairness · ${c.name} · round ${round}/${rounds}`;
        const gateway = gateways[c.gateway];
        const figures = await measureStreams(
          ctx,
          label,
          {
            kind: "streams",
            target: gateway.target,
            streams: c.streams.map((s) => loadStream(s, ctx.seed)),
            warmupMs: ctx.durations.warmupS * 1000,
            measureMs: ctx.durations.measureS * 1000 * (c.windows ?? 1),
            seed: ctx.seed + round,
          },
          [
            { name: "gateway", pid: gateway.pid },
            { name: "triton-sim", pid: sim.pid },
          ],
          gateway,
        );
        ctx.log(`${label}: ${summary(figures)}`);
        results.get(c.name)!.push(figures);
      }
    }
    return report(results);
  } finally {
    await stack.stopAll();
  }
}

function summary(r: StreamsRound): string {
  return r.streams
    .filter((s) => s.sent > 0)
    .map((s) => {
      const errors = Object.entries(s.errorCounts).map(([k, n]) => `${n} ${k}`);
      return (
        `${s.client} ${s.answered}/${s.sent} answered, p99 ${s.latency.p99Ms.toFixed(1)} ms` +
        (errors.length > 0 ? ` (${errors.join(", ")})` : "")
      );
    })
    .join("; ");
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const CONFIG_NAMES = CONFIGS.map((c) => c.name);
const [EQUAL, WEIGHTED, ALONE, BANDS, SMALL_ALONE, WITH_BIG, BURSTING, OVERLOADED] = CONFIG_NAMES as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];

function report(results: ReadonlyMap<string, readonly StreamsRound[]>): ScenarioResult {
  const of = (name: string) => results.get(name) ?? [];
  const perRound = (name: string, f: (r: StreamsRound) => number) => of(name).map(f);
  // A figure of each round's pair of configurations (they alternate, so a round's two share its machine state).
  const pairedRounds = (a: string, b: string, f: (x: StreamsRound, y: StreamsRound) => number) =>
    of(a).map((x, i) => (of(b)[i] === undefined ? Number.NaN : f(x, of(b)[i]!)));
  const perRoundText = (xs: readonly number[], digits: number, unit = "") =>
    xs.length > 1 ? `; per round ${xs.map((x) => `${x.toFixed(digits)}${unit}`).join(", ")}` : "";
  const shares = (r: StreamsRound) => servedShares(r.streams, ["light", "heavy"]);
  const total = (name: string, client: Client, status: string) =>
    sum(perRound(name, (r) => countStatus(r.streams, client, status)));

  // 1. Shares.
  const equalMin = median(perRound(EQUAL, (r) => Math.min(...Object.values(shares(r)))));
  const equalLight = median(perRound(EQUAL, (r) => shares(r).light!));
  // The former reading: items of the window's requests answered, whenever.
  const equalLightByRequest = median(
    perRound(EQUAL, (r) => servedShares(r.streams, ["light", "heavy"], requestedItemsAnswered).light!),
  );
  const weightedHeavy = median(perRound(WEIGHTED, (r) => shares(r).heavy!));
  const weightedOff = median(perRound(WEIGHTED, (r) => Math.abs(shares(r).heavy! - 75)));
  // 2. Bands.
  const p99 = (r: StreamsRound, c: Client) => streamOf(r.streams, c).latency.p99Ms;
  const interactiveRatios = pairedRounds(
    BANDS,
    ALONE,
    (x, y) => p99(x, "interactive") / p99(y, "interactive"),
  );
  const interactiveRatio = median(interactiveRatios);
  const bulkRefused = total(BANDS, "bulk", REFUSED);
  const backgroundRefused = total(BANDS, "background", REFUSED);
  // 3. Big requests beside small ones.
  const smallDelays = pairedRounds(WITH_BIG, SMALL_ALONE, (x, y) => p99(x, "small") - p99(y, "small"));
  const smallDelay = median(smallDelays);
  // 4. The default config.
  const burstFailed = sum(perRound(BURSTING, (r) => streamOf(r.streams, "burst").errors));
  const burstErrors = errorText(of(BURSTING).map((r) => streamOf(r.streams, "burst").errorCounts));
  const refusalP99 = median(
    perRound(OVERLOADED, (r) => streamOf(r.streams, "overload").errorLatency[REFUSED]?.p99Ms ?? Number.NaN),
  );
  const overloadRefused = total(OVERLOADED, "overload", REFUSED);
  const overloadLate = total(OVERLOADED, "overload", TOO_LATE);
  const overloadSent = sum(perRound(OVERLOADED, (r) => streamOf(r.streams, "overload").sent));
  const overloadMaxMs = Math.max(
    ...perRound(OVERLOADED, (r) => streamOf(r.streams, "overload").latency.maxMs),
  );
  const n = of(EQUAL).length;
  // What the simulator delivered while overloaded: on shared cores its timers run late.
  const servedPerS = median(
    perRound(EQUAL, (r) => sum(r.streams.map(servedItems)) / (r.streams[0]!.measuredMs / 1000)),
  );
  const overRounds = n > 1 ? ` over ${n} rounds` : "";

  const measurements: Measurement[] = CONFIGS.flatMap((c) => {
    const rs = of(c.name);
    return c.streams
      .filter((s) => rs.some((r) => streamOf(r.streams, s.client).sent > 0))
      .map((s) => {
        const share = median(
          rs.map(
            (r) =>
              servedShares(
                r.streams,
                c.streams.map((x) => x.client),
              )[s.client]!,
          ),
        );
        return measurement(
          `${c.name} · ${s.client}`,
          rs.map((r) => streamFigures(streamOf(r.streams, s.client), r.cores, r.cache)),
          {
            extra: {
              "offered req/s": median(
                rs.map((r) => {
                  const x = streamOf(r.streams, s.client);
                  return x.sent / (x.measuredMs / 1000);
                }),
              ),
              "share of served items %": share,
            },
          },
        );
      });
  });

  const g = (x: Omit<Parameters<typeof goal>[0], "scenario">) => goal({ ...x, scenario: "fairness" });
  return {
    id: "fairness",
    title: "Flow control",
    setup:
      `Triton simulator ${FAIRNESS_SIM.baseMs} ms + ${FAIRNESS_SIM.perItemMs} ms/item, ${FAIRNESS_SIM.instances} ` +
      `instances, max_batch_size ${FAIRNESS_SIM.maxBatchSize}: a full batch takes ${BATCH_MS} ms and the capacity ` +
      `is ${fmt(CAPACITY)} items/s. Two gateways with the default batching config and API-key clients, all of ` +
      `weight 1 or the heavy client 3. Open loop, Poisson arrivals per client, each client on its own key. ` +
      `Shares: the light client offers 60% of the capacity in ${SHARE_DOCS}-document requests, the heavy one ` +
      `ten times that. Bands: 50 req/s of 8 interactive documents, with bulk (80% of the capacity) and ` +
      `background (120%) in ${BAND_DOCS}-document requests. Sizes: 50 req/s of 8 documents, with 100 req/s of ` +
      `1,000 documents from another client (these four configurations measure ${LATENCY_WINDOWS} windows each, ` +
      `for their p99s). Default config: ${BURST.count} requests of ${BURST.docs} documents ` +
      `at once (${BURST.deadlineMs / 1000} s deadlines), and ${OVERLOAD.factor}× the capacity in ` +
      `${OVERLOAD.docs}-document requests with ${OVERLOAD.deadlineMs} ms deadlines.`,
    measurements,
    goals: [
      g({
        id: "fairness-equal",
        what: "smaller client's share of served items, 10:1 load, equal weights",
        measured: equalMin,
        comparator: ">=",
        target: 45,
        unit: "%",
        detail:
          `light ${equalLight.toFixed(1)}%, heavy ${(100 - equalLight).toFixed(1)}% of the items answered in ` +
          `the window; of the window's requests answered whenever: light ${equalLightByRequest.toFixed(1)}%`,
      }),
      g({
        id: "fairness-weighted",
        what: "weights 3:1: heavy client's share − 75%, in points",
        measured: weightedOff,
        comparator: "<=",
        target: 5,
        unit: "",
        detail: `heavy (weight 3) ${weightedHeavy.toFixed(1)}%, light ${(100 - weightedHeavy).toFixed(1)}%`,
      }),
      g({
        id: "fairness-interactive",
        what: "interactive p99 under 2× bulk + background overload ÷ alone",
        measured: interactiveRatio,
        comparator: "<=",
        target: 1.2,
        unit: "",
        detail:
          `p99 ${median(perRound(BANDS, (r) => p99(r, "interactive"))).toFixed(1)} vs ` +
          `${median(perRound(ALONE, (r) => p99(r, "interactive"))).toFixed(1)} ms; ` +
          `${fmt(total(BANDS, "interactive", REFUSED))} interactive requests refused${overRounds}` +
          perRoundText(interactiveRatios, 2),
      }),
      g({
        id: "fairness-shed-order",
        what: "bulk's part of the bulk and background refusals (background shed first)",
        measured: bulkShareOfRefusals(bulkRefused, backgroundRefused),
        comparator: "<=",
        target: 1,
        unit: "%",
        detail:
          `refused${overRounds}: ${fmt(bulkRefused)} bulk, ${fmt(backgroundRefused)} background requests; ` +
          `past deadline: ${fmt(total(BANDS, "bulk", TOO_LATE))} bulk, ${fmt(total(BANDS, "background", TOO_LATE))} background`,
      }),
      g({
        id: "fairness-sizes",
        what: "8-document p99 beside 1,000-document requests − alone",
        measured: smallDelay,
        comparator: "<=",
        target: BATCH_MS,
        unit: "ms",
        detail:
          `p99 ${median(perRound(WITH_BIG, (r) => p99(r, "small"))).toFixed(1)} vs ` +
          `${median(perRound(SMALL_ALONE, (r) => p99(r, "small"))).toFixed(1)} ms; ` +
          `${fmt(total(WITH_BIG, "small", REFUSED))} 8-document requests refused${overRounds}; ` +
          `the goal is one full batch (${BATCH_MS} ms)` +
          perRoundText(smallDelays, 1, " ms"),
      }),
      g({
        id: "fairness-burst",
        what: `failed requests of a burst of ${BURST.count} × ${BURST.docs} documents, default config`,
        measured: burstFailed,
        comparator: "<=",
        target: 0,
        unit: "",
        detail: `${fmt(n * BURST.count)} sent${overRounds}; failed: ${burstErrors}`,
      }),
      g({
        id: "fairness-refusal-p99",
        what: `p99 of a refusal at ${OVERLOAD.factor}× overload, default config`,
        measured: refusalP99,
        comparator: "<=",
        target: BATCH_MS,
        unit: "ms",
        detail: `${fmt(overloadRefused)} of ${fmt(overloadSent)} requests refused${overRounds}; the goal is one full batch`,
      }),
      g({
        id: "fairness-deadlines",
        what: `requests answered after their deadline at ${OVERLOAD.factor}× overload, default config`,
        measured: overloadLate,
        comparator: "<=",
        target: 0,
        unit: "",
        detail:
          `${fmt(overloadLate)} ${TOO_LATE} of ${fmt(overloadSent)}${overRounds}; slowest answer ` +
          `${overloadMaxMs.toFixed(0)} ms against ${OVERLOAD.deadlineMs} ms deadlines`,
      }),
    ],
    notes: [
      "Shares are of the items served in the window to the two clients; refusals are RESOURCE_EXHAUSTED answers, " +
        "and DEADLINE_EXCEEDED is a request the client stopped waiting for.",
      `Served in all at 10:1 load: ${fmt(servedPerS)} items/s, ${((100 * servedPerS) / CAPACITY).toFixed(0)}% ` +
        `of the arithmetic capacity (${fmt(CAPACITY)} items/s).`,
      `A request of an interactive or small client waits for a free batch slot (up to one ${BATCH_MS} ms batch) ` +
        "and then rides in a full batch: a batch already sent is not preempted.",
    ],
  };
}

function errorText(counts: readonly Readonly<Record<string, number>>[]): string {
  const totals = new Map<string, number>();
  for (const c of counts) for (const [k, v] of Object.entries(c)) totals.set(k, (totals.get(k) ?? 0) + v);
  return totals.size === 0 ? "none" : [...totals].map(([k, v]) => `${fmt(v)} ${k}`).join(", ");
}
