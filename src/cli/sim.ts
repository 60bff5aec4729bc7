import { readFileSync } from "node:fs";
import { readNamedEnv } from "../config/env.js";
import { createLogger } from "../observability/logger.js";
import {
  type FaultSpec,
  TRITON_MALFORMED_KINDS,
  VLLM_MALFORMED_KINDS,
  validateFaultSpec,
} from "../tools/sim/faults.js";
import { createTritonSim, type TritonSim, type TritonSimOptions } from "../tools/sim/triton/server.js";
import { createVllmSim, type VllmSim, type VllmSimOptions } from "../tools/sim/vllm/server.js";
import { CliError, intOption, numberOption } from "./fail.js";

/** Fault injection flags, the same for both simulators (docs/fault-injection.md). */
export interface FaultFlags {
  readonly "error-rate"?: string | undefined;
  readonly "added-latency-ms"?: string | undefined;
  readonly "hang-rate"?: string | undefined;
  readonly "malformed-rate"?: string | undefined;
  readonly malformed?: string | undefined;
  readonly "reset-rate"?: string | undefined;
  readonly "slow-rate"?: string | undefined;
  readonly "slow-ms"?: string | undefined;
  readonly "poison-marker"?: string | undefined;
  readonly "fail-all"?: boolean | undefined;
  readonly "fault-seed"?: string | undefined;
}

const NUMERIC_FAULT_FLAGS = {
  "error-rate": "errorRate",
  "added-latency-ms": "addedLatencyMs",
  "hang-rate": "hangRate",
  "malformed-rate": "malformedRate",
  "reset-rate": "resetRate",
  "slow-rate": "slowRate",
  "slow-ms": "slowMs",
} as const;
const FLAG_OF: Record<string, string> = {
  ...Object.fromEntries(Object.entries(NUMERIC_FAULT_FLAGS).map(([flag, field]) => [field, `--${flag}`])),
  malformed: "--malformed",
  poisonMarker: "--poison-marker",
  failAll: "--fail-all",
};

/** The fault spec the flags ask for, undefined when none is given; a CliError names the flag. */
export function faultSpecFromFlags(
  flags: FaultFlags,
  malformedKinds: readonly string[],
): FaultSpec | undefined {
  const raw: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(NUMERIC_FAULT_FLAGS)) {
    const value = flags[flag as keyof typeof NUMERIC_FAULT_FLAGS];
    if (value !== undefined) raw[field] = numberOption(flag, value);
  }
  if (flags.malformed !== undefined) raw.malformed = flags.malformed;
  if (flags["poison-marker"] !== undefined) raw.poisonMarker = flags["poison-marker"];
  if (flags["fail-all"]) raw.failAll = true;
  if (Object.keys(raw).length === 0) return undefined;
  const spec = validateFaultSpec(raw, malformedKinds);
  if (typeof spec !== "string") return spec;
  // The message names spec fields ("hangRate: ..."); say the flags instead.
  const colon = spec.indexOf(": ");
  const subject = spec.slice(0, colon).replace(/[A-Za-z]+/g, (field) => FLAG_OF[field] ?? field);
  throw new CliError(`${subject}${spec.slice(colon)}`);
}

function faultOptions(
  flags: FaultFlags & { readonly "fault-seed": string },
  malformedKinds: readonly string[],
) {
  return {
    faults: faultSpecFromFlags(flags, malformedKinds),
    faultSeed: intOption("fault-seed", flags["fault-seed"]),
  };
}

