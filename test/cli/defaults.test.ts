import { existsSync, readFileSync } from "node:fs";
import t from "tap";
import { benchOptions } from "../../src/cli/bench.js";
import { type CommandSpec, type Flags, flagsAs, longName, withDefaults } from "../../src/cli/command-spec.js";
import { COMMANDS } from "../../src/cli/commands.js";
import { commandHelp, runCommandLine } from "../../src/cli/program.js";
import {
  type TritonSimFlags,
  tritonSimOptions,
  type VllmSimFlags,
  vllmSimOptions,
} from "../../src/cli/sim.js";
import { parseTuneFlags, type TuneFlags } from "../../src/cli/tune.js";
import { parseConfig } from "../../src/config/index.js";
import { DEFAULT_SIM_COST } from "../../src/tools/sim/triton/scheduler.js";
import { DEFAULT_SIM_METRICS_PORT, DEFAULT_SIM_PORT } from "../../src/tools/sim/triton/server.js";
import { DEFAULT_VLLM_SIM_PORT } from "../../src/tools/sim/vllm/server.js";

/**
 * Every option default is declared once, in commands.ts. This walks every subcommand and checks,
 * for each declared default, that parsing a command line without the option hands the command
 * that value, that --help shows it, and that the implementation turns it into the expected
 * setting. The expected values are kept apart from the table: written out here, or taken from
 * the code that uses the same value on its own (the simulators as a library, the config schema),
 * so a default changed in one place only fails this test.
 */

const ROOT = new URL("../../", import.meta.url);

/** The gateway's gRPC port when the config does not say: `score`'s target must dial it. */
const schemaGrpcPort = parseConfig(
  'backends:\n  s:\n    kind: triton\n    endpoints: ["127.0.0.1:8001"]\n    model: m\nrouting:\n  default: s\n',
  "defaults.test",
  {},
).server.grpc.port;

interface Invocation {
  /** The command line, options left out. */
  readonly argv: readonly string[];
  /** Every defaulted option of the command, by long name, with the value it must arrive with. */
  readonly flags: Readonly<Record<string, string | readonly string[]>>;
}

const EXPECTED: readonly Invocation[] = [
  {
    argv: ["sim", "triton"],
    flags: {
      host: "127.0.0.1",
      port: String(DEFAULT_SIM_PORT),
      model: "relevance_student",
      "metrics-port": String(DEFAULT_SIM_METRICS_PORT),
      "max-batch-size": "64",
      "base-ms": String(DEFAULT_SIM_COST.baseMs),
      "per-item-ms": String(DEFAULT_SIM_COST.perItemMs),
      instances: String(DEFAULT_SIM_COST.instances),
      "max-model-len": "2048",
      "max-num-seqs": "64",
      "scheduling-policy": "fcfs",
      "fault-seed": "1",
    },
  },
  {
    argv: ["sim", "vllm"],
    flags: {
      host: "127.0.0.1",
      port: String(DEFAULT_VLLM_SIM_PORT),
      model: "relevance-teacher",
      "metrics-port": String(DEFAULT_SIM_METRICS_PORT),
      "max-batch-size": "64",
      "base-ms": String(DEFAULT_SIM_COST.baseMs),
      "per-item-ms": String(DEFAULT_SIM_COST.perItemMs),
      instances: String(DEFAULT_SIM_COST.instances),
      "max-model-len": "2048",
      "max-num-seqs": "64",
      "scheduling-policy": "fcfs",
      "fault-seed": "1",
    },
  },
  { argv: ["score"], flags: { target: `127.0.0.1:${schemaGrpcPort}`, "deadline-ms": "10000" } },
  { argv: ["dev"], flags: { config: "deploy/config/local.yaml" } },
  { argv: ["shadow-report", "a.jsonl"], flags: { out: "shadow-report", k: "10", worst: "20" } },
  {
    argv: ["tune"],
    flags: {
      "batch-sizes": "8,16,32,64,128",
      delays: "0,2,5",
      concurrency: "4,16,64",
      docs: "8",
      duration: "3",
      warmup: "1",
      "p99-target": "50",
      tolerance: "3",
      out: "tune-out",
      "wait-ready": "15",
    },
  },
  {
    argv: ["bench"],
    flags: {
      scenario: ["all"],
      out: ".scratch/bench",
      rounds: "3",
      seconds: "10",
      warmup: "3",
      "soak-seconds": "180",
      "soak-warmup": "20",
      seed: "42",
    },
  },
  {
    argv: ["bench", "--quick"],
    flags: {
      scenario: ["all"],
      out: ".scratch/bench",
      rounds: "1",
      seconds: "3",
      warmup: "1",
      "soak-seconds": "20",
      "soak-warmup": "3",
      seed: "42",
    },
  },
];

