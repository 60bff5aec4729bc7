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
 * The load generator runs in a worker thread so that its timers do not queue
 * behind the gateway's work.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import { build } from "hdr-histogram-js";

/** The simulated backend: one instance, batch time BASE_MS + PER_ITEM_MS·n, at most CAP items. */
const BASE_MS = 40;
const PER_ITEM_MS = 0.625;
const CAP = 64;
const DOCS_PER_REQUEST = 8;
const DEADLINE_MS = 2000;
/** Items per second that batches of n serve at batch time a + b·n. */
const servedPerS = (a: number, b: number, n: number) => (1000 * n) / (a + b * n);

interface Phase {
  readonly name: string;
  readonly seconds: number;
  readonly itemsPerS: number;
  readonly measured: boolean;
}

interface OpenLoad {
  readonly kind: "open";
  readonly target: string;
  readonly seed: number;
  readonly phases: readonly Phase[];
}

interface ClosedLoad {
  readonly kind: "closed";
  readonly target: string;
  readonly concurrency: number;
  readonly warmupS: number;
  readonly seconds: number;
}

interface PhaseResult {
  readonly name: string;
  readonly answered: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** One second of load, for progress. */
interface Tick {
  readonly phase: string;
  readonly second: number;
  readonly answered: number;
  readonly errors: number;
  readonly p99Ms: number;
}

type FromWorker =
  | { readonly kind: "phase"; readonly name: string }
  | { readonly kind: "tick"; readonly tick: Tick }
  | { readonly kind: "open-done"; readonly result: PhaseResult[] }
  | { readonly kind: "closed-done"; readonly itemsPerS: number; readonly errors: number };

if (isMainThread) {
  await main();
} else {
  const port = parentPort!;
  port.on("message", (job: OpenLoad | ClosedLoad) => {
    const post = (m: FromWorker) => port.postMessage(m);
    const run =
      job.kind === "open"
        ? openLoop(job, post).then((result) => post({ kind: "open-done", result }))
        : closedLoop(job).then((r) => post({ kind: "closed-done", ...r }));
    run.catch((err: unknown) => {
      throw err;
    });
  });
}

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

  const worker = new Worker(new URL(import.meta.url));
  const [{ validateConfig }, { createGateway }, { silentLogger }, { createTritonSim }] = await Promise.all([
    import("../src/config/index.js"),
    import("../src/gateway.js"),
    import("../src/observability/logger.js"),
    import("../src/sim/triton-sim.js"),
  ]);

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

  function ask<T extends FromWorker["kind"]>(
    job: OpenLoad | ClosedLoad,
    done: T,
    onOther: (m: FromWorker) => void,
  ): Promise<Extract<FromWorker, { kind: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.kind !== done) return onOther(m);
        worker.off("message", onMessage);
        worker.off("error", reject);
        resolve(m as Extract<FromWorker, { kind: T }>);
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
      worker.postMessage(job);
    });
  }

  const loadBefore = loadavg()[0]!;
  const nominal = servedPerS(BASE_MS, PER_ITEM_MS, CAP);
  log(
    `backend: 1 instance, batch time ${BASE_MS} + ${PER_ITEM_MS}·n ms, max batch ${CAP}: ` +
      `${CAP} items per ${BASE_MS + PER_ITEM_MS * CAP} ms = ${nominal.toFixed(0)} items/s on paper`,
  );
  log("measuring capacity through the gateway (static, cap 64, queue kept full)…");
  const calibration = await withStack({ maxBatchSize: CAP, maxQueueDelayMs: 2 }, async (target, stats) => {
    await ask({ kind: "closed", target, concurrency: 32, warmupS: 1, seconds: 0 }, "closed-done", () => {});
    const before = stats();
    const r = await ask(
      { kind: "closed", target, concurrency: 32, warmupS: 0, seconds: values.quick ? 2 : 4 },
      "closed-done",
      () => {},
    );
    const after = stats();
    return { ...r, meanBatch: (after.items - before.items) / Math.max(1, after.calls - before.calls) };
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
      const timeline: (Tick & { targetBatch?: number; waitMs?: number })[] = [];
      const plan: OpenLoad = {
        kind: "open",
        target,
        seed,
        phases: [
          { name: "warm-up", seconds: warmupS, itemsPerS: low, measured: false },
          { name: "low (30%)", seconds: phaseS, itemsPerS: low, measured: true },
          { name: "high (80%)", seconds: phaseS, itemsPerS: high, measured: true },
        ],
      };
      const done = await ask(plan, "open-done", (m) => {
        if (m.kind === "phase") marks.push({ phase: m.name, ...stats() });
        if (m.kind !== "tick") return;
        const a = state();
        timeline.push({ ...m.tick, ...(a ? { targetBatch: a.targetBatch, waitMs: a.waitMs } : {}) });
        log(
          `${scenario.short} · ${m.tick.phase} · ${m.tick.second} s: ${m.tick.answered} answered, ` +
            `${m.tick.errors} errors, p99 ${m.tick.p99Ms.toFixed(1)} ms` +
            (a ? ` · batch target ${a.targetBatch}, wait ${a.waitMs.toFixed(2)} ms` : ""),
        );
      });
      const phases = done.result.map((p) => {
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
  await worker.terminate();

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

/** A Score client with the gateway's own codec. */
async function scoreClient(target: string) {
  const { encodeScoreRequest, decodeScoreResponse } = await import("../src/codec/index.js");
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
  );
  const documents = Array.from({ length: DOCS_PER_REQUEST }, (_, i) => ({
    id: `d${i}`,
    title: `chocolate chip cookie recipe ${i}`,
    description: "crispy edges, chewy centre",
    imageCaption: "a plate of cookies",
    boardTitles: ["Baking"],
    engagedQueries: ["cookies"],
    linkText: "",
    locale: "en",
  }));
  let n = 0;
  return {
    close: () => client.close(),
    score(done: (err: grpc.ServiceError | null) => void): void {
      client.makeUnaryRequest(
        "/relevance.v1.RelevanceService/Score",
        encodeScoreRequest,
        decodeScoreResponse,
        {
          requestId: "",
          query: { text: "chocolate chip cookies", locale: "en" },
          documents,
          routingKey: `user-${n++}`,
          experiment: "",
          priority: 1,
          modelPreference: 0,
        },
        { deadline: Date.now() + DEADLINE_MS },
        (err) => done(err),
      );
    },
  };
}

/** `concurrency` requests always outstanding: the backend's throughput at full queue. */
async function closedLoop(job: ClosedLoad): Promise<{ itemsPerS: number; errors: number }> {
  const client = await scoreClient(job.target);
  const warmEnd = performance.now() + job.warmupS * 1000;
  const end = warmEnd + job.seconds * 1000;
  let answered = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) {
        const err = await new Promise<grpc.ServiceError | null>((resolve) => client.score(resolve));
        const now = performance.now();
        if (now < warmEnd || now > end) continue;
        if (err) errors++;
        else answered++;
      }
    }),
  );
  client.close();
  return { itemsPerS: job.seconds > 0 ? (answered * DOCS_PER_REQUEST) / job.seconds : 0, errors };
}

