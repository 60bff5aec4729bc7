import { pino } from "pino";
import type { BackendClient } from "../backends/backend-client.js";
import { createBackend } from "../backends/create-backend.js";
import { checkTritonEndpoint } from "../backends/triton/target.js";
import { checkVllmEndpoint } from "../backends/vllm/target.js";
import { type BackendConfig, loadConfigFile } from "../config/index.js";
import { createLogger } from "../observability/logger.js";
import { describePoint } from "../tools/tune/chart.js";
import { backendBatchCap, planSweep, type TuneGrid } from "../tools/tune/grid.js";
import { recommend } from "../tools/tune/recommend.js";
import {
  formatCacheNote,
  formatRecommendation,
  formatTable,
  progressLine,
  type TuneReport,
} from "../tools/tune/report.js";
import { runSweep } from "../tools/tune/sweep.js";
import { writeTuneOutputs } from "../tools/tune/write-outputs.js";
import { systemClock } from "../util/clock.js";
import { longName } from "./command-spec.js";

export type { TuneFlags } from "./tune-command.js";

import { CliError } from "./fail.js";
import { TUNE_COMMAND, type TuneFlags } from "./tune-command.js";

export interface TuneIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

const processIo: TuneIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

interface Bounds {
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
  /** The lower bound itself is not allowed (durations, targets). */
  readonly exclusiveMin?: boolean;
}
const int = (min: number, max: number): Bounds => ({ integer: true, min, max });
const num = (min: number, max: number): Bounds => ({ integer: false, min, max });
const positive = (max: number): Bounds => ({ integer: false, min: 0, max, exclusiveMin: true });

