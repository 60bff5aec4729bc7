/**
 * Every `relevance-gateway` subcommand, declared once (sim's and tune's in sim-command.ts and tune-command.ts): its arguments, options (flag, placeholder,
 * description, default as shown in --help), examples and notes, and how it runs. main.ts turns
 * the table into commander commands; nothing else describes the command line.
 *
 * Each `run` loads its implementation with `import()` when the subcommand runs, so `serve` never
 * loads the simulators, the bench, tune or shadow-report (test/cli/serve-modules.test.ts checks it).
 * Only type imports here, command-spec.ts and the two *-command.ts files (types only too): `serve` loads no more.
 *
 * An option's `default` (or `defaultBy`, when it depends on an argument or a switch: `sim`'s port
 * on the simulator, `bench`'s durations on --quick) is the value itself, written only here: the
 * parser fills it in and --help shows it, so the implementations never supply their own
 * (test/cli/defaults.test.ts checks both against values kept apart from this table).
 */

import type { BenchFlags } from "./bench.js";
import { type CommandSpec, type DependentDefault, flagsAs } from "./command-spec.js";
import type { ScoreCommandFlags } from "./score.js";
import type { ShadowReportFlags } from "./shadow-report.js";
import { SIM_COMMAND } from "./sim-command.js";
import { TUNE_COMMAND } from "./tune-command.js";

export const DEV_CONFIG = "deploy/config/local.yaml";

