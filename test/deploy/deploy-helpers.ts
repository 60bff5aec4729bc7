// Shared by the deployment tests: repository paths, YAML documents, the `check-config` CLI, and the
// cross-checks between a gateway config and the model servers it targets (Triton's model repository,
// vLLM's command line).
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { checkModelConfig } from "../../src/backends/triton/readiness.js";
import {
  type GatewayConfig,
  parseConfig,
  type TritonBackendConfig,
  type VllmBackendConfig,
} from "../../src/config/index.js";
import { cliArgs } from "../helpers/cli.js";
import { parseModelConfig, type TritonModelConfig } from "./pbtxt.js";

const execFileAsync = promisify(execFile);

export const repoPath = (relative: string): string =>
  fileURLToPath(new URL(`../../${relative}`, import.meta.url));

/** Every non-empty YAML document of a text; a syntax error throws, naming `source`. */
export function yamlDocuments(text: string, source: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const error = doc.errors[0];
    if (error !== undefined) throw new Error(`${source}: ${error.message}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

export function readYamlDocuments(file: string): unknown[] {
  return yamlDocuments(readFileSync(file, "utf8"), file);
}

export interface CheckConfigResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `relevance-gateway check-config FILE`, the built CLI (test/helpers/cli.ts), with a clean environment for its overrides. */
export async function runCheckConfig(file: string): Promise<CheckConfigResult> {
  const env = { ...process.env };
  delete env.RELEVANCE_GATEWAY_LOG_LEVEL;
  delete env.RELEVANCE_GATEWAY_ADMIN_TOKEN;
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, cliArgs("check-config", file), {
      env,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: unknown; stderr?: unknown };
    return {
      code: typeof e.code === "number" ? e.code : -1,
      stdout: typeof e.stdout === "string" ? e.stdout : "",
      stderr: typeof e.stderr === "string" ? e.stderr : String(err),
    };
  }
}

/**
 * The effective configuration `check-config` printed, loaded back: its output is itself a valid config
 * (docs/configuration.md), so this also checks that round trip.
 */
export function effectiveConfig(result: CheckConfigResult, source: string): GatewayConfig {
  return parseConfig(result.stdout, `${source} (effective)`, {});
}

// ───────────────────────── Triton

/** Every model of a Triton model repository directory: directory name → its parsed config.pbtxt. */
export function loadModelRepository(dir: string): Map<string, TritonModelConfig> {
  const models = new Map<string, TritonModelConfig>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join(dir, entry.name, "config.pbtxt");
    models.set(entry.name, parseModelConfig(readFileSync(file, "utf8"), file));
  }
  return models;
}

export const MODEL_REPOSITORY = "deploy/triton/model_repository";

/** The models whose instances run on a GPU: the model itself, or an ensemble's GPU steps. */
export function gpuModels(repo: ReadonlyMap<string, TritonModelConfig>, model: string): TritonModelConfig[] {
  const config = repo.get(model);
  if (config === undefined) return [];
  const members =
    config.platform === "ensemble"
      ? config.ensembleSteps.flatMap((s) => {
          const step = repo.get(s.modelName);
          return step === undefined ? [] : [step];
        })
      : [config];
  return members.filter((m) => m.instanceGroups.some((g) => g.kind === "KIND_GPU" || g.kind === "KIND_AUTO"));
}

/** Models a request to `model` queues in: the model itself, or an ensemble's steps. */
function queueingModels(repo: ReadonlyMap<string, TritonModelConfig>, model: string): TritonModelConfig[] {
  const config = repo.get(model);
  if (config === undefined) return [];
  if (config.platform !== "ensemble") return [config];
  return config.ensembleSteps.flatMap((s) => {
    const step = repo.get(s.modelName);
    return step === undefined ? [] : [step];
  });
}

/** What the gateway's own readiness check makes of the config (src/backends/triton/readiness.ts). */
export function gatewayReadiness(config: TritonModelConfig, tensors: TritonBackendConfig["tensors"]) {
  return checkModelConfig(
    {
      name: config.name,
      platform: config.platform,
      backend: config.backend,
      maxBatchSize: config.maxBatchSize,
      input: config.input.map((t) => ({ name: t.name, dataType: t.dataType, dims: [...t.dims] })),
      output: config.output.map((t) => ({ name: t.name, dataType: t.dataType, dims: [...t.dims] })),
    },
    config.name,
    tensors,
  );
}

/**
 * Disagreements between a Triton backend of a gateway config and the model repository it targets;
 * empty when they agree. `where` prefixes each message.
 */
export function studentMismatches(
  where: string,
  student: TritonBackendConfig,
  repo: ReadonlyMap<string, TritonModelConfig>,
): string[] {
  const problems: string[] = [];
  const config = repo.get(student.model);
  if (config === undefined) return [`${where}: model "${student.model}" is not in ${MODEL_REPOSITORY}`];
  const readiness = gatewayReadiness(config, student.tensors);
  if (!readiness.ready)
    problems.push(`${where}: the gateway would not accept the model: ${readiness.reason}`);
  const { batching } = student;
  if (batching.maxBatchSize > config.maxBatchSize) {
    problems.push(
      `${where}: batching.maxBatchSize ${batching.maxBatchSize} exceeds ${student.model}'s max_batch_size ${config.maxBatchSize}`,
    );
  }
  const gpu = gpuModels(repo, student.model);
  if (gpu.length === 0) problems.push(`${where}: ${student.model} has no GPU instance group`);
  for (const m of gpu) {
    const preferred = m.dynamicBatching?.preferredBatchSize ?? [];
    for (const size of batching.preferredBatchSizes) {
      if (!preferred.includes(size)) {
        problems.push(
          `${where}: preferredBatchSizes ${size} is not one of ${m.name}'s preferred_batch_size [${preferred.join(", ")}]`,
        );
      }
    }
    const instances = m.instanceGroups.filter((g) => g.kind !== "KIND_CPU").reduce((n, g) => n + g.count, 0);
    if (batching.maxConcurrentBatches !== instances) {
      problems.push(
        `${where}: batching.maxConcurrentBatches ${batching.maxConcurrentBatches} differs from ${m.name}'s GPU instance count ${instances}`,
      );
    }
  }
  for (const m of queueingModels(repo, student.model)) {
    problems.push(...bandLevelMismatches(where, student, m));
    const timeoutUs = m.dynamicBatching?.defaultQueuePolicy?.defaultTimeoutMicroseconds ?? 0;
    if (timeoutUs / 1000 > student.timeoutMs) {
      problems.push(
        `${where}: ${m.name} may queue a request ${timeoutUs / 1000} ms, longer than the gateway's timeoutMs ${student.timeoutMs}`,
      );
    }
  }
  return problems;
}

