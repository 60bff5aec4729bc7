import { gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { measureRound } from "../measure.js";
import { sampleProcess } from "../proc-stats.js";
import { startGateway, startTritonSim } from "../processes.js";
import { goal, measurement, median, type ScenarioResult } from "../results.js";
import { BATCHING_SIM } from "./batching.js";

const DOCS = 32;
const CONCURRENCY = 48;
const SAMPLE_EVERY_MS = 1000;
const MiB = 2 ** 20;

/** RSS at the start and end of a soak: medians of the first and last tenth of the samples (at least 3). */
export function rssGrowth(samplesMb: readonly number[]): {
  startMb: number;
  endMb: number;
  growthPercent: number;
} {
  const n = Math.max(3, Math.ceil(samplesMb.length / 10));
  const startMb = median(samplesMb.slice(0, n));
  const endMb = median(samplesMb.slice(-n));
  return { startMb, endMb, growthPercent: (100 * (endMb - startMb)) / startMb };
}

/**
 * Memory at saturation: a gateway in front of the batching scenario's
 * simulator, 32-document requests kept outstanding for the soak, its RSS
 * sampled every second after a warm-up. Peak RSS is the kernel's high-water
 * mark (VmHWM) of every saturated gateway of the run; growth compares the
 * start of the soak with its end.
 */
export async function memoryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    const sim = await stack.add(startTritonSim("triton-sim", BATCHING_SIM));
    const gateway = await stack.add(
      startGateway(
        "gateway",
        gatewayConfig({
          student: sim.address,
          batching: { maxBatchSize: 256, maxQueueDelayMs: 2, maxConcurrentBatches: 2 },
        }),
        ctx.scratch,
        ctx.gatewayNodeFlags("memory-gateway"),
      ),
    );
    const { soakS, soakWarmupS } = ctx.durations;
    const samplesMb: number[] = [];
    const figures = await measureRound(ctx, {
      label: `memory · soak ${soakS} s`,
      job: {
        kind: "closed",
        target: gateway.target,
        workload: { kind: "score", docsPerRequest: DOCS, seed: ctx.seed },
        concurrency: CONCURRENCY,
        deadlineMs: 30_000,
        warmupMs: soakWarmupS * 1000,
        durationMs: soakS * 1000,
      },
      watch: [
        { name: "gateway", pid: gateway.pid },
        { name: "triton-sim", pid: sim.pid },
      ],
      simMetricsUrl: sim.metricsUrl,
      gateway,
      during: {
        everyMs: SAMPLE_EVERY_MS,
        fn: () => {
          const s = sampleProcess(gateway.pid);
          if (s) samplesMb.push(s.rssBytes / MiB);
        },
      },
    });
    const peak = sampleProcess(gateway.pid);
    const soak = measurement("soak", [figures], {
      peakRssMb: peak ? peak.peakRssBytes / MiB : undefined,
      ...(samplesMb.length > 0 ? { extra: { "RSS samples": samplesMb.length } } : {}),
    });
    if (soak.peakRssMb !== undefined) {
      ctx.saturatedRss.push({ where: "memory soak, 32-document requests", peakRssMb: soak.peakRssMb });
    }
    const highest = ctx.saturatedRss.reduce<(typeof ctx.saturatedRss)[number] | undefined>(
      (a, b) => (a === undefined || b.peakRssMb > a.peakRssMb ? b : a),
      undefined,
    );
    const growth = samplesMb.length >= 3 ? rssGrowth(samplesMb) : undefined;
    const notes = [
      `RSS over the soak, MB (every ${SAMPLE_EVERY_MS / 1000} s): ${sparkline(samplesMb)}`,
      ...(ctx.quick
        ? [
            `Quick run: a ${soakS} s soak, not the full run's 3 minutes; the growth figure is indicative only.`,
          ]
        : []),
      ...(growth === undefined ? ["RSS is read from /proc: not measured on this platform."] : []),
    ];
    return {
      id: "memory",
      title: "Memory",
      setup:
        `Closed loop, ${CONCURRENCY} requests of ${DOCS} documents outstanding for ${soakWarmupS} s of ` +
        `warm-up and a ${soakS} s soak; Triton simulator ${BATCHING_SIM.baseMs} ms + ` +
        `${BATCHING_SIM.perItemMs} ms/item, 1 instance; gateway maxBatchSize 256, maxQueueDelayMs 2. ` +
        "Peak RSS is the highest VmHWM of the saturated gateways in this run.",
      measurements: [soak],
      goals: [
        goal({
          id: "memory-peak",
          scenario: "memory",
          what: "peak RSS of a gateway at saturation",
          measured: highest?.peakRssMb ?? Number.NaN,
          comparator: "<=",
          target: 200,
          unit: "MB",
          detail: highest ? `highest in: ${highest.where}` : "not measured (no /proc)",
        }),
        goal({
          id: "memory-growth",
          scenario: "memory",
          what: `RSS growth over the ${soakS} s soak`,
          measured: growth?.growthPercent ?? Number.NaN,
          comparator: "<",
          target: 10,
          unit: "%",
          detail: growth
            ? `${growth.startMb.toFixed(1)} → ${growth.endMb.toFixed(1)} MB (medians of the first and last tenth)`
            : "not measured",
        }),
      ],
      notes,
    };
  } finally {
    await stack.stopAll();
  }
}

/** A compact text picture of the samples: min, a few evenly spaced values, max. */
function sparkline(samplesMb: readonly number[]): string {
  if (samplesMb.length === 0) return "none";
  const picks = 8;
  const step = Math.max(1, Math.floor(samplesMb.length / picks));
  const shown = samplesMb.filter((_, i) => i % step === 0 || i === samplesMb.length - 1);
  return shown.map((v) => v.toFixed(0)).join(" → ");
}