/** The open-loop Poisson load: the same seed gives the same arrivals. */
async function openLoop(plan: OpenLoad, post: (m: FromWorker) => void): Promise<PhaseResult[]> {
  const client = await scoreClient(plan.target);
  const random = mulberry32(plan.seed);
  const phases = plan.phases.map((p) => ({
    ...p,
    histogram: build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    }),
    errors: 0,
    errorCodes: {} as Record<string, number>,
  }));
  const ends: number[] = [];
  let total = 0;
  for (const p of plan.phases) {
    total += p.seconds * 1000;
    ends.push(total);
  }
  const gap = (i: number) => -Math.log(1 - random()) / (plan.phases[i]!.itemsPerS / DOCS_PER_REQUEST / 1000);

  let outstanding = 0;
  let sending = true;
  let allAnswered: () => void = () => {};
  const answeredAll = new Promise<void>((resolve) => {
    allAnswered = resolve;
  });
  let second = { answered: 0, errors: 0, latencies: [] as number[] };
  const start = performance.now();

  const send = (phaseIndex: number, scheduledMs: number) => {
    const phase = phases[phaseIndex]!;
    outstanding++;
    client.score((err) => {
      const latencyMs = performance.now() - (start + scheduledMs);
      if (err) {
        second.errors++;
        if (phase.measured) {
          phase.errors++;
          const code = grpc.status[err.code] ?? String(err.code);
          phase.errorCodes[code] = (phase.errorCodes[code] ?? 0) + 1;
        }
      } else {
        second.answered++;
        second.latencies.push(latencyMs);
        if (phase.measured) phase.histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
      }
      if (--outstanding === 0 && !sending) allAnswered();
    });
  };

  let phaseIndex = 0;
  let seconds = 0;
  const ticker = setInterval(() => {
    const sorted = second.latencies.sort((a, b) => a - b);
    post({
      kind: "tick",
      tick: {
        phase: plan.phases[Math.min(phaseIndex, plan.phases.length - 1)]!.name,
        second: ++seconds,
        answered: second.answered,
        errors: second.errors,
        p99Ms: sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0,
      },
    });
    second = { answered: 0, errors: 0, latencies: [] };
  }, 1000);

  post({ kind: "phase", name: plan.phases[0]!.name });
  let next = gap(0);
  await new Promise<void>((resolve) => {
    const pump = () => {
      const now = performance.now() - start;
      while (next <= now) {
        // Memoryless arrivals: past a phase's end, draw afresh at the next phase's rate.
        while (phaseIndex < ends.length && next >= ends[phaseIndex]!) {
          const boundary = ends[phaseIndex]!;
          phaseIndex++;
          post({ kind: "phase", name: plan.phases[phaseIndex]?.name ?? "end" });
          if (phaseIndex < ends.length) next = boundary + gap(phaseIndex);
        }
        if (phaseIndex >= ends.length) return resolve();
        send(phaseIndex, next);
        next += gap(phaseIndex);
      }
      setTimeout(pump, Math.max(0, next - now));
    };
    pump();
  });
  sending = false;
  if (outstanding > 0) await answeredAll;
  clearInterval(ticker);
  client.close();
  return phases
    .filter((p) => p.measured)
    .map((p) => {
      const h = p.histogram;
      const ms = (percentile: number) => (h.totalCount > 0 ? h.getValueAtPercentile(percentile) / 1000 : 0);
      return {
        name: p.name,
        answered: h.totalCount,
        errors: p.errors,
        errorCodes: p.errorCodes,
        p50Ms: ms(50),
        p95Ms: ms(95),
        p99Ms: ms(99),
        maxMs: h.maxValue / 1000,
        meanMs: h.mean / 1000,
      };
    });
}

/** Deterministic PRNG in [0, 1). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
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