/**
 * The bands' priorities against a queueing model's levels: Triton serves a
 * level outside [1, priority_levels] at the default level, and two bands at
 * one level share a FIFO queue, so either would let bulk work from other
 * replicas delay interactive batches in Triton's queue.
 */
function bandLevelMismatches(where: string, student: TritonBackendConfig, m: TritonModelConfig): string[] {
  const bands = student.bandPriorities;
  if (bands === null) return [];
  const problems: string[] = [];
  const levels = m.dynamicBatching?.priorityLevels ?? 0;
  for (const [band, level] of Object.entries(bands)) {
    if (level < 1 || level > levels) {
      problems.push(
        `${where}: bandPriorities.${band} ${level} is not one of ${m.name}'s priority levels [1, ${levels}]`,
      );
    }
  }
  if (!(bands.interactive < bands.bulk && bands.bulk < bands.background)) {
    problems.push(
      `${where}: bandPriorities ${bands.interactive}, ${bands.bulk}, ${bands.background} do not keep interactive before bulk before background`,
    );
  }
  return problems;
}

// ───────────────────────── vLLM

export interface VllmCommand {
  /** Positional arguments: the model to serve. */
  readonly positional: readonly string[];
  /** `--flag value` and `--flag=value`; a flag without a value maps to "". */
  readonly flags: ReadonlyMap<string, string>;
}

/** `vllm serve` arguments (after `vllm serve`). A flag given twice is an error: which one wins is unclear. */
export function parseVllmArgs(args: readonly string[]): VllmCommand {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    let name: string;
    let value: string;
    if (eq >= 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    } else {
      name = arg;
      const next = args[i + 1];
      value = next !== undefined && !next.startsWith("--") ? next : "";
      if (value !== "") i++;
    }
    if (flags.has(name)) throw new Error(`vllm serve: ${name} is given twice`);
    flags.set(name, value);
  }
  return { positional, flags };
}