function checked(flag: string, raw: string, n: number, b: Bounds): number {
  const tooLow = b.exclusiveMin ? n <= b.min : n < b.min;
  if (!Number.isFinite(n) || (b.integer && !Number.isInteger(n)) || tooLow || n > b.max) {
    const kind = b.integer ? "an integer" : "a number";
    const low = b.exclusiveMin ? `> ${b.min}` : `≥ ${b.min}`;
    throw new CliError(`--${flag}: expected ${kind} ${low} and ≤ ${b.max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function numberFlag(flag: string, value: string, b: Bounds): number {
  // Number("") is 0: an empty value must be an error, not a zero.
  return checked(flag, value, value.trim() === "" ? Number.NaN : Number(value), b);
}

/** "8,16,32" → [8, 16, 32]; every element checked, duplicates dropped. */
function listFlag(flag: string, value: string, b: Bounds): number[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.some((s) => s === "")) {
    // The declared default is the example: a well-formed list of this very option.
    const example = TUNE_COMMAND.options.find((o) => longName(o) === flag)?.default;
    throw new CliError(
      `--${flag}: expected a comma-separated list such as "${example}", got ${JSON.stringify(value)}`,
    );
  }
  return [...new Set(parts.map((s) => checked(flag, s, Number(s), b)))];
}

export interface TuneOptions {
  readonly grid: TuneGrid;
  readonly docs: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly p99TargetMs: number;
  readonly tolerancePercent: number;
  readonly waitReadyS: number;
}

/** Every flag but --config/--backend/--endpoint/--out, checked; a CliError names the flag at fault. */
export function parseTuneFlags(flags: TuneFlags): TuneOptions {
  return {
    grid: {
      batchSizes: listFlag("batch-sizes", flags["batch-sizes"], int(1, 65536)),
      delaysMs: listFlag("delays", flags.delays, num(0, 10_000)),
      concurrency: listFlag("concurrency", flags.concurrency, int(1, 10_000)),
    },
    docs: numberFlag("docs", flags.docs, int(1, 100_000)),
    durationS: numberFlag("duration", flags.duration, positive(3600)),
    warmupS: numberFlag("warmup", flags.warmup, num(0, 3600)),
    p99TargetMs: numberFlag("p99-target", flags["p99-target"], positive(3_600_000)),
    tolerancePercent: numberFlag("tolerance", flags.tolerance, num(0, 100)),
    waitReadyS: numberFlag("wait-ready", flags["wait-ready"], num(0, 3600)),
  };
}

/** The configured backend, with `--endpoint` overrides checked like the config checks endpoints. */
function pickBackend(
  flags: TuneFlags,
  configPath: string,
): { name: string; cfg: BackendConfig; maxDocs: number } {
  const config = loadConfigFile(configPath);
  const name = flags.backend ?? config.routing.default;
  const cfg = config.backends[name];
  if (!cfg) {
    throw new CliError(
      `--backend: ${configPath} has no backend ${JSON.stringify(name)} (it has: ${Object.keys(config.backends).join(", ")})`,
    );
  }
  const endpoints = flags.endpoint;
  if (!endpoints || endpoints.length === 0)
    return { name, cfg, maxDocs: config.limits.maxDocumentsPerRequest };
  const check = cfg.kind === "triton" ? checkTritonEndpoint : checkVllmEndpoint;
  for (const e of endpoints) {
    const problem = check(e);
    if (problem !== undefined) throw new CliError(`--endpoint: ${problem}`);
  }
  return { name, cfg: { ...cfg, endpoints }, maxDocs: config.limits.maxDocumentsPerRequest };
}

async function waitReady(client: BackendClient, waitS: number, signal: AbortSignal): Promise<void> {
  const until = Date.now() + waitS * 1000;
  while (!client.isReady() && !signal.aborted && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (signal.aborted) throw new CliError("tune: interrupted before the sweep started", 130);
  if (client.isReady()) return;
  const states = client
    .endpoints()
    .map((e) => `${e.id} ${e.state}`)
    .join(", ");
  throw new CliError(
    `backend ${client.name}: no ready endpoint after ${waitS} s (${states || "no endpoints"})`,
    1,
  );
}

/** The output files, or one line saying why they could not be written. */
async function writeOutputs(dir: string, report: TuneReport): Promise<string[]> {
  try {
    return await writeTuneOutputs(dir, report);
  } catch (err) {
    throw new CliError(
      `--out: cannot write to ${dir}: ${err instanceof Error ? err.message : String(err)}`,
      1,
    );
  }
}

/**
 * `tune`: sweeps the batcher's knobs against a live backend (the config's
 * `backends.<name>`, built exactly as the gateway builds it) and recommends
 * the setting with the best throughput within a p99 target.
 */
export async function tune(flags: TuneFlags, io: TuneIo = processIo): Promise<void> {
  const opts = parseTuneFlags(flags);
  if (!flags.config)
    throw new CliError("tune: --config FILE is required (the gateway config naming the backend)");
  const { name, cfg, maxDocs } = pickBackend(flags, flags.config);
  if (opts.docs > maxDocs) {
    throw new CliError(`--docs: ${opts.docs} is more than limits.maxDocumentsPerRequest (${maxDocs})`);
  }
  // Logs go to stderr, warnings only: stdout is the table, and probe chatter would bury the progress.
  const logger = createLogger("warn", pino.destination({ dest: 2, sync: true }));
  const client = createBackend(name, cfg, { clock: systemClock, logger });
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    io.stderr("tune: interrupted; reporting the points measured so far (again to quit at once)\n");
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await client.start();
    await waitReady(client, opts.waitReadyS, stop.signal);
    const cap = backendBatchCap(client.endpoints());
    const plan = planSweep(opts.grid, cap);
    if (plan.capped) {
      io.stderr(
        `tune: batch sizes ${plan.capped.requested.join(", ")} exceed the backend's max_batch_size ` +
          `${plan.capped.cap}: batches are capped there, so they are measured once, as ${plan.capped.cap}\n`,
      );
    }
    const endpoints = client.endpoints().map((e) => e.id);
    const totalS = plan.points.length * (opts.warmupS + opts.durationS);
    io.stderr(
      `tune: backend ${name} (${cfg.kind}: ${endpoints.join(", ")}` +
        `${cap === undefined ? "" : `, max_batch_size ${cap}`}); ${plan.points.length} points, ` +
        `about ${totalS < 90 ? `${Math.ceil(totalS)} s` : `${Math.ceil(totalS / 60)} min`}; ` +
        `${opts.docs} documents per request, maxConcurrentBatches ${cfg.batching.maxConcurrentBatches}\n`,
    );
    const sweep = await runSweep({
      backend: name,
      endpoints: () => client.endpoints(),
      points: plan.points,
      docsPerRequest: opts.docs,
      warmupMs: opts.warmupS * 1000,
      durationMs: opts.durationS * 1000,
      maxConcurrentBatches: cfg.batching.maxConcurrentBatches,
      // A closed loop never queues more than this; the config's bound must not shed the test's own load.
      maxQueueItems: Math.max(
        cfg.batching.maxQueueItems,
        Math.max(...plan.points.map((p) => p.concurrency)) * opts.docs,
      ),
      callTimeoutMs: cfg.timeoutMs,
      signal: stop.signal,
      onPoint: (p, i, n) => io.stderr(`${progressLine(p, i, n)}\n`),
    });
    const report: TuneReport = {
      backend: name,
      endpoints,
      batchCap: cap ?? null,
      cappedBatchSizes: plan.capped?.requested ?? [],
      grid: opts.grid,
      docsPerRequest: opts.docs,
      warmupS: opts.warmupS,
      durationS: opts.durationS,
      p99TargetMs: opts.p99TargetMs,
      tolerancePercent: opts.tolerancePercent,
      maxConcurrentBatches: cfg.batching.maxConcurrentBatches,
      configuredMode: cfg.batching.mode,
      configuredPreferredBatchSizes: cfg.batching.preferredBatchSizes,
      configuredCacheMaxBytes: cfg.cache.maxBytes,
      points: sweep.points,
      recommendation: recommend(sweep.points, opts),
      interrupted: sweep.interrupted,
    };
    const out = flags.out;
    io.stdout(formatTable(report));
    io.stdout(`\n${formatRecommendation(report)}`);
    io.stdout(`\n${formatCacheNote(report)}`);
    if (sweep.interrupted)
      io.stdout(`(interrupted: ${sweep.points.length} of ${plan.points.length} points measured)\n`);
    const paths = await writeOutputs(out, report);
    io.stdout(`\nWrote ${paths.join(", ")}\n`);
    if (sweep.points.length > 0 && sweep.points.every((p) => p.requests === 0)) {
      const example = sweep.points.find((p) => p.errorSamples.length > 0);
      throw new CliError(
        `no point answered any request${example ? ` (${describePoint(example)}: ${example.errorSamples[0]})` : ""}`,
        1,
      );
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await client[Symbol.asyncDispose]();
  }
}