/** A bench default that --quick shortens. */
const byQuick = (full: string, quick: string): DependentDefault => ({
  on: "--quick",
  values: { full, quick },
});

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "serve",
    summary: "run the gateway",
    description:
      "Runs the gateway with the config FILE until SIGTERM or SIGINT, then drains and exits 0; " +
      "SIGHUP reloads the file (live keys apply; a bad file keeps the running config).",
    options: [{ flags: "-c, --config <file>", description: "the gateway config (YAML or JSON); required" }],
    examples: ["relevance-gateway serve --config deploy/config/local.yaml"],
    run: async (_args, flags) => (await import("./serve.js")).serve(flags.config as string | undefined),
  },
  {
    name: "check-config",
    summary: "validate a config file and print the effective config",
    description:
      "Prints the effective configuration with every default filled in (secrets redacted), " +
      "or one line naming the bad field (exit 2).",
    arguments: [{ name: "<file>", description: "the config file" }],
    options: [],
    examples: ["relevance-gateway check-config deploy/config/local.yaml"],
    run: async ([file]) => (await import("./check-config.js")).checkConfig(file),
  },
  SIM_COMMAND,
  {
    name: "score",
    summary: "score documents against a running gateway",
    options: [
      { flags: "--target <host:port>", description: "gateway address", default: "127.0.0.1:50051" },
      { flags: "-q, --query <text>", description: "the query (required)" },
      {
        flags: "-d, --doc <text>",
        description: "a document given by its title (repeatable)",
        repeatable: true,
      },
      {
        flags: "--doc-json <json>",
        description:
          'a document as JSON with the proto\'s field names, e.g. \'{"id":"p1","title":"…","board_titles":["…"]}\' (repeatable)',
        repeatable: true,
      },
      { flags: "--experiment <name>", description: "route to a named experiment" },
      { flags: "--teacher", description: "ask for the teacher (model_preference = TEACHER)" },
      { flags: "--routing-key <key>", description: "sticky routing key" },
      { flags: "--deadline-ms <ms>", description: "deadline", default: "10000" },
      { flags: "--json", description: "print the response as JSON" },
      {
        flags: "--api-key-env <name>",
        description: "send the API key in env variable NAME as authorization: Bearer <key>",
      },
      {
        flags: "--api-key-file <file>",
        description:
          "or the key in FILE (one token; surrounding whitespace trimmed). There is no flag for the key " +
          "itself: it would show in ps and the shell's history",
      },
      { flags: "--tls", description: "connect with TLS, trusting the system's roots (default plaintext)" },
      { flags: "--tls-ca <file>", description: "trust this PEM CA bundle instead (implies --tls)" },
      {
        flags: "--tls-cert <file>",
        description: "client certificate (PEM) for mutual TLS, with --tls-key (implies --tls)",
      },
      { flags: "--tls-key <file>", description: "its private key (PEM)" },
      {
        flags: "--tls-server-name <name>",
        description:
          "the name the server certificate must carry, when dialling an address that is not in it (implies --tls)",
      },
    ],
    examples: [
      'relevance-gateway score -q "chocolate chip cookies" -d "Best chocolate chip cookies recipe" -d "Garden furniture ideas"',
      'relevance-gateway score --target gateway:50051 --tls-ca ca.crt --api-key-env RG_KEY -q "cookies" -d "Cookies" --json',
    ],
    refused: {
      "--api-key":
        "score: a key on the command line shows in ps and the shell's history; use --api-key-env NAME or --api-key-file FILE",
    },
    run: async (_args, flags) => (await import("./score.js")).score(flagsAs<ScoreCommandFlags>(flags)),
  },
  {
    name: "dev",
    summary: "simulators + gateway on this machine (npm start)",
    description:
      "Starts the Triton and vLLM simulators on the real servers' default ports, then the gateway; " +
      "prints where everything listens; Ctrl-C stops all of it.",
    options: [{ flags: "-c, --config <file>", description: "the gateway config", default: DEV_CONFIG }],
    examples: ["relevance-gateway dev", "relevance-gateway dev --config my-local.yaml"],
    run: async (_args, flags) => (await import("./dev.js")).dev(flags.config as string),
  },
  {
    name: "shadow-report",
    summary: "summarise shadow comparison logs (.jsonl, .jsonl.gz)",
    arguments: [{ name: "<file...>", description: "comparison logs (.jsonl or .jsonl.gz)" }],
    options: [
      {
        flags: "--out <dir>",
        description: "where to write confusion.svg, expected-relevance.svg and kendall-tau.svg",
        default: "shadow-report",
      },
      {
        flags: "--k <n>",
        description: "cut-off of NDCG@k and top-k overlap, recomputed from the logged probabilities",
        default: "10",
      },
      { flags: "--worst <n>", description: "how many largest |ΔER| documents to list", default: "20" },
      { flags: "--json", description: "print the figures as JSON instead of the text report" },
      {
        flags: "--progress",
        description: "report reading progress on stderr even when it is not a terminal",
      },
    ],
    examples: [
      "relevance-gateway shadow-report comparisons/*.jsonl --out report",
      "relevance-gateway shadow-report day.jsonl.gz --json",
    ],
    notes:
      "Bad lines are reported with FILE:LINE and skipped; the exit code is 1 only when no FILE could be read.",
    run: async (files, flags) =>
      (await import("./shadow-report.js")).runShadowReport(files, flagsAs<ShadowReportFlags>(flags)),
  },
  TUNE_COMMAND,
  {
    name: "bench",
    summary: "measure the gateway against its performance goals (docs/benchmarks.md)",
    description: "Starts its own simulators and gateways.",
    options: [
      { flags: "--quick", description: "every scenario briefly (about 3 minutes in all)" },
      {
        flags: "--scenario <list>",
        description:
          "overhead, batching, cpu-ceiling, shadow, fairness, replicas, cache, cache-shared, memory (repeatable)",
        default: "all",
        repeatable: true,
      },
      {
        flags: "--out <dir>",
        description: "where bench.json, bench.md and bench.svg go",
        default: ".scratch/bench",
      },
      {
        flags: "--rounds <n>",
        description: "measured rounds per configuration",
        defaultBy: byQuick("3", "1"),
      },
      { flags: "--seconds <s>", description: "each measured window", defaultBy: byQuick("10", "3") },
      {
        flags: "--warmup <s>",
        description: "unmeasured load before each window",
        defaultBy: byQuick("3", "1"),
      },
      { flags: "--soak-seconds <s>", description: "the memory soak", defaultBy: byQuick("180", "20") },
      { flags: "--soak-warmup <s>", description: "load before the soak", defaultBy: byQuick("20", "3") },
      { flags: "--seed <n>", description: "seed of arrival times and request texts", default: "42" },
      {
        flags: "--profile",
        description: "run the gateways under node --cpu-prof; summarise into DIR/profiles",
      },
      { flags: "--summarise-profiles <dir>", description: "summarise the .cpuprofile files in DIR and exit" },
    ],
    examples: [
      "relevance-gateway bench --quick",
      "relevance-gateway bench --scenario overhead,batching --rounds 5",
    ],
    notes:
      "Progress goes to stderr; the Markdown report and the goals to stdout. Exit code 1 when a\n" +
      "scenario fails to run (a missed goal is reported, not an error).",
    run: async (_args, flags, argv) => (await import("./bench.js")).bench(flagsAs<BenchFlags>(flags), argv),
  },
  {
    name: "version",
    summary: "print the version",
    options: [],
    examples: ["relevance-gateway version"],
    run: async () => {
      const { VERSION } = await import("../version.js");
      process.stdout.write(`${VERSION}\n`);
    },
  },
];

export const EXIT_CODES = "Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.";

/** A subcommand's declaration by name. */
export function commandSpec(name: string): CommandSpec {
  const spec = COMMANDS.find((c) => c.name === name);
  if (spec === undefined) throw new Error(`no command ${JSON.stringify(name)}`);
  return spec;
}
