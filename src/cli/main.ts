import { parseArgs } from "node:util";
import { isConfigError } from "../config/index.js";
import { runShadowReport } from "../tools/shadow-report/index.js";
import { VERSION } from "../version.js";
import { bench } from "./bench.js";
import { checkConfig } from "./check-config.js";
import { dev } from "./dev.js";
import { CliError } from "./fail.js";
import { score } from "./score.js";
import { serve } from "./serve.js";
import { runSim } from "./sim.js";
import { tune } from "./tune.js";
import { USAGE } from "./usage.js";

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      const { values } = parse(() =>
        parseArgs({ args: rest, options: { config: { type: "string", short: "c" } } }),
      );
      return serve(values.config);
    }
    case "check-config": {
      const { positionals } = parse(() => parseArgs({ args: rest, allowPositionals: true }));
      return checkConfig(positionals[0]);
    }
    case "sim": {
      const { values, positionals } = parse(() =>
        parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            host: { type: "string" },
            port: { type: "string" },
            "metrics-port": { type: "string" },
            model: { type: "string" },
            "max-batch-size": { type: "string" },
            "base-ms": { type: "string" },
            "per-item-ms": { type: "string" },
            instances: { type: "string" },
            "max-model-len": { type: "string" },
            "max-num-seqs": { type: "string" },
            "error-rate": { type: "string" },
            "added-latency-ms": { type: "string" },
            "hang-rate": { type: "string" },
            "malformed-rate": { type: "string" },
            malformed: { type: "string" },
            "reset-rate": { type: "string" },
            "slow-rate": { type: "string" },
            "slow-ms": { type: "string" },
            "poison-marker": { type: "string" },
            "fail-all": { type: "boolean" },
            "fault-seed": { type: "string" },
            "tls-cert": { type: "string" },
            "tls-key": { type: "string" },
            "tls-client-ca": { type: "string" },
            "api-key-env": { type: "string" },
          },
        }),
      );
      const sim = await runSim(positionals[0], values);
      await new Promise<void>((resolve) => {
        const stop = () => sim.close().then(resolve, resolve);
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      return;
    }
    case "score": {
      if (rest.some((arg) => arg === "--api-key" || arg.startsWith("--api-key=")))
        throw new CliError(
          "score: a key on the command line shows in ps and the shell's history; use --api-key-env NAME or --api-key-file FILE",
        );
      const { values } = parse(() =>
        parseArgs({
          args: rest,
          options: {
            target: { type: "string" },
            query: { type: "string", short: "q" },
            doc: { type: "string", multiple: true, short: "d" },
            "doc-json": { type: "string", multiple: true },
            experiment: { type: "string" },
            teacher: { type: "boolean" },
            "routing-key": { type: "string" },
            "deadline-ms": { type: "string" },
            json: { type: "boolean" },
            "api-key-env": { type: "string" },
            "api-key-file": { type: "string" },
            tls: { type: "boolean" },
            "tls-ca": { type: "string" },
            "tls-cert": { type: "string" },
            "tls-key": { type: "string" },
            "tls-server-name": { type: "string" },
          },
        }),
      );
      return score(values);
    }
    case "shadow-report":
      return runShadowReport(rest);
    case "tune": {
      const { values } = parse(() =>
        parseArgs({
          args: rest,
          options: {
            config: { type: "string", short: "c" },
            backend: { type: "string" },
            endpoint: { type: "string", multiple: true },
            "batch-sizes": { type: "string" },
            delays: { type: "string" },
            concurrency: { type: "string" },
            docs: { type: "string" },
            duration: { type: "string" },
            warmup: { type: "string" },
            "p99-target": { type: "string" },
            tolerance: { type: "string" },
            out: { type: "string" },
            "wait-ready": { type: "string" },
          },
        }),
      );
      return tune(values);
    }
    case "bench": {
      const { values } = parse(() =>
        parseArgs({
          args: rest,
          options: {
            quick: { type: "boolean" },
            scenario: { type: "string", multiple: true },
            out: { type: "string" },
            seed: { type: "string" },
            rounds: { type: "string" },
            seconds: { type: "string" },
            warmup: { type: "string" },
            "soak-seconds": { type: "string" },
            "soak-warmup": { type: "string" },
            profile: { type: "boolean" },
            "summarise-profiles": { type: "string" },
          },
        }),
      );
      return bench(values, rest);
    }
    case "dev": {
      const { values } = parse(() =>
        parseArgs({ args: rest, options: { config: { type: "string", short: "c" } } }),
      );
      return dev(values.config ?? "deploy/config/local.yaml");
    }
    case "--version":
    case "version":
      process.stdout.write(`${VERSION}\n`);
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}; run relevance-gateway --help`);
  }
}

/** Runs a parseArgs call, turning its errors into one-line usage errors. */
function parse<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CliError || isConfigError(err)) {
    process.stderr.write(`relevance-gateway: ${(err as Error).message}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 2;
    return;
  }
  process.stderr.write(
    `relevance-gateway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
