import { type BatchingSpec, gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { LOAD_GENERATOR } from "../measure.js";
import { sampleProcess } from "../proc-stats.js";
import { startBareServer, startGateway, startTritonSim } from "../processes.js";
import { goal, measurement, pairedMedian, type ScenarioResult } from "../results.js";
import { closedTiming, interleave } from "./rounds.js";

const DOCS = 32;
const CONCURRENCY = 64;
const BATCHING: BatchingSpec = { maxBatchSize: 256, maxQueueDelayMs: 2, maxConcurrentBatches: 4 };

/**
 * Requests per second at saturation when the backend costs nothing, so the
 * gateway's own CPU is the limit, against the simplest grpc-js server for
 * the same proto (bare-server.ts). Same load generator, same requests.
 */
export async function cpuCeilingScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    const sim = await stack.add(
      startTritonSim("triton-sim", { baseMs: 0, perItemMs: 0, instances: 8, maxBatchSize: 256 }),
    );
    const gateway = await stack.add(
      startGateway(
        "gateway",
        gatewayConfig({ student: sim.address, batching: BATCHING }),
        ctx.scratch,
        ctx.gatewayNodeFlags("cpu-ceiling-gateway"),
      ),
    );
    const bare = await stack.add(
      startBareServer("bare grpc-js server", ctx.gatewayNodeFlags("cpu-ceiling-bare")),
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
    const results = await interleave(ctx, "cpu-ceiling", [
      {
        name: "gateway",
        spec: {
          job: job(gateway.target),
          watch: [
            { name: "gateway", pid: gateway.pid },
            { name: "triton-sim", pid: sim.pid },
          ],
          gateway,
          simMetricsUrl: sim.metricsUrl,
        },
      },
      {
        name: "bare grpc-js + proto-loader",
        spec: { job: job(bare.target), watch: [{ name: "bare server", pid: bare.pid }] },
      },
    ]);
    const peak = sampleProcess(gateway.pid);
    const viaGateway = measurement("gateway", results.get("gateway")!, {
      peakRssMb: peak ? peak.peakRssBytes / 2 ** 20 : undefined,
    });
    const reference = measurement(
      "bare grpc-js + proto-loader",
      results.get("bare grpc-js + proto-loader")!,
      {
        peakRssMb: (() => {
          const s = sampleProcess(bare.pid);
          return s ? s.peakRssBytes / 2 ** 20 : undefined;
        })(),
      },
    );
    if (viaGateway.peakRssMb !== undefined) {
      ctx.saturatedRss.push({ where: "CPU ceiling, 32-document requests", peakRssMb: viaGateway.peakRssMb });
    }
    const ratio = pairedMedian(viaGateway, reference, (g, b) => g.reqPerS / b.reqPerS);
    const cores = (m: typeof viaGateway) =>
      Object.entries(m.median.cores)
        .map(([p, c]) => `${p} ${c.toFixed(2)}`)
        .join(", ");
    const perRequestUs = (m: typeof viaGateway, process: string) => {
      const c = m.median.cores[process];
      return c === undefined || m.median.reqPerS === 0 ? Number.NaN : (c * 1e6) / m.median.reqPerS;
    };
    const gwUs = perRequestUs(viaGateway, "gateway");
    const bareUs = perRequestUs(reference, "bare server");
    const loadUs = perRequestUs(reference, LOAD_GENERATOR);
    return {
      id: "cpu-ceiling",
      title: "CPU ceiling",
      setup:
        `Closed loop, ${CONCURRENCY} requests of ${DOCS} documents outstanding. Gateway (maxBatchSize ` +
        `${BATCHING.maxBatchSize}, maxQueueDelayMs ${BATCHING.maxQueueDelayMs}, maxConcurrentBatches ` +
        `${BATCHING.maxConcurrentBatches}) in front of the Triton simulator at zero cost (8 instances), against ` +
        "a bare grpc-js + proto-loader server answering Score from the same proto with fixed scores.",
      measurements: [viaGateway, reference],
      goals: [
        goal({
          id: "cpu-ceiling",
          scenario: "cpu-ceiling",
          what: "req/s, gateway ÷ bare grpc-js server",
          measured: ratio,
          comparator: ">=",
          target: 0.8,
          unit: "",
          detail:
            `${Math.round(viaGateway.median.reqPerS)} vs ${Math.round(reference.median.reqPerS)} req/s; ` +
            `CPU per request: gateway ${gwUs.toFixed(0)} µs, bare server ${bareUs.toFixed(0)} µs`,
        }),
      ],
      notes: [
        `Cores busy (gateway run): ${cores(viaGateway)}. (bare run): ${cores(reference)}.`,
        `The load generator spends about ${loadUs.toFixed(0)} µs of CPU per request; on a 2-core machine it ` +
          "shares the cores with the servers, so both runs are partly bounded by it.",
      ],
    };
  } finally {
    await stack.stopAll();
  }
}
