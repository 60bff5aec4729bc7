/**
 * The load generator's thread. The bench starts the servers it measures as
 * child processes and runs the load here, in a worker thread of its own
 * process: the generator's timers then fire on time whatever the bench's
 * main thread is doing (reading children's output, sampling /proc), and the
 * servers' event loops are untouched by it. Requests are pre-encoded and
 * answers are not decoded, so the generator's CPU cost per request is the
 * same for every server it is pointed at.
 */
import { parentPort } from "node:worker_threads";
import { systemClock } from "../../util/clock.js";
import { runClosedLoop } from "../common/load-generator.js";
import { mulberry32 } from "../common/rng.js";
import type { TuneRequest, Workload } from "../common/workload.js";
import { IntervalStats } from "./interval-stats.js";
import { createRawUnaryCaller, grpcErrorName, type Payload, type RawUnaryCaller } from "./load-client.js";
import type { ClosedLoadJob, FromLoadWorker, LoadJob, OpenLoadJob } from "./load-jobs.js";
import { runStreams, type StreamsLoadJob } from "./load-streams.js";
import { runOpenLoop } from "./open-loop.js";
import { buildPayloads, workloadPath } from "./payloads.js";

const port = parentPort;
if (port) {
  port.on("message", (job: LoadJob) => {
    const post = (m: FromLoadWorker) => port.postMessage(m);
    run(job, post).catch((err: unknown) =>
      post({ kind: "failed", message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}

async function run(job: LoadJob, post: (m: FromLoadWorker) => void): Promise<void> {
  if (job.kind === "streams") return streams(job, post);
  const payloads = buildPayloads(job.workload);
  const caller = createRawUnaryCaller({
    target: job.target,
    path: workloadPath(job.workload),
    deadlineMs: job.deadlineMs,
  });
  let sampled = false;
  const sample = (body: Buffer) => {
    if (sampled) return;
    sampled = true;
    post({ kind: "sample", body: new Uint8Array(body) });
  };
  try {
    if (job.kind === "open") await open(job, caller, payloads, sample, post);
    else await closed(job, caller, payloads, sample, post);
  } finally {
    caller.close();
  }
}

async function open(
  job: OpenLoadJob,
  caller: RawUnaryCaller,
  payloads: readonly Payload[],
  sample: (body: Buffer) => void,
  post: (m: FromLoadWorker) => void,
): Promise<void> {
  let i = 0;
  const phases = await runOpenLoop({
    phases: job.phases,
    random: mulberry32(job.seed),
    clock: systemClock,
    send: () => caller.call(payloads[i++ % payloads.length]!.body).then(sample),
    classifyError: grpcErrorName,
    onPhase: (p) => post({ kind: "phase", name: p.name, measured: p.measured }),
    onTick: (t) => post({ kind: "tick", tick: t }),
  });
  post({ kind: "open-done", phases });
}

async function closed(
  job: ClosedLoadJob,
  caller: RawUnaryCaller,
  payloads: readonly Payload[],
  sample: (body: Buffer) => void,
  post: (m: FromLoadWorker) => void,
): Promise<void> {
  // runClosedLoop hands out TuneRequests and counts their documents; each stands for one pre-encoded body.
  const bodies = new Map<TuneRequest, Buffer>();
  const requests: TuneRequest[] = payloads.map((p) => {
    const r: TuneRequest = { query: "", documents: new Array<string>(p.items).fill("") };
    bodies.set(r, p.body);
    return r;
  });
  let i = 0;
  const workload: Workload = { next: () => requests[i++ % requests.length]! };
  const errorCounts: Record<string, number> = {};
  const interval = new IntervalStats();
  let phase = "warm-up";
  const start = performance.now();
  const ticker = setInterval(
    () => post({ kind: "tick", tick: { phase, elapsedMs: performance.now() - start, ...interval.take() } }),
    1000,
  );
  post({ kind: "phase", name: phase, measured: false });
  try {
    const result = await runClosedLoop({
      concurrency: job.concurrency,
      warmupMs: job.warmupMs,
      durationMs: job.durationMs,
      workload,
      clock: systemClock,
      onWindow: (isOpen) => {
        phase = isOpen ? "measured" : "tail";
        post({ kind: "phase", name: phase, measured: isOpen });
      },
      send: async (request) => {
        const sentMs = performance.now();
        try {
          sample(await caller.call(bodies.get(request)!));
          interval.record(performance.now() - sentMs);
        } catch (err) {
          const name = grpcErrorName(err);
          errorCounts[name] = (errorCounts[name] ?? 0) + 1;
          interval.fail();
          throw err;
        }
      },
    });
    post({ kind: "closed-done", result: { ...result, errorCounts } });
  } finally {
    clearInterval(ticker);
  }
}

/** One caller and one set of bodies per stream: each client's calls carry its own key. */
async function streams(job: StreamsLoadJob, post: (m: FromLoadWorker) => void): Promise<void> {
  const clients = job.streams.map((s) => ({
    payloads: buildPayloads(s.workload),
    next: 0,
    caller: createRawUnaryCaller({
      target: s.target ?? job.target,
      path: workloadPath(s.workload),
      deadlineMs: s.deadlineMs,
      metadata: s.apiKey === undefined ? undefined : { authorization: `Bearer ${s.apiKey}` },
    }),
  }));
  let sampled = false;
  try {
    const results = await runStreams({
      streams: job.streams,
      warmupMs: job.warmupMs,
      measureMs: job.measureMs,
      seed: job.seed,
      clock: systemClock,
      send: (i) => {
        const c = clients[i]!;
        return c.caller.call(c.payloads[c.next++ % c.payloads.length]!.body).then((body) => {
          if (sampled) return;
          sampled = true;
          post({ kind: "sample", body: new Uint8Array(body) });
        });
      },
      classifyError: grpcErrorName,
      onPhase: (name, measured) => post({ kind: "phase", name, measured }),
      onTick: (tick) => post({ kind: "tick", tick }),
    });
    post({ kind: "streams-done", streams: results });
  } finally {
    for (const c of clients) c.caller.close();
  }
}
