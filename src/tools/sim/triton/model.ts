/**
 * What the Triton simulator hosts: relevance models with two BYTES inputs
 * (query, document; dims [1]) and one FP32 output (dims [5]), described the
 * way Triton's ModelMetadata and ModelConfig RPCs describe them.
 */
import type {
  ModelConfig,
  ModelMetadataResponse,
  ModelTensorConfig,
} from "../../../backends/triton/kserve-service.js";

export type SimOutputKind = "logits" | "probabilities";

export interface SimModelOptions {
  name: string;
  /** The single version served (default "1"). */
  version?: string;
  /** Triton's max_batch_size (default 64); 0 means the model has no batch dimension. */
  maxBatchSize?: number;
  /** ModelConfig.platform (default "ensemble", like the tokenizer + cross-encoder ensemble). */
  platform?: string;
  /** Tensor names (defaults QUERY, DOCUMENT, LOGITS). */
  tensors?: { query?: string; document?: string; output?: string };
  /** "logits" (default) returns simLogits; "probabilities" returns softmax5 of them. */
  outputKind?: SimOutputKind;
  /**
   * The dynamic batcher's `priority_levels` (default 3, as the deploy's
   * cross-encoder; 0: one FIFO queue) and `default_priority_level` (default
   * 2, the middle of three; 0 without levels).
   */
  priorityLevels?: number;
  defaultPriorityLevel?: number;
}

export interface SimModel {
  readonly name: string;
  readonly version: string;
  readonly maxBatchSize: number;
  readonly platform: string;
  readonly queryInput: string;
  readonly documentInput: string;
  readonly outputName: string;
  readonly outputKind: SimOutputKind;
  /** Queue levels, 1 served first; 0: one FIFO queue. */
  readonly priorityLevels: number;
  /** The level of a request that gives none, 0, or one above `priorityLevels`. */
  readonly defaultPriorityLevel: number;
  /** Inputs in config order. */
  readonly inputs: readonly ModelTensorConfig[];
  readonly output: ModelTensorConfig;
}

export const DEFAULT_SIM_MODEL: SimModelOptions = { name: "relevance_student" };

/** Wire datatype name → model-config DataType name (Triton prints the latter in errors). */
const WIRE_TO_CONFIG: Readonly<Record<string, string>> = {
  BOOL: "TYPE_BOOL",
  UINT8: "TYPE_UINT8",
  UINT16: "TYPE_UINT16",
  UINT32: "TYPE_UINT32",
  UINT64: "TYPE_UINT64",
  INT8: "TYPE_INT8",
  INT16: "TYPE_INT16",
  INT32: "TYPE_INT32",
  INT64: "TYPE_INT64",
  FP16: "TYPE_FP16",
  FP32: "TYPE_FP32",
  FP64: "TYPE_FP64",
  BYTES: "TYPE_STRING",
  BF16: "TYPE_BF16",
};

export function configDataType(wireDatatype: string): string {
  return WIRE_TO_CONFIG[wireDatatype] ?? "TYPE_INVALID";
}

export function buildSimModel(opts: SimModelOptions): SimModel {
  const maxBatchSize = opts.maxBatchSize ?? 64;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0) {
    throw new RangeError(`model '${opts.name}': maxBatchSize must be an integer >= 0, got ${maxBatchSize}`);
  }
  const queryInput = opts.tensors?.query ?? "QUERY";
  const documentInput = opts.tensors?.document ?? "DOCUMENT";
  if (queryInput === documentInput) {
    throw new RangeError(`model '${opts.name}': query and document inputs need distinct names`);
  }
  const outputName = opts.tensors?.output ?? "LOGITS";
  const priorityLevels = opts.priorityLevels ?? 3;
  const defaultPriorityLevel = opts.defaultPriorityLevel ?? Math.ceil(priorityLevels / 2);
  if (!Number.isInteger(priorityLevels) || priorityLevels < 0) {
    throw new RangeError(
      `model '${opts.name}': priorityLevels must be an integer >= 0, got ${priorityLevels}`,
    );
  }
  // Triton's model_config_utils.cc: the default level must be one of the levels (0 without levels).
  const lowest = priorityLevels === 0 ? 0 : 1;
  if (
    !Number.isInteger(defaultPriorityLevel) ||
    defaultPriorityLevel < lowest ||
    defaultPriorityLevel > priorityLevels
  ) {
    throw new RangeError(
      `model '${opts.name}': defaultPriorityLevel must be in [${lowest}, ${priorityLevels}], got ${defaultPriorityLevel}`,
    );
  }
  return {
    name: opts.name,
    version: opts.version ?? "1",
    maxBatchSize,
    platform: opts.platform ?? "ensemble",
    queryInput,
    documentInput,
    outputName,
    outputKind: opts.outputKind ?? "logits",
    priorityLevels,
    defaultPriorityLevel,
    inputs: [
      { name: queryInput, dataType: "TYPE_STRING", dims: [1] },
      { name: documentInput, dataType: "TYPE_STRING", dims: [1] },
    ],
    output: { name: outputName, dataType: "TYPE_FP32", dims: [5] },
  };
}

/** The full shape clients must send or receive: `[-1, ...dims]` with a batch dimension, else `dims`. */
export function fullShape(model: SimModel, dims: readonly number[]): number[] {
  return model.maxBatchSize > 0 ? [-1, ...dims] : [...dims];
}

export function modelMetadata(model: SimModel): ModelMetadataResponse {
  return {
    name: model.name,
    versions: [model.version],
    platform: model.platform,
    inputs: model.inputs.map((t) => ({ name: t.name, datatype: "BYTES", shape: fullShape(model, t.dims) })),
    outputs: [{ name: model.output.name, datatype: "FP32", shape: fullShape(model, model.output.dims) }],
  };
}

export function modelConfig(model: SimModel, instances: number): ModelConfig {
  return {
    name: model.name,
    platform: model.platform,
    backend: "",
    maxBatchSize: model.maxBatchSize,
    input: model.inputs.map((t) => ({ ...t, dims: [...t.dims] })),
    output: [{ ...model.output, dims: [...model.output.dims] }],
    instanceGroup: [{ name: model.name, count: instances, kind: "KIND_GPU" }],
    // Triton's default dynamic batcher (as large as possible, no delay), with its priority levels.
    dynamicBatching:
      model.priorityLevels === 0
        ? {}
        : { priorityLevels: model.priorityLevels, defaultPriorityLevel: model.defaultPriorityLevel },
  };
}
