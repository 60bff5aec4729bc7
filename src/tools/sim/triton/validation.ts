/**
 * ModelInfer request checks in the order and wording of Triton (frontend
 * `infer_handler.cc`, core `infer_request.cc`), so the gateway's error
 * mapping is exercised against realistic statuses and messages.
 */
import { type StatusObject, status } from "@grpc/grpc-js";
import type { InferTensorMessage, ModelInferRequestMessage } from "../../../codec/index.js";
import { configDataType, fullShape, type SimModel } from "./model.js";

/** A failed RPC: the gRPC status code and Triton's message as details. */
export class SimRpcError extends Error {
  override readonly name = "SimRpcError";
  readonly code: status;
  /** The model the request named, when it exists (labels the failure metric). */
  readonly model: SimModel | undefined;

  constructor(code: status, message: string, model?: SimModel) {
    super(message);
    this.code = code;
    this.model = model;
  }
}

/** A thrown error as a gRPC status for a handler's callback. */
export function toStatus(err: unknown): Partial<StatusObject> {
  if (err instanceof SimRpcError) return { code: err.code, details: err.message };
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

export interface ValidInfer {
  readonly model: SimModel;
  /** Pairs in the batch. */
  readonly n: number;
  readonly queries: string[];
  readonly documents: string[];
  /** The queue level it waits at (core `SetPriority`): 1 is served first; 0 when the model has no levels. */
  readonly priority: number;
}

const SHAPE_NOTE =
  "NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended " +
  "to each input shape. If you want to specify the full shape including the batch dim in your input dims " +
  "config, try setting max_batch_size to zero. See the model configuration docs for more info on max_batch_size.";

/**
 * Looks up a model like Triton's repository manager (core
 * `model_lifecycle.cc` GetModel; shared by ModelMetadata, ModelConfig,
 * ModelInfer). A model in `notReady` is loading or unloaded: it has no
 * ready version.
 */
export function findModel(
  models: ReadonlyMap<string, SimModel>,
  name: string,
  version: string,
  prefix = "",
  notReady: ReadonlySet<string> = NONE,
): SimModel {
  const model = models.get(name);
  if (!model) {
    throw new SimRpcError(
      status.INVALID_ARGUMENT,
      `${prefix}Request for unknown model: '${name}' is not found`,
    );
  }
  if (version !== "" && version !== model.version) {
    throw new SimRpcError(status.NOT_FOUND, `${prefix}'${name}' version ${version} is not found`);
  }
  if (notReady.has(name)) {
    if (version === "")
      throw new SimRpcError(status.NOT_FOUND, `${prefix}'${name}' has no available versions`);
    throw new SimRpcError(status.UNAVAILABLE, `${prefix}'${name}' version ${version} is not at ready state`);
  }
  return model;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * Triton's ModelReady: OK with `ready: false` for a model or version it does
 * not serve, not an error (core `server.cc` InferenceServer::ModelIsReady
 * returns success whatever GetModel says). Only a version string that is not
 * a non-negative integer is an error (server `common.cc`
 * GetModelVersionFromString, which parses with std::stol).
 */
export function modelIsReady(
  models: ReadonlyMap<string, SimModel>,
  notReady: ReadonlySet<string>,
  name: string,
  version: string,
): boolean {
  if (version !== "" && !/^\d+$/.test(version)) {
    const message = /^-\d+$/.test(version)
      ? `invalid model version specified '${version}' , version should be an integral value > 0`
      : `failed to get model version from specified version string '${version}' (details: stol), ` +
        "version should be an integral value > 0";
    throw new SimRpcError(status.INVALID_ARGUMENT, message);
  }
  const model = models.get(name);
  return model !== undefined && (version === "" || version === model.version) && !notReady.has(name);
}

function list(names: readonly string[]): string {
  return `[${names.map((n) => `'${n}'`).join(",")}]`;
}

/** Validates a request and decodes its BYTES tensors; throws SimRpcError like Triton would. */
export function validateInferRequest(
  req: ModelInferRequestMessage,
  models: ReadonlyMap<string, SimModel>,
  notReady?: ReadonlySet<string>,
): ValidInfer {
  const prefix = `[request id: ${req.id || "<id_unknown>"}] `;
  const model = findModel(models, req.modelName, req.modelVersion, prefix, notReady);
  const m = model.name;
  const fail = (message: string): SimRpcError =>
    new SimRpcError(status.INVALID_ARGUMENT, `${prefix}${message}`, model);

  const priority = priorityLevel(req, model, fail);
  for (const out of req.outputs) {
    if (out.name !== model.outputName)
      throw fail(`unexpected inference output '${out.name}' for model '${m}'`);
  }

  // Frontend: where each input's data comes from.
  const raw = req.rawInputContents;
  if (raw.length !== 0 && raw.length !== req.inputs.length) {
    throw fail(
      `expected tensor data for ${req.inputs.length} inputs but got ${raw.length} sets of data for model '${m}'`,
    );
  }
  const data: Uint8Array[] = [];
  for (const [i, input] of req.inputs.entries()) {
    if (raw.length !== 0) {
      if (input.contents) {
        throw fail(
          `contents field must not be specified when using raw_input_contents for '${input.name}' for model '${m}'`,
        );
      }
      data.push(raw[i]!);
    } else if (input.contents) {
      data.push(packBytesContents(input.contents.bytesContents));
    } else {
      throw fail(`unable to find data for input tensor '${input.name}' for model '${m}'.`);
    }
  }

  // Core: names, count, datatypes, batch size, shapes, byte sizes.
  const expected = model.inputs.map((t) => t.name);
  const seen = new Set<string>();
  for (const input of req.inputs) {
    if (!expected.includes(input.name)) {
      throw fail(`unexpected inference input '${input.name}' for model '${m}'`);
    }
    if (seen.has(input.name)) throw fail(`input '${input.name}' already exists in request`);
    seen.add(input.name);
  }
  if (req.inputs.length !== expected.length) {
    const got = req.inputs.map((t) => t.name);
    const missing = expected.filter((n) => !seen.has(n));
    throw fail(
      `expected ${expected.length} inputs but got ${req.inputs.length} inputs for model '${m}'. ` +
        `Got input(s) ${list(got)}, but missing required input(s) ${list(missing)}. ` +
        "Please provide all required input(s).",
    );
  }
  for (const input of req.inputs) {
    if (input.datatype !== "BYTES") {
      throw fail(
        `unexpected datatype ${configDataType(input.datatype)} for inference input '${input.name}', ` +
          `expecting TYPE_STRING for model '${m}'`,
      );
    }
  }
  const n = batchSize(req.inputs, model, fail);
  for (const input of req.inputs) checkShape(input, model, fail);

  const texts = new Map<string, string[]>();
  for (const [i, input] of req.inputs.entries()) {
    texts.set(input.name, unpackBytes(data[i]!, n, input.name, m, fail));
  }
  return {
    model,
    n,
    queries: texts.get(model.queryInput)!,
    documents: texts.get(model.documentInput)!,
    priority,
  };
}

/**
 * The `priority` parameter as Triton reads it: int64 or uint64 only
 * (frontend `infer_handler.cc`), and 0, or a level above the model's
 * `priority_levels`, quietly becomes the default level (core
 * `infer_request.cc` SetPriority; int64 is read as uint64, so a negative one
 * is above every level).
 */
function priorityLevel(
  req: ModelInferRequestMessage,
  model: SimModel,
  fail: (message: string) => SimRpcError,
): number {
  const p = req.parameters.priority;
  if (p === undefined) return model.defaultPriorityLevel;
  if (p.kind !== "int64" && p.kind !== "uint64") {
    throw fail("invalid value type for 'priority' parameter, expected int64_param or uint64_param.");
  }
  const level = p.value;
  return level <= 0 || level > model.priorityLevels ? model.defaultPriorityLevel : level;
}

function batchSize(
  inputs: readonly InferTensorMessage[],
  model: SimModel,
  fail: (message: string) => SimRpcError,
): number {
  const m = model.name;
  if (model.maxBatchSize === 0) return 1; // dims [1]: one element per input, checked with the shape
  let batch: number | undefined;
  for (const input of inputs) {
    if (input.shape.length === 0) {
      throw fail(`input '${input.name}' has no shape but model requires batch dimension for '${m}'`);
    }
    const first = input.shape[0]!;
    if (batch === undefined) batch = first;
    else if (first !== batch)
      throw fail(`input '${input.name}' batch size does not match other inputs for '${m}'`);
  }
  const n = batch ?? 0;
  if (n > model.maxBatchSize) {
    throw fail(`inference request batch-size must be <= ${model.maxBatchSize} for '${m}'`);
  }
  return n;
}

function checkShape(
  input: InferTensorMessage,
  model: SimModel,
  fail: (message: string) => SimRpcError,
): void {
  const dims = model.inputs.find((t) => t.name === input.name)!.dims;
  const shape = input.shape;
  const rest = model.maxBatchSize > 0 ? shape.slice(1) : shape;
  const ok =
    shape.every((d) => d >= 0) &&
    rest.length === dims.length &&
    rest.every((d, i) => dims[i] === -1 || d === dims[i]);
  if (ok) return;
  const note = model.maxBatchSize > 0 ? ` ${SHAPE_NOTE}` : "";
  throw fail(
    `unexpected shape for input '${input.name}' for model '${model.name}'. ` +
      `Expected [${fullShape(model, dims).join(",")}], got [${shape.join(",")}].${note}`,
  );
}

/** How Triton's frontend turns `bytes_contents` into the raw length-prefixed form. */
function packBytesContents(elements: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const e of elements) size += 4 + e.byteLength;
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.byteLength, off);
    out.set(e, off + 4);
    off += 4 + e.byteLength;
  }
  return out;
}

/** Splits length-prefixed BYTES elements (uint32 LE length + bytes), requiring exactly `n` and no trailing bytes. */
function unpackBytes(
  data: Uint8Array,
  n: number,
  input: string,
  m: string,
  fail: (message: string) => SimRpcError,
): string[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: string[] = [];
  const mismatch = (detail: string): SimRpcError =>
    fail(`input byte size mismatch for input '${input}' for model '${m}'. ${detail}`);
  let off = 0;
  while (off < buf.length) {
    if (out.length === n) {
      throw mismatch(`expected ${n} elements in ${off} bytes, got ${buf.length - off} trailing bytes`);
    }
    if (buf.length - off < 4)
      throw mismatch(`${buf.length - off} trailing bytes cannot hold a length prefix`);
    const len = buf.readUInt32LE(off);
    if (len > buf.length - off - 4) {
      throw mismatch(`element ${out.length} declares ${len} bytes but only ${buf.length - off - 4} remain`);
    }
    out.push(buf.toString("utf8", off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (out.length !== n) throw mismatch(`expected ${n} elements, got ${out.length}`);
  return out;
}
