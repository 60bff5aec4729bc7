import { type BatchingSpec, gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { sampleProcess } from "../proc-stats.js";
import { startGateway, startTritonSim, type TritonSimSpec } from "../processes.js";
import { goal, measurement, pairedMedian, type ScenarioResult } from "../results.js";
import { closedTiming, interleave } from "./rounds.js";

const DOCS = 8;
/**
 * 1,024 items outstanding: a batch at the simulator, one queued there, and
 * two more forming in the gateway. More only adds memory and latency (a
 * full run with 192 gave fewer items/s and a higher peak RSS).
 */
const CONCURRENCY = 128;
const DIRECT = "direct ModelInfer, full batches";
/** The student on a GPU, as the issue sets it: 3 ms + 0.03 ms per pair, one instance. */
export const BATCHING_SIM: TritonSimSpec = { baseMs: 3, perItemMs: 0.03, instances: 1, maxBatchSize: 256 };
const ON: BatchingSpec = { maxBatchSize: 256, maxQueueDelayMs: 2, maxConcurrentBatches: 2 };
// Batching off: a batch is exactly one request, sent at once.
const OFF: BatchingSpec = { maxBatchSize: DOCS, maxQueueDelayMs: 0, maxConcurrentBatches: 2 };

/** Pairs per second a simulator with this cost model serves at batch size n (its arithmetic capacity). */
export function simCapacity(sim: TritonSimSpec, n: number): number {
  return (sim.instances * 1000 * n) / (sim.baseMs + sim.perItemMs * n);
}

/**
 * Items per second at saturation with batching against the same gateway
 * with batching off, both in front of one simulator instance: a closed loop
 * keeps enough requests outstanding to fill batches at the cap.
 */
export async function batchingScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    const sim = await stack.add(startTritonSim("triton-sim", BATCHING_SIM));
    const on = await stack.add(
      startGateway(
        "gateway (batching on)",
        gatewayConfig({ student: sim.address, batching: ON }),
        ctx.scratch,
        ctx.gatewayNodeFlags("batching-on"),
      ),
    );
    const off = await stack.add(
      startGateway(
        "gateway (batching off)",
        gatewayConfig({ student: sim.address, batching: OFF }),
        ctx.scratch,
        ctx.gatewayNodeFlags("batching-off"),
      ),
    );
    const job = (target: string) =>
      ({
        kind: "closed",
        target,
        workload: { kind: "score", docsPerRequest: DOCS, seed: ctx.seed },
        concurrency: CONCURRENCY,
        deadlineMs: 30_000,
        ...closedTiming(ctx),
      }) as const;
    const watchSim = { name: "triton-sim", pid: sim.pid };
    // The simulator's capacity as this machine delivers it: full batches
    // sent straight to it by the same load generator, as many outstanding as
    // the gateway keeps. On shared cores its timers and decoding run late,
    // so it falls short of the arithmetic.
    const direct = {
      kind: "closed",
      target: sim.address,
      workload: {
        kind: "model-infer",
        docsPerRequest: ON.maxBatchSize,
        seed: ctx.seed,
        model: "relevance_student",
      },
      concurrency: ON.maxConcurrentBatches,
      deadlineMs: 30_000,
      ...closedTiming(ctx),
    } as const;
    const results = await interleave(ctx, "batching", [
      {
        name: DIRECT,
        spec: { job: direct, watch: [watchSim], simMetricsUrl: sim.metricsUrl },
      },
      {
        name: "batching on",
        spec: {
          job: job(on.target),
          watch: [{ name: "gateway", pid: on.pid }, watchSim],
          gateway: on,
          simMetricsUrl: sim.metricsUrl,
        },
      },
      {
        name: "batching off",
        spec: {
          job: job(off.target),
          watch: [{ name: "gateway", pid: off.pid }, watchSim],
          gateway: off,
          simMetricsUrl: sim.metricsUrl,
        },
      },
    ]);
    const rss = (pid: number) => {
      const s = sampleProcess(pid);
      return s ? s.peakRssBytes / 2 ** 20 : undefined;
    };
    const withBatching = measurement("batching on", results.get("batching on")!, { peakRssMb: rss(on.pid) });
    const without = measurement("batching off", results.get("batching off")!, { peakRssMb: rss(off.pid) });
    if (withBatching.peakRssMb !== undefined) {
      ctx.saturatedRss.push({ where: "batching on, 8-document requests", peakRssMb: withBatching.peakRssMb });
    }
    const reference = measurement(DIRECT, results.get(DIRECT)!);
    const gain = pairedMedian(withBatching, without, (a, b) => a.itemsPerS / b.itemsPerS);
    const ofDelivered = pairedMedian(withBatching, reference, (a, b) => a.itemsPerS / b.itemsPerS);
    const capacity = simCapacity(BATCHING_SIM, ON.maxBatchSize);
    const share = withBatching.median.itemsPerS / capacity;
    const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
    return {
      id: "batching",
      title: "Batching gain at saturation",
      setup:
        `Closed loop, ${CONCURRENCY} requests of ${DOCS} documents outstanding; Triton simulator ` +
        `${BATCHING_SIM.baseMs} ms + ${BATCHING_SIM.perItemMs} ms/item, ${BATCHING_SIM.instances} instance, ` +
        `max_batch_size ${BATCHING_SIM.maxBatchSize}. Batching on: maxBatchSize ${ON.maxBatchSize}, ` +
        `maxQueueDelayMs ${ON.maxQueueDelayMs}; off: maxBatchSize ${OFF.maxBatchSize} (one request), ` +
        `maxQueueDelayMs 0; both maxConcurrentBatches 2.`,
      measurements: [withBatching, without, reference],
      goals: [
        goal({
          id: "batching-gain",
          scenario: "batching",
          what: "items/s, batching on ÷ off",
          measured: gain,
          comparator: ">=",
          target: 8,
          unit: "×",
          detail: `${fmt(withBatching.median.itemsPerS)} vs ${fmt(without.median.itemsPerS)} items/s`,
        }),
        goal({
          id: "batching-capacity",
          scenario: "batching",
          what: `items/s ÷ the simulator's capacity at batch ${ON.maxBatchSize}`,
          measured: 100 * share,
          comparator: ">=",
          target: 90,
          unit: "%",
          detail:
            `${fmt(withBatching.median.itemsPerS)} of ${fmt(capacity)} items/s ` +
            `(${ON.maxBatchSize} per ${(BATCHING_SIM.baseMs + BATCHING_SIM.perItemMs * ON.maxBatchSize).toFixed(2)} ms); ` +
            `mean batch ${withBatching.median.meanBatch?.toFixed(1) ?? "n/a"}`,
        }),
      ],
      notes: [
        `Fed full batches of ${ON.maxBatchSize} directly (${ON.maxConcurrentBatches} outstanding), the simulator served ` +
          `${fmt(reference.median.itemsPerS)} items/s here, ${(100 * (reference.median.itemsPerS / capacity)).toFixed(1)}% ` +
          `of its arithmetic capacity; batching on reached ${(100 * ofDelivered).toFixed(1)}% of that (median of the per-round ratios).`,
        `Batching off can serve at most ${fmt(simCapacity(BATCHING_SIM, DOCS))} items/s on paper ` +
          `(${DOCS} per ${(BATCHING_SIM.baseMs + BATCHING_SIM.perItemMs * DOCS).toFixed(2)} ms).`,
      ],
    };
  } finally {
    await stack.stopAll();
  }
}
