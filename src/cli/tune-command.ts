/**
 * The `tune` subcommand's declaration and the flags it hands to tune.ts, kept together so that
 * tune.ts can read its own declared defaults (its error messages quote them) without importing
 * commands.ts. Type imports only: `serve` loads no tuner code.
 */

import { type CommandSpec, flagsAs } from "./command-spec.js";

/** `tune`'s options, the defaults commands.ts declares filled in. */
export interface TuneFlags {
  readonly config?: string | undefined;
  /** Default: the config's routing.default. */
  readonly backend?: string | undefined;
  readonly endpoint?: string[] | undefined;
  readonly "batch-sizes": string;
  readonly delays: string;
  readonly concurrency: string;
  readonly docs: string;
  readonly duration: string;
  readonly warmup: string;
  readonly "p99-target": string;
  readonly tolerance: string;
  readonly out: string;
  readonly "wait-ready": string;
}

export const TUNE_COMMAND: CommandSpec = {
  name: "tune",
  summary: "sweep batch size × delay × concurrency against a backend (docs/tuning.md)",
  options: [
    {
      flags: "-c, --config <file>",
      description: "the gateway config; the backend is built from it as the gateway builds it (required)",
    },
    // Read from the config at run time, so not a value here.
    { flags: "--backend <name>", description: "which backends.<NAME> to tune (default: routing.default)" },
    {
      flags: "--endpoint <addr>",
      description: "use this endpoint instead of the configured ones (repeatable)",
      repeatable: true,
    },
    { flags: "--batch-sizes <list>", description: "maxBatchSize values", default: "8,16,32,64,128" },
    { flags: "--delays <list>", description: "maxQueueDelayMs values", default: "0,2,5" },
    {
      flags: "--concurrency <list>",
      description: "requests outstanding at once, closed loop",
      default: "4,16,64",
    },
    { flags: "--docs <n>", description: "documents per request", default: "8" },
    { flags: "--duration <s>", description: "measured seconds per point", default: "3" },
    { flags: "--warmup <s>", description: "unmeasured seconds before each point", default: "1" },
    { flags: "--p99-target <ms>", description: "latency objective of the recommendation", default: "50" },
    {
      flags: "--tolerance <pct>",
      description: "throughputs this close to the best count as equal",
      default: "3",
    },
    { flags: "--out <dir>", description: "where tune.csv, tune.svg and tune.json go", default: "tune-out" },
    { flags: "--wait-ready <s>", description: "how long to wait for a ready endpoint", default: "15" },
  ],
  examples: [
    "relevance-gateway tune --config deploy/config/local.yaml --backend student",
    "relevance-gateway tune -c gateway.yaml --endpoint 10.0.0.7:8001 --batch-sizes 16,32 --delays 0,2",
  ],
  notes: "Progress goes to stderr; the table and the recommendation to stdout.",
  run: async (_args, flags) => (await import("./tune.js")).tune(flagsAs<TuneFlags>(flags)),
};
