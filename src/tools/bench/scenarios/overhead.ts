import { gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { openPhases } from "../measure.js";
import { startGateway, startTritonSim } from "../processes.js";
import { goal, measurement, pairedMedian, type ScenarioResult } from "../results.js";
import { interleave } from "./rounds.js";

const RATE_PER_S = 100;
/**
 * The warm-up runs faster: at 100 req/s a 3 s warm-up is 300 requests, too
 * few for V8 to have optimised the gateway's request path, and the first
 * measured round would time the interpreter.
 */
const WARMUP_RATE_PER_S = 500;
const DOCS = 8;

/**
 * What the gateway adds to a request at low load: Score through the gateway
 * (batching on, no queue delay) against the ModelInfer call the gateway
 * would make for the same request sent straight to the simulator, with the
 * same Poisson arrivals. The simulator costs nothing (beyond its timer
 * turn), so the difference is the gateway's work and its extra hop.
 */
export async function overheadScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    const sim = await stack.add(
      startTritonSim("triton-sim", { baseMs: 0, perItemMs: 0, instances: 8, maxBatchSize: 64 }),
    );
    const gateway = await stack.add(
      startGateway(
        "gateway",
        gatewayConfig({
          student: sim.address,
          batching: { maxBatchSize: 64, maxQueueDelayMs: 0, maxConcurrentBatches: 2 },
        }),
        ctx.scratch,
        ctx.gatewayNodeFlags("overhead-gateway"),
      ),
    );
    const phases = openPhases(ctx.durations.warmupS, ctx.durations.measureS, RATE_PER_S, WARMUP_RATE_PER_S);
    const base = { phases, seed: ctx.seed, deadlineMs: 10_000 } as const;
    const watchSim = { name: "triton-sim", pid: sim.pid };
    const results = await interleave(ctx, "overhead", [
      {
        name: "gateway",
        spec: {
          job: {
            kind: "open",
            target: gateway.target,
            workload: { kind: "score", docsPerRequest: DOCS, seed: ctx.seed },
            ...base,
          },
          watch: [{ name: "gateway", pid: gateway.pid }, watchSim],
          gateway,
        },
      },
      {
        name: "direct ModelInfer",
        spec: {
          job: {
            kind: "open",
            target: sim.address,
            workload: {
              kind: "model-infer",
              docsPerRequest: DOCS,
              seed: ctx.seed,
              model: "relevance_student",
            },
            ...base,
          },
          watch: [watchSim],
        },
      },
    ]);
    const viaGateway = measurement("gateway", results.get("gateway")!);
    const direct = measurement("direct ModelInfer", results.get("direct ModelInfer")!);
    const addedP50 = pairedMedian(viaGateway, direct, (g, d) => g.p50Ms - d.p50Ms);
    const addedP99 = pairedMedian(viaGateway, direct, (g, d) => g.p99Ms - d.p99Ms);
    return {
      id: "overhead",
      title: "Overhead at low load",
      setup:
        `Open loop, Poisson arrivals at ${RATE_PER_S} req/s of ${DOCS} documents, the same seeded arrivals for ` +
        "both; gateway (maxBatchSize 64, maxQueueDelayMs 0) in front of the Triton simulator at zero cost " +
        "(8 instances), against the same ModelInfer requests sent straight to the simulator. Latency from " +
        "each request's scheduled send time.",
      measurements: [viaGateway, direct],
      goals: [
        goal({
          id: "overhead-p50",
          scenario: "overhead",
          what: "gateway p50 − direct p50",
          measured: addedP50,
          comparator: "<=",
          target: 1,
          unit: "ms",
          detail:
            `p50 ${viaGateway.median.p50Ms.toFixed(2)} vs ${direct.median.p50Ms.toFixed(2)} ms; ` +
            `p99 ${viaGateway.median.p99Ms.toFixed(2)} vs ${direct.median.p99Ms.toFixed(2)} ms ` +
            `(+${addedP99.toFixed(2)} ms)`,
        }),
      ],
      notes: [],
    };
  } finally {
    await stack.stopAll();
  }
}
