import { type BatchingSpec, gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { openPhases } from "../measure.js";
import {
  type GatewayProcess,
  metricSum,
  scrape,
  startGateway,
  startTritonSim,
  startVllmSim,
} from "../processes.js";
import { goal, type Measurement, measurement, pairedMedian, type ScenarioResult } from "../results.js";
import { interleave } from "./rounds.js";

const DOCS = 10;
/**
 * Open loop, well below the gateway's capacity on a 2-core machine (about
 * 1,100 req/s of 10 documents, with the load generator and the simulator on
 * the same cores). Isolation means the shadow path never makes a primary
 * request wait; a saturated CPU would make any extra work show up in the
 * tail whatever the design, so the load leaves room, as production does.
 */
const RATE_PER_S = 400;
/** About 10× the student's batch time. */
const SLOW_TEACHER_MS = 30;
const BATCHING: BatchingSpec = { maxBatchSize: 64, maxQueueDelayMs: 2, maxConcurrentBatches: 2 };

/**
 * The student path's latency with shadowing off, with 100% shadow to a
 * teacher 10× slower than the student, and with 100% shadow to a teacher
 * that fails every call: the shadow path has its own queue and breakers,
 * so the primary path should not notice.
 */
export async function shadowScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const stack = new ServerStack();
  try {
    // The simulator's default cost: 2 ms + 0.02 ms/item, one instance.
    const student = await stack.add(
      startTritonSim("triton-sim", { baseMs: 2, perItemMs: 0.02, instances: 1, maxBatchSize: 64 }),
    );
    const slow = await stack.add(
      startVllmSim("vllm-sim (slow)", ["--added-latency-ms", String(SLOW_TEACHER_MS)]),
    );
    const failing = await stack.add(startVllmSim("vllm-sim (failing)", ["--error-rate", "1"]));
    const configs = [
      { name: "shadow off", teacher: slow.url, teacherPid: slow.pid, percent: 0 },
      {
        name: `shadow 100% → teacher ${SLOW_TEACHER_MS} ms slower`,
        teacher: slow.url,
        teacherPid: slow.pid,
        percent: 100,
      },
      {
        name: "shadow 100% → teacher failing every call",
        teacher: failing.url,
        teacherPid: failing.pid,
        percent: 100,
      },
    ];
    const gateways: GatewayProcess[] = [];
    for (const [i, c] of configs.entries()) {
      const config = gatewayConfig({
        student: student.address,
        batching: BATCHING,
        teacher: c.teacher,
        ...(c.percent > 0 ? { shadowPercent: c.percent } : {}),
      });
      gateways.push(
        await stack.add(
          startGateway(`gateway (${c.name})`, config, ctx.scratch, ctx.gatewayNodeFlags(`shadow-${i}`)),
        ),
      );
    }
    const results = await interleave(
      ctx,
      "shadow",
      configs.map((c, i) => ({
        name: c.name,
        spec: {
          job: {
            kind: "open",
            target: gateways[i]!.target,
            workload: { kind: "score", docsPerRequest: DOCS, seed: ctx.seed },
            phases: openPhases(ctx.durations.warmupS, ctx.durations.measureS, RATE_PER_S),
            seed: ctx.seed,
            deadlineMs: 10_000,
          },
          watch: [
            { name: "gateway", pid: gateways[i]!.pid },
            { name: "triton-sim", pid: student.pid },
            // The teacher shares the cores here (on a GPU host it would not): its CPU is shown.
            ...(c.percent > 0 ? [{ name: "vllm-sim", pid: c.teacherPid }] : []),
          ],
          gateway: gateways[i],
        },
      })),
    );
    const measurements: Measurement[] = [];
    for (const [i, c] of configs.entries()) {
      const text = await scrape(`${gateways[i]!.adminUrl}/metrics`);
      measurements.push(
        measurement(c.name, results.get(c.name)!, {
          extra: {
            "shadow compared": metricSum(text, "relevance_gateway_shadow_comparisons_total"),
            "shadow dropped": metricSum(text, "relevance_gateway_shadow_dropped_total"),
          },
        }),
      );
    }
    const [off, slowRun, failingRun] = measurements as [Measurement, Measurement, Measurement];
    const ratio = (m: Measurement) => pairedMedian(m, off, (a, b) => a.p99Ms / b.p99Ms);
    const detail = (m: Measurement) =>
      `p99 ${m.median.p99Ms.toFixed(2)} vs ${off.median.p99Ms.toFixed(2)} ms; ` +
      `${m.median.errors} primary errors; ${m.extra?.["shadow compared"] ?? 0} compared, ` +
      `${m.extra?.["shadow dropped"] ?? 0} dropped`;
    return {
      id: "shadow",
      title: "Shadow isolation",
      setup:
        `Open loop, Poisson arrivals at ${RATE_PER_S} req/s of ${DOCS} documents (the same for each); student: Triton simulator ` +
        `2 ms + 0.02 ms/item, 1 instance; teachers: vLLM simulators, one with --added-latency-ms ` +
        `${SLOW_TEACHER_MS}, one with --error-rate 1. One gateway per configuration.`,
      measurements,
      goals: [
        goal({
          id: "shadow-slow",
          scenario: "shadow",
          what: "student p99, shadow to a slow teacher ÷ shadow off",
          measured: ratio(slowRun),
          comparator: "<=",
          target: 1.1,
          unit: "",
          detail: detail(slowRun),
        }),
        goal({
          id: "shadow-failing",
          scenario: "shadow",
          what: "student p99, shadow to a failing teacher ÷ shadow off",
          measured: ratio(failingRun),
          comparator: "<=",
          target: 1.1,
          unit: "",
          detail: detail(failingRun),
        }),
      ],
      notes: [
        "Shadow counts are totals over each gateway's life, warm-ups included. A slow teacher cannot keep " +
          "up with 100% of the traffic: its queue fills and the excess is dropped and counted.",
      ],
    };
  } finally {
    await stack.stopAll();
  }
}
