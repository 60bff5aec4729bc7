import { gatewayConfig } from "../configs.js";
import type { BenchContext } from "../context.js";
import { ServerStack } from "../context.js";
import type { LoadStream } from "../load-streams.js";
import { measureStreams, type StreamsRound } from "../measure-streams.js";
import { type GatewayProcess, startGateway, startTritonSim } from "../processes.js";
import { goal, measurement, median, type ScenarioResult } from "../results.js";
import { streamFigures, streamOf } from "./fairness-figures.js";
import { BATCH_MS, CAPACITY, FAIRNESS_SIM, LATENCY_WINDOWS } from "./fairness-plan.js";

/**
 * Bands across gateway replicas: interactive requests on one gateway while
 * two other replicas keep Triton's queue full of bulk batches. Each replica
 * orders only its own queue; whether the interactive batch waits behind the
 * bulk batches already queued in Triton is up to Triton's priority levels,
 * which the gateway's `bandPriorities` feeds. The same interactive load is
 * measured alone, through a gateway that sends its bands as priorities, and
 * through one that sends none.
 */

const INTERACTIVE_DOCS = 8;
const INTERACTIVE_PER_S = 50;
const BULK_DOCS = 32;
/** Each bulk replica's share: together 1.2× the capacity, so both keep their batch slots busy. */
const BULK_SHARE = 0.6;

type Target = "priorities" | "none" | "bulk-a" | "bulk-b";

interface Config {
  readonly name: string;
  /** Where the interactive client sends. */
  readonly interactive: "priorities" | "none";
  readonly withBulk: boolean;
}

const ALONE = "interactive alone";
const WITH_PRIORITIES = "interactive + bulk on two other replicas, band priorities";
const WITHOUT = "interactive + bulk on two other replicas, no band priorities";
const CONFIGS: readonly Config[] = [
  { name: ALONE, interactive: "priorities", withBulk: false },
  { name: WITH_PRIORITIES, interactive: "priorities", withBulk: true },
  { name: WITHOUT, interactive: "none", withBulk: true },
];

const poisson = (ratePerS: number) => ({ kind: "poisson" as const, warmupRatePerS: ratePerS, ratePerS });

export async function replicasScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    // Triton merges the replicas' queued calls into batches, as its dynamic batcher does.
    const sim = await stack.add(startTritonSim("triton-sim", { ...FAIRNESS_SIM, mergeQueued: true }));
    const gateway = (name: string, bandPriorities?: null) =>
      stack.add(
        startGateway(
          name,
          gatewayConfig({ student: sim.address, bandPriorities }),
          ctx.scratch,
          ctx.gatewayNodeFlags(`replicas-${name.replace(/\W+/g, "-")}`),
        ),
      );
    const gateways: Record<Target, GatewayProcess> = {
      priorities: await gateway("gateway (interactive, band priorities)"),
      none: await gateway("gateway (interactive, no band priorities)", null),
      "bulk-a": await gateway("gateway (bulk replica a)"),
      "bulk-b": await gateway("gateway (bulk replica b)"),
    };
    const results = new Map<string, StreamsRound[]>(CONFIGS.map((c) => [c.name, []]));
    const rounds = ctx.durations.rounds;
    for (let round = 1; round <= rounds; round++) {
      for (let k = 0; k < CONFIGS.length; k++) {
        const c = CONFIGS[(k + round - 1) % CONFIGS.length]!;
        const label = `replicas · ${c.name} · round ${round}/${rounds}`;
        const stream = (client: string, target: Target, docs: number, ratePerS: number, priority: 1 | 2) => ({
          client,
          target: gateways[target].target,
          workload: { kind: "score" as const, docsPerRequest: docs, seed: ctx.seed, priority },
          arrivals: poisson(ratePerS),
          deadlineMs: 10_000,
        });
        const bulkPerS = (BULK_SHARE * CAPACITY) / BULK_DOCS;
        const streams: LoadStream[] = [
          stream("interactive", c.interactive, INTERACTIVE_DOCS, INTERACTIVE_PER_S, 1),
          ...(c.withBulk
            ? [
                stream("bulk-a", "bulk-a", BULK_DOCS, bulkPerS, 2),
                stream("bulk-b", "bulk-b", BULK_DOCS, bulkPerS, 2),
              ]
            : []),
        ];
        const figures = await measureStreams(
          ctx,
          label,
          {
            kind: "streams",
            target: gateways[c.interactive].target,
            streams,
            warmupMs: ctx.durations.warmupS * 1000,
            measureMs: ctx.durations.measureS * 1000 * LATENCY_WINDOWS,
            seed: ctx.seed + round,
          },
          [
            { name: "gateway (interactive)", pid: gateways[c.interactive].pid },
            { name: "triton-sim", pid: sim.pid },
          ],
        );
        ctx.log(
          `${label}: ` +
            figures.streams
              .map(
                (s) => `${s.client} ${s.answered}/${s.sent} answered, p99 ${s.latency.p99Ms.toFixed(1)} ms`,
              )
              .join("; "),
        );
        results.get(c.name)!.push(figures);
      }
    }
    return report(results);
  } finally {
    await stack.stopAll();
  }
}