/** What the parser hands the command for `argv`, through the same path the executable takes. */
async function parsed(argv: readonly string[]): Promise<{ spec: CommandSpec; args: string[]; flags: Flags }> {
  let seen: { spec: CommandSpec; args: string[]; flags: Flags } | undefined;
  await runCommandLine(argv, async (spec, args, flags) => {
    seen = { spec, args: [...args], flags };
  });
  if (seen === undefined) throw new Error(`${argv.join(" ")}: no command ran`);
  return seen;
}

const defaulted = (spec: CommandSpec) =>
  spec.options.filter((o) => o.default !== undefined || o.defaultBy !== undefined).map(longName);

t.test(
  "every declared default has an expected value here, and every expected value a declaration",
  async (t) => {
    for (const spec of COMMANDS) {
      const invocations = EXPECTED.filter((e) => e.argv[0] === spec.name);
      const declared = defaulted(spec);
      if (declared.length === 0) {
        t.same(invocations, [], `${spec.name}: no defaults declared, none expected`);
        continue;
      }
      t.ok(invocations.length > 0, `${spec.name}: its defaults are expected below`);
      for (const e of invocations)
        t.same(Object.keys(e.flags).sort(), [...declared].sort(), e.argv.join(" "));
    }
  },
);

t.test("parsed without the option, each command gets the default", async (t) => {
  for (const e of EXPECTED) {
    const { flags } = await parsed(e.argv);
    for (const [name, value] of Object.entries(e.flags))
      t.same(flags[name], value, `${e.argv.join(" ")} --${name}`);
  }
});

t.test("withDefaults (dev, in-process callers) fills in what the parser does", async (t) => {
  for (const e of EXPECTED) {
    const { spec, args, flags } = await parsed(e.argv);
    const given = e.argv.includes("--quick") ? { quick: true } : {};
    t.same(withDefaults(spec, args, given), flags, e.argv.join(" "));
  }
});

t.test("a given option replaces the default, a repeated one too", async (t) => {
  t.same((await parsed(["sim", "vllm", "--port", "9000"])).flags.port, "9000");
  t.same((await parsed(["bench", "--rounds", "7"])).flags.rounds, "7");
  t.same((await parsed(["bench", "--scenario", "overhead", "--scenario", "memory"])).flags.scenario, [
    "overhead",
    "memory",
  ]);
});