/** Serving TLS, the same for both simulators: PEM files. */
export interface TlsFlags {
  readonly "tls-cert"?: string | undefined;
  readonly "tls-key"?: string | undefined;
}

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`--${flag}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The certificate and key the flags name, undefined for plaintext; a CliError names the flag. */
function tlsFromFlags(flags: TlsFlags): { cert: Buffer; key: Buffer } | undefined {
  const cert = flags["tls-cert"];
  const key = flags["tls-key"];
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    const [missing, given] = cert === undefined ? ["tls-cert", "tls-key"] : ["tls-key", "tls-cert"];
    throw new CliError(`--${missing} is required with --${given}`);
  }
  return { cert: readFlagFile("tls-cert", cert), key: readFlagFile("tls-key", key) };
}

/** `sim triton`'s options, the defaults commands.ts declares filled in. */
export interface TritonSimFlags extends FaultFlags, TlsFlags {
  readonly "tls-client-ca"?: string | undefined;
  readonly host: string;
  readonly port: string;
  readonly "metrics-port": string;
  readonly model: string;
  readonly "max-batch-size": string;
  readonly "base-ms": string;
  readonly "per-item-ms": string;
  readonly instances: string;
  readonly "merge-queued"?: boolean | undefined;
  readonly "fault-seed": string;
}

/** The simulator the flags ask for, checked; a CliError names the flag at fault. */
export function tritonSimOptions(flags: TritonSimFlags, logLevel = "info"): TritonSimOptions {
  const tls = tlsFromFlags(flags);
  const clientCa = flags["tls-client-ca"];
  if (clientCa !== undefined && tls === undefined) {
    throw new CliError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  return {
    tls: tls && {
      ...tls,
      clientCa: clientCa === undefined ? undefined : readFlagFile("tls-client-ca", clientCa),
    },
    host: flags.host,
    port: intOption("port", flags.port),
    metricsPort: intOption("metrics-port", flags["metrics-port"]),
    models: [{ name: flags.model, maxBatchSize: intOption("max-batch-size", flags["max-batch-size"]) }],
    cost: {
      baseMs: numberOption("base-ms", flags["base-ms"]),
      perItemMs: numberOption("per-item-ms", flags["per-item-ms"]),
      instances: Math.max(1, intOption("instances", flags.instances)),
    },
    mergeQueued: flags["merge-queued"] === true,
    ...faultOptions(flags, TRITON_MALFORMED_KINDS),
    // Benchmarks and demos replay requests; remembering recent pairs keeps the simulator's CPU off the cores it shares.
    scoreMemoPairs: 8192,
    logger: createLogger(logLevel).child({ component: "triton-sim" }),
  };
}

export function startTritonSim(flags: TritonSimFlags, logLevel = "info"): Promise<TritonSim> {
  return createTritonSim(tritonSimOptions(flags, logLevel));
}

/** `sim vllm`'s options, the defaults commands.ts declares filled in. */
export interface VllmSimFlags extends FaultFlags, TlsFlags {
  /** The environment variable holding the API key (vLLM reads VLLM_API_KEY the same way). */
  readonly "api-key-env"?: string | undefined;
  readonly host: string;
  readonly port: string;
  readonly model: string;
  readonly "max-model-len": string;
  readonly "max-num-seqs": string;
  readonly "scheduling-policy": string;
  readonly "fault-seed": string;
}

/** The simulator the flags ask for, checked; a CliError names the flag at fault. */
export function vllmSimOptions(flags: VllmSimFlags, logLevel = "info"): VllmSimOptions {
  const keyEnv = flags["api-key-env"];
  const apiKey = keyEnv === undefined ? undefined : readNamedEnv(keyEnv);
  if (keyEnv !== undefined && apiKey === undefined) {
    throw new CliError(`--api-key-env: the environment variable ${keyEnv} is not set`);
  }
  return {
    apiKey,
    tls: tlsFromFlags(flags),
    host: flags.host,
    port: intOption("port", flags.port),
    model: flags.model,
    maxModelLen: intOption("max-model-len", flags["max-model-len"]),
    maxNumSeqs: Math.max(1, intOption("max-num-seqs", flags["max-num-seqs"])),
    schedulingPolicy: schedulingPolicy(flags["scheduling-policy"]),
    ...faultOptions(flags, VLLM_MALFORMED_KINDS),
    logger: createLogger(logLevel).child({ component: "vllm-sim" }),
  };
}

function schedulingPolicy(value: string): "fcfs" | "priority" {
  if (value === "fcfs" || value === "priority") return value;
  throw new CliError(`--scheduling-policy: expected fcfs or priority, got ${JSON.stringify(value)}`);
}

export function startVllmSim(flags: VllmSimFlags, logLevel = "info"): Promise<VllmSim> {
  return createVllmSim(vllmSimOptions(flags, logLevel));
}

export async function runSim(
  kind: string | undefined,
  flags: TritonSimFlags & VllmSimFlags,
): Promise<{ close(): Promise<void> }> {
  switch (kind) {
    case "vllm": {
      const sim = await startVllmSim(flags);
      process.stderr.write(
        `vllm simulator: ${sim.url.startsWith("https:") ? "HTTPS" : "HTTP"} ${sim.url} (/classify, /v1/completions, /health, /v1/models, /metrics;` +
          ` fault control ${sim.url}/sim/faults)\n`,
      );
      return sim;
    }
    case "triton": {
      const sim = await startTritonSim(flags);
      process.stderr.write(
        `triton simulator: gRPC${flags["tls-cert"] === undefined ? "" : " over TLS"} ${sim.address}` +
          (sim.metricsPort
            ? `, metrics http://127.0.0.1:${sim.metricsPort}/metrics` +
              `, fault control http://127.0.0.1:${sim.metricsPort}/sim/faults`
            : "") +
          "\n",
      );
      return sim;
    }
    default:
      throw new CliError(`sim: unknown simulator ${JSON.stringify(kind ?? "")} (available: triton, vllm)`);
  }
}
