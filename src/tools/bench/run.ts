/**
 * `relevance-gateway bench`: runs the scenarios one after another, each
 * starting and stopping its own servers, then writes bench.json, bench.md
 * and bench.svg and prints the Markdown report.
 *
 *   bench process ─┬─ main thread: starts servers, samples /proc, prints progress, writes the report
 *                  └─ worker thread: the load generator (load-worker.ts)
 *   child processes: Triton / vLLM simulators, gateways, the bare grpc-js server
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, platform, totalmem } from "node:os";
import { join } from "node:path";
import { goalsSvg } from "./chart.js";
import type { BenchContext, Durations } from "./context.js";
import { formatProfileSummary, readProfile, summariseProfile } from "./cpuprofile.js";
import { LoadRunner } from "./load-runner.js";
import { Scratch, stopAllServers } from "./processes.js";
import { goalsText, toMarkdown } from "./report.js";
import type { BenchReport, MachineInfo, ScenarioId, ScenarioResult } from "./results.js";
import { batchingScenario } from "./scenarios/batching.js";
import { cacheScenario } from "./scenarios/cache.js";
import { cacheSharedScenario } from "./scenarios/cache-shared.js";
import { cpuCeilingScenario } from "./scenarios/cpu-ceiling.js";
import { fairnessScenario } from "./scenarios/fairness.js";
import { memoryScenario } from "./scenarios/memory.js";
import { overheadScenario } from "./scenarios/overhead.js";
import { replicasScenario } from "./scenarios/replicas.js";
import { shadowScenario } from "./scenarios/shadow.js";

const SCENARIOS: Record<ScenarioId, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  overhead: overheadScenario,
  batching: batchingScenario,
  "cpu-ceiling": cpuCeilingScenario,
  shadow: shadowScenario,
  fairness: fairnessScenario,
  replicas: replicasScenario,
  cache: cacheScenario,
  "cache-shared": cacheSharedScenario,
  // Last: it judges peak RSS over every saturated gateway of the run.
  memory: memoryScenario,
};

export interface BenchOptions {
  readonly quick: boolean;
  /** In run order. */
  readonly scenarios: readonly ScenarioId[];
  readonly durations: Durations;
  /** Where bench.json, bench.md, bench.svg (and profiles) go. */
  readonly outDir: string;
  readonly seed: number;
  /** Run the gateways under `node --cpu-prof` and summarise the profiles. */
  readonly profile: boolean;
  /** How the run was asked for, for the report. */
  readonly command: string;
}

export interface BenchIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const BENCH_FILES = { json: "bench.json", markdown: "bench.md", svg: "bench.svg" } as const;

function machine(start: readonly number[]): MachineInfo {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? "unknown",
    totalMemoryMb: Math.round(totalmem() / 2 ** 20),
    platform: platform(),
    node: process.version,
    loadAverage: { start, end: loadavg() },
  };
}

export async function runBench(opts: BenchOptions, io: BenchIo): Promise<BenchReport> {
  const log = (line: string) => io.stderr(`${line}\n`);
  const startedAt = new Date();
  const t0 = performance.now();
  const loadStart = loadavg();
  const cores = cpus().length;
  log(
    `bench (${opts.quick ? "quick" : "full"}): ${opts.scenarios.join(", ")}; ${cores} CPUs, Node ${process.version}, ` +
      `load average ${loadStart.map((l) => l.toFixed(2)).join(" ")}`,
  );
  if (loadStart[0]! > cores / 2) {
    log(
      `note: the machine is busy (1-minute load ${loadStart[0]!.toFixed(2)} on ${cores} CPUs): expect noisy figures`,
    );
  }
  const profileDir = join(opts.outDir, "profiles");
  if (opts.profile) await mkdir(profileDir, { recursive: true });
  const scratch = new Scratch();
  const load = new LoadRunner();
  // Interrupted: the servers are child processes, and would outlive the bench unless stopped.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the servers…`);
    void stopAllServers().finally(() => {
      scratch.cleanUp();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const ctx: BenchContext = {
    quick: opts.quick,
    durations: opts.durations,
    load,
    scratch,
    seed: opts.seed,
    log,
    gatewayNodeFlags: (name) =>
      opts.profile
        ? ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-name", `${name}.cpuprofile`]
        : [],
    saturatedRss: [],
  };
  const scenarios: ScenarioResult[] = [];
  const failures: string[] = [];
  try {
    for (const id of opts.scenarios) {
      log(`── ${id}`);
      try {
        scenarios.push(await SCENARIOS[id](ctx));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        failures.push(`${id}: ${message}`);
        log(`${id} failed: ${message}`);
      }
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await load[Symbol.asyncDispose]();
    scratch.cleanUp();
  }

  const report: BenchReport = {
    schema: "relevance-gateway-bench/1",
    mode: opts.quick ? "quick" : "full",
    command: opts.command,
    startedAt: startedAt.toISOString(),
    durationS: (performance.now() - t0) / 1000,
    machine: machine(loadStart),
    scenarios,
    profiled: opts.profile,
    failures,
  };
  await mkdir(opts.outDir, { recursive: true });
  const markdown = toMarkdown(report);
  await Promise.all([
    writeFile(join(opts.outDir, BENCH_FILES.json), `${JSON.stringify(report, null, 2)}\n`),
    writeFile(join(opts.outDir, BENCH_FILES.markdown), markdown),
    writeFile(join(opts.outDir, BENCH_FILES.svg), goalsSvg(report)),
  ]);
  if (opts.profile) await summariseProfiles(profileDir, io);
  io.stdout(`\n${markdown}\n${goalsText(report)}`);
  log(
    `written: ${Object.values(BENCH_FILES)
      .map((f) => join(opts.outDir, f))
      .join(", ")}`,
  );
  if (failures.length > 0) throw new Error(`scenarios failed:\n${failures.join("\n")}`);
  return report;
}

/** Prints and writes (as NAME.txt) the summary of every profile the gateways wrote. */
export async function summariseProfiles(dir: string, io: BenchIo): Promise<void> {
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile")).sort()) {
    const text = formatProfileSummary(file, summariseProfile(readProfile(join(dir, file))));
    await writeFile(join(dir, file.replace(/\.cpuprofile$/, ".txt")), text);
    io.stdout(`\n${text}`);
  }
}
