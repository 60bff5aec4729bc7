/**
 * Adaptive batching under a load step: the real gateway in front of the
 * in-process Triton simulator, an open-loop Poisson load at 30% of the
 * backend's capacity, then a step to 80%, for each batching configuration in
 * one run (the same seeded arrivals for each):
 *
 *   - static, tuned for the low load: small batches, short wait;
 *   - static at the cap: the reference (`--skip-reference` leaves it out);
 *   - adaptive: the backend's cap, a longer wait cap and a latency target.
 *
 *   npm run bench:adaptive              # 3 s warm-up + 12 s + 12 s per configuration, ~2 min
 *   npm run bench:adaptive -- --quick   # 2 s + 6 s + 6 s
 *
 * Capacity is measured first, through the gateway (static, batches at the
 * cap, a closed loop that keeps the queue full): the simulator's batch time
 * plus what every batch costs on the way (encoding, gRPC, this process's
 * event loop). The load levels are shares of that measured capacity; the
 * simulator's own arithmetic is printed beside it.
 *
 * Per phase: p50/p95/p99 of answered requests (measured from the intended
 * send time, so a late sender counts against the system, not for it), errors
 * by status, and the mean batch size the simulator executed. Prints progress,
 * a Markdown table, and writes JSON (`--out`, default .scratch/adaptive-step.json).
 * The load generator is the bench suite's (src/tools/bench/load-runner.ts): a
 * worker thread, so that its timers do not queue behind the gateway's work
 * in this thread, sending pre-encoded requests; the arrivals are
 * src/tools/bench/open-loop.ts's.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { validateConfig } from "../../../config/index.js";
import { createGateway } from "../../../gateway.js";
import { silentLogger } from "../../../observability/logger.js";
import { createTritonSim } from "../../sim/triton/server.js";
import type { LoadTick, OpenLoadJob } from "../load-jobs.js";
import { LoadRunner } from "../load-runner.js";
import type { LoadPhase } from "../open-loop.js";

/** The simulated backend: one instance, batch time BASE_MS + PER_ITEM_MS·n, at most CAP items. */
const BASE_MS = 40;
const PER_ITEM_MS = 0.625;
const CAP = 64;
const DOCS_PER_REQUEST = 8;
const DEADLINE_MS = 2000;
/** Items per second that batches of n serve at batch time a + b·n. */
const servedPerS = (a: number, b: number, n: number) => (1000 * n) / (a + b * n);

