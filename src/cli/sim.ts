import { createLogger } from "../observability/logger.js";
import {
  createTritonSim,
  DEFAULT_SIM_METRICS_PORT,
  DEFAULT_SIM_PORT,
  type TritonSim,
} from "../sim/triton-sim.js";
import { createVllmSim, DEFAULT_VLLM_SIM_PORT, type VllmSim } from "../sim/vllm-sim.js";
import { CliError, intOption, numberOption } from "./fail.js";

export interface TritonSimFlags {
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly "metrics-port"?: string | undefined;
  readonly model?: string | undefined;
  readonly "max-batch-size"?: string | undefined;
  readonly "base-ms"?: string | undefined;
  readonly "per-item-ms"?: string | undefined;
  readonly instances?: string | undefined;
}

export function startTritonSim(flags: TritonSimFlags, logLevel = "info"): Promise<TritonSim> {
  return createTritonSim({
    host: flags.host ?? "127.0.0.1",
    port: intOption("port", flags.port, DEFAULT_SIM_PORT),
    metricsPort: intOption("metrics-port", flags["metrics-port"], DEFAULT_SIM_METRICS_PORT),
    models: [
      {
        name: flags.model ?? "relevance_student",
        maxBatchSize: intOption("max-batch-size", flags["max-batch-size"], 64),
      },
    ],
    cost: {
      baseMs: numberOption("base-ms", flags["base-ms"], 2),
      perItemMs: numberOption("per-item-ms", flags["per-item-ms"], 0.02),
      instances: Math.max(1, intOption("instances", flags.instances, 1)),
    },
    logger: createLogger(logLevel).child({ component: "triton-sim" }),
  });
}

export interface VllmSimFlags {
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly model?: string | undefined;
  readonly "max-model-len"?: string | undefined;
  readonly "max-num-seqs"?: string | undefined;
}

export function startVllmSim(flags: VllmSimFlags, logLevel = "info"): Promise<VllmSim> {
  return createVllmSim({
    host: flags.host ?? "127.0.0.1",
    port: intOption("port", flags.port, DEFAULT_VLLM_SIM_PORT),
    model: flags.model ?? "relevance-teacher",
    maxModelLen: intOption("max-model-len", flags["max-model-len"], 2048),
    maxNumSeqs: Math.max(1, intOption("max-num-seqs", flags["max-num-seqs"], 64)),
    logger: createLogger(logLevel).child({ component: "vllm-sim" }),
  });
}

export async function runSim(
  kind: string | undefined,
  flags: TritonSimFlags & VllmSimFlags,
): Promise<{ close(): Promise<void> }> {
  switch (kind) {
    case "vllm": {
      const sim = await startVllmSim({ ...flags, model: flags.model });
      process.stderr.write(
        `vllm simulator: HTTP ${sim.url} (/classify, /v1/completions, /health, /v1/models, /metrics)\n`,
      );
      return sim;
    }
    case "triton": {
      const sim = await startTritonSim(flags);
      process.stderr.write(
        `triton simulator: gRPC ${sim.address}` +
          (sim.metricsPort ? `, metrics http://127.0.0.1:${sim.metricsPort}/metrics` : "") +
          "\n",
      );
      return sim;
    }
    default:
      throw new CliError(`sim: unknown simulator ${JSON.stringify(kind ?? "")} (available: triton, vllm)`);
  }
}