function report(results: ReadonlyMap<string, readonly StreamsRound[]>): ScenarioResult {
  const of = (name: string) => results.get(name) ?? [];
  const p99 = (r: StreamsRound) => streamOf(r.streams, "interactive").latency.p99Ms;
  // Each round's rise over that round's value alone (the configurations alternate within a round).
  const rises = (name: string) =>
    of(name).map((x, i) => (of(ALONE)[i] === undefined ? Number.NaN : p99(x) - p99(of(ALONE)[i]!)));
  const withRises = rises(WITH_PRIORITIES);
  const withoutRises = rises(WITHOUT);
  const perRound = (xs: readonly number[]) =>
    xs.length > 1 ? `; per round ${xs.map((x) => `${x.toFixed(1)} ms`).join(", ")}` : "";
  const p99Of = (name: string) => median(of(name).map(p99)).toFixed(1);
  const measurements = CONFIGS.flatMap((c) =>
    ["interactive", "bulk-a", "bulk-b"]
      .filter((client) => of(c.name).some((r) => r.streams.some((s) => s.client === client)))
      .map((client) =>
        measurement(
          `${c.name} · ${client}`,
          of(c.name).map((r) => streamFigures(streamOf(r.streams, client), r.cores)),
        ),
      ),
  );
  return {
    id: "replicas",
    title: "Bands across gateway replicas",
    setup:
      `The flow control scenario's Triton simulator (a full batch of ${FAIRNESS_SIM.maxBatchSize} takes ` +
      `${BATCH_MS} ms on each of ${FAIRNESS_SIM.instances} instances, ${Math.round(CAPACITY).toLocaleString("en-US")} ` +
      `items/s), whose model has 3 priority levels and whose instances take queued calls together up to ` +
      `${FAIRNESS_SIM.maxBatchSize} items (as Triton's dynamic batcher), behind four gateways with the default config: ` +
      `${INTERACTIVE_PER_S} req/s of ${INTERACTIVE_DOCS} interactive documents through one of two gateways (one ` +
      `sending its bands as Triton priorities, the default; one with bandPriorities: null), and two bulk ` +
      `replicas each offered ${BULK_SHARE * 100}% of the capacity in ${BULK_DOCS}-document requests, so that ` +
      "Triton's queue holds their batches. Open loop, Poisson arrivals; each configuration measures " +
      `${LATENCY_WINDOWS} windows.`,
    measurements,
    goals: [
      goal({
        scenario: "replicas",
        id: "replicas-interactive",
        what: "interactive p99 beside two bulk replicas, band priorities − alone",
        measured: median(withRises),
        comparator: "<=",
        target: BATCH_MS,
        unit: "ms",
        detail:
          `p99 ${p99Of(WITH_PRIORITIES)} vs ${p99Of(ALONE)} ms alone; without band priorities ` +
          `${p99Of(WITHOUT)} ms (+${median(withoutRises).toFixed(1)} ms); the goal is one full batch ` +
          `(${BATCH_MS} ms), the longest wait for an instance` +
          perRound(withRises),
      }),
    ],
    notes: [
      "The interactive gateway's batches carry only interactive items (bulk goes through other replicas), " +
        "so they are small; what they wait for is a free instance, and, without priorities, the bulk batches " +
        "queued in Triton before them.",
    ],
  };
}