interface PhaseResult {
  readonly name: string;
  readonly answered: number;
  readonly errors: number;
  readonly errorCodes: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

await main();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean" },
      "warmup-seconds": { type: "string" },
      "phase-seconds": { type: "string" },
      target: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      "skip-reference": { type: "boolean" },
    },
  });
  const warmupS = Number(values["warmup-seconds"] ?? (values.quick ? 2 : 3));
  const phaseS = Number(values["phase-seconds"] ?? (values.quick ? 6 : 12));
  // Five full batches at the cap (5 × 80 ms): at 80% busy a request waits for the batch in
  // flight and its own, and queueing at that load adds as much again (see the docs).
  const targetMs = Number(values.target ?? 400);
  const seed = Number(values.seed ?? 42);
  const out = values.out ?? ".scratch/adaptive-step.json";
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const load = new LoadRunner();

  /** A simulator and a gateway in front of it with `batching`; closed after `body`. */
  async function withStack<T>(
    batching: Record<string, unknown>,
    body: (
      target: string,
      stats: () => { items: number; calls: number },
      state: () => Adaptive,
    ) => Promise<T>,
  ): Promise<T> {
    const sim = await createTritonSim({
      port: 0,
      cost: { baseMs: BASE_MS, perItemMs: PER_ITEM_MS, instances: 1 },
    });
    const cfg = validateConfig({
      server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
      backends: {
        student: {
          kind: "triton",
          endpoints: [sim.address],
          model: "relevance_student",
          // One batch at a time, as the simulator has one instance.
          batching: { maxConcurrentBatches: 1, ...batching },
        },
      },
      routing: { default: "student" },
      logging: { level: "silent" },
      metrics: { collectDefault: false },
    });
    const gateway = createGateway(cfg, { logger: silentLogger() });
    try {
      const { grpcPort } = await gateway.start();
      return await body(
        `127.0.0.1:${grpcPort}`,
        () => ({ items: sim.stats().items, calls: sim.stats().requests }),
        () => adaptiveState(gateway.control.batching()),
      );
    } finally {
      await gateway.shutdown();
      await sim.close();
    }
  }

  const loadBefore = loadavg()[0]!;
  const nominal = servedPerS(BASE_MS, PER_ITEM_MS, CAP);
  log(
    `backend: 1 instance, batch time ${BASE_MS} + ${PER_ITEM_MS}·n ms, max batch ${CAP}: ` +
      `${CAP} items per ${BASE_MS + PER_ITEM_MS * CAP} ms = ${nominal.toFixed(0)} items/s on paper`,
  );
  log("measuring capacity through the gateway (static, cap 64, queue kept full)…");
  const calibration = await withStack({ maxBatchSize: CAP, maxQueueDelayMs: 2 }, async (target, stats) => {
    const marks: { items: number; calls: number }[] = [];
    const r = await load.closed(
      {
        kind: "closed",
        target,
        workload: { kind: "score", docsPerRequest: DOCS_PER_REQUEST, seed },
        concurrency: 32,
        warmupMs: 1000,
        durationMs: (values.quick ? 2 : 4) * 1000,
        deadlineMs: DEADLINE_MS,
      },
      { onPhase: (name) => name !== "warm-up" && marks.push(stats()) },
    );
    const [before, after] = marks;
    return {
      itemsPerS: r.measuredMs > 0 ? (1000 * r.windowItems) / r.measuredMs : 0,
      errors: r.errors,
      meanBatch: before && after ? (after.items - before.items) / Math.max(1, after.calls - before.calls) : 0,
    };
  });
  const capacity = calibration.itemsPerS;
  const low = 0.3 * capacity;
  const high = 0.8 * capacity;
  const smallCap = 32;
  // What batches of 32 serve, scaled from paper to measured like the cap's.
  const smallServes = servedPerS(BASE_MS, PER_ITEM_MS, smallCap) * (capacity / nominal);
  const arithmetic = [
    `backend: 1 instance, batch time ${BASE_MS} + ${PER_ITEM_MS}·n ms, max batch ${CAP}: ${nominal.toFixed(0)} items/s on paper`,
    `measured through the gateway at the cap: ${capacity.toFixed(0)} items/s (mean batch ${calibration.meanBatch.toFixed(1)}, ${calibration.errors} errors); the loads below are shares of this`,
    `requests of ${DOCS_PER_REQUEST} documents, Poisson arrivals (seed ${seed}): 30% = ${low.toFixed(0)} items/s ` +
      `(${(low / DOCS_PER_REQUEST).toFixed(1)} req/s), 80% = ${high.toFixed(0)} items/s (${(high / DOCS_PER_REQUEST).toFixed(1)} req/s)`,
    `static tuned for 30%: batches of ≤ ${smallCap} serve about ${smallServes.toFixed(0)} items/s: ` +
      `${pct(low / smallServes)} busy at 30% (p99 well under target), ${pct(high / smallServes)} at 80% (cannot keep up)`,
    `phases: warm-up ${warmupS} s at 30% (not measured), low ${phaseS} s at 30%, high ${phaseS} s at 80%; ` +
      `deadline ${DEADLINE_MS} ms; target p99 ${targetMs} ms`,
  ];
  for (const line of arithmetic) log(line);

  const scenarios = [
    {
      name: `static, tuned for 30% (cap ${smallCap}, wait 2 ms)`,
      short: "static-30%",
      batching: { maxBatchSize: smallCap, maxQueueDelayMs: 2 },
    },
    ...(values["skip-reference"]
      ? []
      : [
          {
            name: `static at the cap (cap ${CAP}, wait 2 ms)`,
            short: "static-cap",
            batching: { maxBatchSize: CAP, maxQueueDelayMs: 2 },
          },
        ]),
    {
      name: `adaptive (cap ${CAP}, wait ≤ 10 ms, target ${targetMs} ms)`,
      short: "adaptive",
      batching: { maxBatchSize: CAP, maxQueueDelayMs: 10, mode: "adaptive", targetLatencyMs: targetMs },
    },
  ];
  const results = [];
  for (const scenario of scenarios) {
    const r = await withStack(scenario.batching, async (target, stats, state) => {
      const marks: { phase: string; items: number; calls: number }[] = [];
      const timeline: (LoadTick & { targetBatch?: number; waitMs?: number })[] = [];
      const phase = (name: string, itemsPerS: number, seconds: number, measured: boolean): LoadPhase => ({
        name,
        durationMs: seconds * 1000,
        ratePerS: itemsPerS / DOCS_PER_REQUEST,
        measured,
      });
      const plan: OpenLoadJob = {
        kind: "open",
        target,
        workload: { kind: "score", docsPerRequest: DOCS_PER_REQUEST, seed },
        seed,
        deadlineMs: DEADLINE_MS,
        phases: [
          phase("warm-up", low, warmupS, false),
          phase("low (30%)", low, phaseS, true),
          phase("high (80%)", high, phaseS, true),
          // Zero length: marks the end of the last phase for the batch counts.
          phase("end", 0, 0, false),
        ],
      };
      const done = await load.open(plan, {
        onPhase: (name) => marks.push({ phase: name, ...stats() }),
        onTick: (tick) => {
          const a = state();
          timeline.push({ ...tick, ...(a ? { targetBatch: a.targetBatch, waitMs: a.waitMs } : {}) });
          log(
            `${scenario.short} · ${tick.phase} · ${Math.round(tick.elapsedMs / 1000)} s: ${tick.answered} answered, ` +
              `${tick.errors} errors, p99 ${tick.p99Ms.toFixed(1)} ms` +
              (a ? ` · batch target ${a.targetBatch}, wait ${a.waitMs.toFixed(2)} ms` : ""),
          );
        },
      });
      const phases = done.map((o): PhaseResult & { meanBatch: number } => {
        const p: PhaseResult = {
          name: o.name,
          answered: o.answered,
          errors: o.errors,
          errorCodes: o.errorCounts,
          p50Ms: o.latency.p50Ms,
          p95Ms: o.latency.p95Ms,
          p99Ms: o.latency.p99Ms,
          maxMs: o.latency.maxMs,
          meanMs: o.latency.meanMs,
        };
        const i = marks.findIndex((m) => m.phase === p.name);
        const [start, end] = [marks[i], marks[i + 1]];
        const meanBatch =
          start && end && end.calls > start.calls ? (end.items - start.items) / (end.calls - start.calls) : 0;
        return { ...p, meanBatch };
      });
      return { scenario: scenario.name, batching: scenario.batching, phases, learned: state(), timeline };
    });
    results.push(r);
  }
  await load[Symbol.asyncDispose]();

  const lines = [
    "",
    `### Load step 30% → 80% of capacity, target p99 ${targetMs} ms`,
    "",
    `${cpus().length} CPUs, Node ${process.version}, load average ${loadBefore.toFixed(1)} before and ` +
      `${loadavg()[0]!.toFixed(1)} after (other work on the machine shows up in the tails)`,
    "",
    ...arithmetic.map((l) => `- ${l}`),
    "",
    "| configuration | phase | requests | errors | p50 ms | p95 ms | p99 ms | p99 ≤ target, no errors | mean batch |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    for (const p of r.phases) {
      const ok = p.errors === 0 && p.p99Ms <= targetMs;
      const errors = p.errors ? `${p.errors} (${describe(p.errorCodes)})` : "0";
      lines.push(
        `| ${r.scenario} | ${p.name} | ${p.answered + p.errors} | ${errors} | ${p.p50Ms.toFixed(1)} | ` +
          `${p.p95Ms.toFixed(1)} | ${p.p99Ms.toFixed(1)} | ${ok ? "yes" : "**no**"} | ${p.meanBatch.toFixed(1)} |`,
      );
    }
  }
  const learned = results.find((r) => r.learned)?.learned;
  if (learned) {
    lines.push(
      "",
      `Adaptive learned batch time ≈ ${learned.fixedMs.toFixed(2)} + ${learned.perItemMs.toFixed(3)}·n ms as the ` +
        `gateway sees it (simulator: ${BASE_MS} + ${PER_ITEM_MS}·n, plus encoding and the gRPC round trip).`,
    );
  }
  console.log(lines.join("\n"));
  mkdirSync(dirname(out), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverage: [loadBefore, loadavg()[0]] },
    backend: { baseMs: BASE_MS, perItemMs: PER_ITEM_MS, cap: CAP, paperItemsPerS: nominal },
    calibration,
    load: { docsPerRequest: DOCS_PER_REQUEST, lowItemsPerS: low, highItemsPerS: high, seed, warmupS, phaseS },
    targetMs,
    results,
  };
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  log(`results written to ${out}`);
}

type Adaptive = ReturnType<typeof adaptiveState>;

/** The student's adaptive controller state from the admin batching view (undefined in static mode). */
function adaptiveState(view: unknown) {
  const a = (view as { student?: { adaptive?: Record<string, unknown> } } | undefined)?.student?.adaptive;
  if (!a) return undefined;
  const num = (k: string) => (typeof a[k] === "number" ? a[k] : Number.NaN);
  return {
    targetBatch: num("batchSize"),
    waitMs: num("queueDelayMs"),
    fixedMs: num("fixedMs"),
    perItemMs: num("perItemMs"),
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(0)}%`;
}

function describe(codes: Record<string, number>): string {
  return Object.entries(codes)
    .map(([code, n]) => `${n} ${code}`)
    .join(", ");
}