function intFlag(cmd: VllmCommand, flag: string): number | undefined {
  const raw = cmd.flags.get(flag);
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/** The label tokens that map /classify's probs[k] to label k+1, in order. */
const LABEL_TOKENS = ["1", "2", "3", "4", "5"];

/**
 * Disagreements between a vLLM backend of a gateway config and the `vllm serve` arguments of the
 * server it targets; empty when they agree.
 */
export function teacherMismatches(where: string, teacher: VllmBackendConfig, cmd: VllmCommand): string[] {
  const problems: string[] = [];
  if (cmd.positional.length !== 1)
    problems.push(`${where}: expected one model to serve, got [${cmd.positional.join(", ")}]`);
  const served = (cmd.flags.get("--served-model-name") ?? "").split(/\s+/).filter((s) => s !== "");
  if (!served.includes(teacher.model)) {
    problems.push(
      `${where}: --served-model-name [${served.join(", ")}] does not include the gateway's model "${teacher.model}"`,
    );
  }
  const port = intFlag(cmd, "--port") ?? 8000;
  for (const endpoint of teacher.endpoints) {
    const url = new URL(endpoint.replace(/^dns\+/, ""));
    const endpointPort = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
    if (endpointPort !== port) problems.push(`${where}: endpoint ${endpoint} is not vLLM's --port ${port}`);
  }
  if (cmd.flags.get("--host") !== "0.0.0.0")
    problems.push(`${where}: --host must be 0.0.0.0 to be reachable`);

  const maxModelLen = intFlag(cmd, "--max-model-len");
  if (maxModelLen === undefined)
    problems.push(`${where}: --max-model-len is not set (the model's 131072 is far more than a pair needs)`);
  else if (teacher.maxInputTokens !== undefined && teacher.maxInputTokens > maxModelLen) {
    problems.push(
      `${where}: maxInputTokens ${teacher.maxInputTokens} exceeds --max-model-len ${maxModelLen}`,
    );
  }
  const maxNumSeqs = intFlag(cmd, "--max-num-seqs");
  const inFlight = teacher.batching.maxBatchSize * teacher.batching.maxConcurrentBatches;
  if (maxNumSeqs === undefined) problems.push(`${where}: --max-num-seqs is not set`);
  else if (inFlight > maxNumSeqs) {
    problems.push(
      `${where}: one gateway replica keeps ${inFlight} pairs in flight per vLLM pod (maxBatchSize × maxConcurrentBatches), more than --max-num-seqs ${maxNumSeqs}`,
    );
  }

  if (teacher.mode === "classify") {
    if (cmd.flags.get("--runner") !== "pooling")
      problems.push(`${where}: mode classify needs --runner pooling`);
    if (cmd.flags.get("--convert") !== "classify")
      problems.push(`${where}: mode classify needs --convert classify`);
    let overrides: { architectures?: unknown; classifier_from_token?: unknown; method?: unknown } = {};
    try {
      overrides = JSON.parse(cmd.flags.get("--hf-overrides") ?? "{}") as typeof overrides;
    } catch (err) {
      problems.push(`${where}: --hf-overrides is not JSON: ${String(err)}`);
    }
    const architectures = Array.isArray(overrides.architectures) ? overrides.architectures : [];
    if (!architectures.some((a) => typeof a === "string" && a.endsWith("ForSequenceClassification"))) {
      problems.push(`${where}: --hf-overrides architectures must name a *ForSequenceClassification model`);
    }
    if (JSON.stringify(overrides.classifier_from_token) !== JSON.stringify(LABEL_TOKENS)) {
      problems.push(
        `${where}: --hf-overrides classifier_from_token must be ${JSON.stringify(LABEL_TOKENS)} (probs[k] is label k+1), got ${JSON.stringify(overrides.classifier_from_token)}`,
      );
    }
    if (overrides.method !== "no_post_processing") {
      problems.push(
        `${where}: --hf-overrides method must be no_post_processing (the LM-head rows as they are)`,
      );
    }
  } else {
    if (cmd.flags.get("--runner") === "pooling")
      problems.push(`${where}: mode generate cannot use a pooling runner`);
    const maxLogprobs = intFlag(cmd, "--max-logprobs") ?? 20;
    if (maxLogprobs < teacher.topLogprobs) {
      problems.push(`${where}: topLogprobs ${teacher.topLogprobs} exceeds --max-logprobs ${maxLogprobs}`);
    }
  }
  return problems;
}

/** The named backend of a config, which must be a Triton backend. */
export function tritonBackend(cfg: GatewayConfig, name: string): TritonBackendConfig {
  const backend = cfg.backends[name];
  if (backend?.kind !== "triton") throw new Error(`backends.${name} is not a triton backend`);
  return backend;
}

/** The named backend of a config, which must be a vLLM backend. */
export function vllmBackend(cfg: GatewayConfig, name: string): VllmBackendConfig {
  const backend = cfg.backends[name];
  if (backend?.kind !== "vllm") throw new Error(`backends.${name} is not a vllm backend`);
  return backend;
}
