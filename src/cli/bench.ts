import { FULL_DURATIONS, QUICK_DURATIONS } from "../tools/bench/context.js";
import { SCENARIO_IDS, type ScenarioId } from "../tools/bench/results.js";
import { type BenchIo, runBench, summariseProfiles } from "../tools/bench/run.js";
import { CliError } from "./fail.js";

export interface BenchFlags {
  readonly quick?: boolean | undefined;
  readonly scenario?: string[] | undefined;
  readonly out?: string | undefined;
  readonly seed?: string | undefined;
  readonly rounds?: string | undefined;
  readonly seconds?: string | undefined;
  readonly warmup?: string | undefined;
  readonly "soak-seconds"?: string | undefined;
  readonly "soak-warmup"?: string | undefined;
  readonly profile?: boolean | undefined;
  readonly "summarise-profiles"?: string | undefined;
}

const processIo: BenchIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

function positive(flag: string, value: string | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const n = value.trim() === "" ? Number.NaN : Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    const kind = integer ? "a positive integer" : "a positive number";
    throw new CliError(`--${flag}: expected ${kind}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** "--scenario a,b --scenario c" → [a, b, c] in the suite's order; default all. */
function scenarios(values: readonly string[] | undefined): ScenarioId[] {
  if (values === undefined) return [...SCENARIO_IDS];
  const asked = values.flatMap((v) => v.split(",")).map((s) => s.trim());
  for (const s of asked) {
    if (!(SCENARIO_IDS as readonly string[]).includes(s)) {
      throw new CliError(
        `--scenario: unknown scenario ${JSON.stringify(s)} (available: ${SCENARIO_IDS.join(", ")})`,
      );
    }
  }
  return SCENARIO_IDS.filter((id) => asked.includes(id));
}

/** `relevance-gateway bench [flags]`: see commands.ts and docs/benchmarks.md. */
export async function bench(
  flags: BenchFlags,
  argv: readonly string[],
  io: BenchIo = processIo,
): Promise<void> {
  if (flags["summarise-profiles"] !== undefined) {
    await summariseProfiles(flags["summarise-profiles"], io);
    return;
  }
  const quick = flags.quick === true;
  const base = quick ? QUICK_DURATIONS : FULL_DURATIONS;
  const durations = {
    warmupS: positive("warmup", flags.warmup, base.warmupS),
    measureS: positive("seconds", flags.seconds, base.measureS),
    rounds: positive("rounds", flags.rounds, base.rounds, true),
    soakS: positive("soak-seconds", flags["soak-seconds"], base.soakS),
    soakWarmupS: positive("soak-warmup", flags["soak-warmup"], base.soakWarmupS),
  };
  // A bad option value is a usage error (exit 2), checked before anything runs.
  const chosen = scenarios(flags.scenario);
  const seed = positive("seed", flags.seed, 42, true);
  try {
    await runBench(
      {
        quick,
        scenarios: chosen,
        durations,
        outDir: flags.out ?? ".scratch/bench",
        seed,
        profile: flags.profile === true,
        command: ["relevance-gateway", "bench", ...argv].join(" "),
      },
      io,
    );
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), 1);
  }
}
