import type { Durations } from "../tools/bench/context.js";
import { SCENARIO_IDS, type ScenarioId } from "../tools/bench/results.js";
import { type BenchIo, runBench, summariseProfiles } from "../tools/bench/run.js";
import { CliError } from "./fail.js";

/** `bench`'s options, the defaults commands.ts declares (some by --quick) filled in. */
export interface BenchFlags {
  readonly quick?: boolean | undefined;
  readonly scenario: string[];
  readonly out: string;
  readonly seed: string;
  readonly rounds: string;
  readonly seconds: string;
  readonly warmup: string;
  readonly "soak-seconds": string;
  readonly "soak-warmup": string;
  readonly profile?: boolean | undefined;
  readonly "summarise-profiles"?: string | undefined;
}

const processIo: BenchIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

function positive(flag: string, value: string, integer = false): number {
  const n = value.trim() === "" ? Number.NaN : Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    const kind = integer ? "a positive integer" : "a positive number";
    throw new CliError(`--${flag}: expected ${kind}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** "--scenario a,b --scenario c" → [a, b, c] in the suite's order; "all" (the default) is every one. */
function scenarios(values: readonly string[]): ScenarioId[] {
  const asked = values.flatMap((v) => v.split(",")).map((s) => s.trim());
  if (asked.includes("all")) return [...SCENARIO_IDS];
  for (const s of asked) {
    if (!(SCENARIO_IDS as readonly string[]).includes(s)) {
      throw new CliError(
        `--scenario: unknown scenario ${JSON.stringify(s)} (available: ${SCENARIO_IDS.join(", ")})`,
      );
    }
  }
  return SCENARIO_IDS.filter((id) => asked.includes(id));
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly scenarios: ScenarioId[];
  readonly durations: Durations;
  readonly seed: number;
}

/** The run the flags ask for, checked; a CliError names the flag at fault. */
export function benchOptions(flags: BenchFlags): BenchOptions {
  const durations = {
    warmupS: positive("warmup", flags.warmup),
    measureS: positive("seconds", flags.seconds),
    rounds: positive("rounds", flags.rounds, true),
    soakS: positive("soak-seconds", flags["soak-seconds"]),
    soakWarmupS: positive("soak-warmup", flags["soak-warmup"]),
  };
  const chosen = scenarios(flags.scenario);
  return {
    quick: flags.quick === true,
    scenarios: chosen,
    durations,
    seed: positive("seed", flags.seed, true),
  };
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
  // A bad option value is a usage error (exit 2), checked before anything runs.
  const options = benchOptions(flags);
  try {
    await runBench(
      {
        ...options,
        outDir: flags.out,
        profile: flags.profile === true,
        command: ["relevance-gateway", "bench", ...argv].join(" "),
      },
      io,
    );
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), 1);
  }
}