t.test("--help shows each default as the command gets it", async (t) => {
  for (const spec of COMMANDS) {
    const help = commandHelp(spec.name);
    const lines = help.split("\n");
    for (const option of spec.options) {
      const name = longName(option);
      const invocations = EXPECTED.filter((e) => e.argv[0] === spec.name && e.flags[name] !== undefined);
      if (invocations.length === 0) continue;
      // The option's entry: its line and the wrapped lines after it, up to the next option.
      const start = lines.findIndex((l) => l.trimStart().startsWith(option.flags));
      t.ok(start >= 0, `${spec.name} --${name} is listed`);
      const next = lines.findIndex((l, i) => i > start && /^\s+-/.test(l));
      const entry = lines
        .slice(start, next < 0 ? undefined : next)
        .map((l) => l.trim())
        .join(" ");
      const shown = /\(default: ([^)]*)\)/.exec(entry)?.[1];
      const values = [...new Set(invocations.map((e) => String(e.flags[name])))];
      t.equal(shown?.split("; ")[0], values[0], `${spec.name} --${name}: ${entry}`);
      t.equal(
        shown?.split("; ").length,
        values.length,
        `${spec.name} --${name}: one value per variant shown`,
      );
      for (const v of values.slice(1)) t.match(shown, new RegExp(`; \\w+ ${v.replace(/\./g, "\\.")}(;|$)`));
    }
  }
});

t.test("the implementations turn the defaults into the expected settings", async (t) => {
  const triton = tritonSimOptions(flagsAs<TritonSimFlags>((await parsed(["sim", "triton"])).flags), "silent");
  t.equal(triton.port, DEFAULT_SIM_PORT);
  t.equal(triton.metricsPort, DEFAULT_SIM_METRICS_PORT);
  t.equal(triton.host, "127.0.0.1");
  t.same(triton.models, [{ name: "relevance_student", maxBatchSize: 64 }]);
  t.same(triton.cost, DEFAULT_SIM_COST);
  t.equal(triton.faults, undefined, "no faults by default");
  t.equal(triton.faultSeed, 1);
  t.equal(triton.mergeQueued, false, "each call its own batch by default");

  const vllm = vllmSimOptions(flagsAs<VllmSimFlags>((await parsed(["sim", "vllm"])).flags), "silent");
  t.equal(vllm.port, DEFAULT_VLLM_SIM_PORT);
  t.equal(vllm.model, "relevance-teacher");
  t.equal(vllm.maxModelLen, 2048);
  t.equal(vllm.maxNumSeqs, 64);
  t.equal(vllm.schedulingPolicy, "fcfs", "vLLM's default policy");
  const flags = flagsAs<VllmSimFlags>((await parsed(["sim", "vllm", "--scheduling-policy", "lifo"])).flags);
  t.throws(() => vllmSimOptions(flags, "silent"), {
    message: '--scheduling-policy: expected fcfs or priority, got "lifo"',
  });
  t.equal(vllm.faultSeed, 1);

  t.same(parseTuneFlags(flagsAs<TuneFlags>((await parsed(["tune"])).flags)), {
    grid: { batchSizes: [8, 16, 32, 64, 128], delaysMs: [0, 2, 5], concurrency: [4, 16, 64] },
    docs: 8,
    durationS: 3,
    warmupS: 1,
    p99TargetMs: 50,
    tolerancePercent: 3,
    waitReadyS: 15,
  });

  const all = [
    "overhead",
    "batching",
    "cpu-ceiling",
    "shadow",
    "fairness",
    "replicas",
    "cache",
    "cache-shared",
    "memory",
  ];
  t.same(benchOptions(flagsAs((await parsed(["bench"])).flags)), {
    quick: false,
    scenarios: all,
    durations: { warmupS: 3, measureS: 10, rounds: 3, soakS: 180, soakWarmupS: 20 },
    seed: 42,
  });
  t.same(benchOptions(flagsAs((await parsed(["bench", "--quick"])).flags)), {
    quick: true,
    scenarios: all,
    durations: { warmupS: 1, measureS: 3, rounds: 1, soakS: 20, soakWarmupS: 3 },
    seed: 42,
  });
});

t.test("dev's default config is the one the repository ships and `npm start` uses", async (t) => {
  const { flags } = await parsed(["dev"]);
  t.ok(existsSync(new URL(String(flags.config), ROOT)), `${flags.config} exists`);
  const pkg = JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8")) as {
    scripts: { start: string };
  };
  t.match(pkg.scripts.start, ` dev --config ${flags.config}`);
});
