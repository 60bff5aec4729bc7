/**
 * One readiness probe of a Triton endpoint: ServerReady, ModelReady, then
 * ModelConfig, whose max_batch_size caps the endpoint's batches and whose
 * tensors must match what the gateway sends. A probe never throws; it
 * reports ready (with the batch cap) or not-ready with a cause and a reason.
 *
 * Triton's ModelReady answers OK with `ready: false` for a model it does not
 * serve as well as for one that is loading (core `server.cc`,
 * InferenceServer::ModelIsReady, swallows GetModel's error). ModelConfig
 * still fails with the repository manager's error (core `model_lifecycle.cc`
 * GetModel, `model_repository_manager.cc`), which tells the two apart, so a
 * not-ready model is followed by ModelConfig to name the cause.
 */
import { type MethodDefinition, status } from "@grpc/grpc-js";
import type { ModelIdentity } from "../backend-client.js";
import { mapTritonError, type TritonCallSite } from "./errors.js";
import { UnaryCallError } from "./grpc-wire.js";
import { inferenceMethods, type ModelConfig, type ModelTensorConfig } from "./kserve-service.js";
import type { H2UnaryChannel, UnaryCallHandle } from "./transport.js";

export interface TensorNames {
  readonly query: string;
  readonly document: string;
  readonly output: string;
}

/**
 * Why an endpoint is not ready, a label value of the
 * `endpoint_not_ready` metric:
 * - `server_not_ready`: ServerReady is false (with Triton's default strict
 *   readiness, also while any of its models is loading or failed to load);
 * - `model_not_found`: the server does not have the model, or the version;
 * - `model_unavailable`: the model is known but has no ready version
 *   (loading, unloading, failed to load);
 * - `model_misconfigured`: the model is up but does not fit the gateway's
 *   config (tensors, batch dimension);
 * - `probe_failed`: the probe itself failed (connection, TLS, timeout...).
 */
export type NotReadyCause =
  | "server_not_ready"
  | "model_not_found"
  | "model_unavailable"
  | "model_misconfigured"
  | "probe_failed";

export type ProbeOutcome =
  | {
      readonly ready: true;
      readonly maxBatchSize: number;
      /** The model and version ModelInfer answers with, as ModelMetadata lists them; undefined when it cannot tell. */
      readonly model?: ModelIdentity | undefined;
    }
  /** `misconfigured` (cause `model_misconfigured`) is logged as an error, not a warning. */
  | {
      readonly ready: false;
      readonly cause: NotReadyCause;
      readonly reason: string;
      readonly misconfigured: boolean;
    };

export interface ProbeTarget {
  /** The endpoint's connection, the one ModelInfer uses. */
  readonly channel: H2UnaryChannel;
  readonly site: TritonCallSite;
  readonly modelVersion: string;
  readonly tensors: TensorNames;
  readonly timeoutMs: number;
  /** In-flight probe calls, so disposal can cancel them. */
  readonly calls: Set<UnaryCallHandle>;
}

function unary<Req, Res>(target: ProbeTarget, method: MethodDefinition<Req, Res>, req: Req): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const call = target.channel.call(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      undefined,
      target.timeoutMs,
      (err, res) => {
        target.calls.delete(call);
        if (err || res === undefined) reject(err ?? new Error(`${method.path} returned no message`));
        else resolve(res);
      },
    );
    target.calls.add(call);
  });
}

const notReady = (cause: NotReadyCause, reason: string): ProbeOutcome => ({
  ready: false,
  cause,
  reason,
  misconfigured: cause === "model_misconfigured",
});

export async function probeEndpoint(target: ProbeTarget): Promise<ProbeOutcome> {
  const { model } = target.site;
  const ref = { name: model, version: target.modelVersion };
  try {
    const server = await unary(target, inferenceMethods.ServerReady, {});
    if (!server.ready) return notReady("server_not_ready", "triton reports the server not ready");
    const modelReady = await unary(target, inferenceMethods.ModelReady, ref);
    if (!modelReady.ready) return await explainModelNotReady(target);
    const { config } = await unary(target, inferenceMethods.ModelConfig, ref);
    if (!config) return notReady("model_misconfigured", `ModelConfig for '${model}' returned no config`);
    const checked = checkModelConfig(config, model, target.tensors);
    if (!checked.ready) return checked;
    const metadata = await unary(target, inferenceMethods.ModelMetadata, ref);
    return { ...checked, model: servedModel(metadata, model, target.modelVersion) };
  } catch (err) {
    return fromProbeError(err, target);
  }
}

/**
 * The version a ModelInfer without a version runs: the configured one, or
 * else the highest of the versions ModelMetadata lists as available (what
 * Triton's version policies serve by default). Undefined when none is listed.
 */
function servedModel(
  metadata: { name: string; versions: string[] },
  model: string,
  configured: string,
): ModelIdentity | undefined {
  const name = metadata.name || model;
  if (configured !== "") return { name, version: configured };
  let best: string | undefined;
  for (const v of metadata.versions) {
    if (!/^[0-9]+$/.test(v)) continue;
    if (best === undefined || BigInt(v) > BigInt(best)) best = v;
  }
  return best === undefined ? undefined : { name, version: best };
}

/** ModelReady said false: ModelConfig's error says whether the model is missing or loading. */
async function explainModelNotReady(target: ProbeTarget): Promise<ProbeOutcome> {
  const ref = { name: target.site.model, version: target.modelVersion };
  try {
    await unary(target, inferenceMethods.ModelConfig, ref);
  } catch (err) {
    return fromProbeError(err, target);
  }
  // The config is there but the model is not ready: between loads, or it became ready since.
  return notReady(
    "model_unavailable",
    `${modelName(target)} is loading or unavailable on ${target.site.endpoint}: ModelReady reports it not ready`,
  );
}

function modelName(target: ProbeTarget): string {
  const version = target.modelVersion === "" ? "" : ` version ${target.modelVersion}`;
  return `model '${target.site.model}'${version}`;
}

/**
 * A failed probe RPC. Triton's words for a model it cannot serve (any
 * release: older ones answered UNAVAILABLE for all of them):
 * "Request for unknown model: 'm' is not found" and "'m' version N is not
 * found" (missing), "'m' has no available versions" and "'m' version N is
 * not at ready state" (known, not loaded).
 */
function fromProbeError(err: unknown, target: ProbeTarget): ProbeOutcome {
  if (err instanceof UnaryCallError) {
    const { details } = err;
    const modelStatus =
      err.code === status.INVALID_ARGUMENT ||
      err.code === status.NOT_FOUND ||
      err.code === status.UNAVAILABLE;
    if (modelStatus && /Request for unknown model|' version \S+ is not found/.test(details)) {
      return notReady(
        "model_not_found",
        `${modelName(target)} not found on ${target.site.endpoint}: ${details}`,
      );
    }
    if (modelStatus && /has no available versions|is not at ready state/.test(details)) {
      return notReady(
        "model_unavailable",
        `${modelName(target)} is loading or unavailable on ${target.site.endpoint}: ${details}`,
      );
    }
  }
  return notReady("probe_failed", mapTritonError(err, target.site).message);
}

function describe(tensors: readonly ModelTensorConfig[]): string {
  return tensors.map((t) => `'${t.name}'`).join(", ") || "none";
}

function dimsOk(dims: readonly number[], size: number): boolean {
  return dims.length === 1 && (dims[0] === size || dims[0] === -1);
}

/** Whether the model accepts [n,1] BYTES query/document inputs and returns an FP32 [n,5] output. */
export function checkModelConfig(config: ModelConfig, model: string, tensors: TensorNames): ProbeOutcome {
  const bad = (reason: string): ProbeOutcome => notReady("model_misconfigured", reason);
  const maxBatchSize = config.maxBatchSize;
  if (!(maxBatchSize > 0)) {
    return bad(
      `model '${model}' has max_batch_size ${maxBatchSize}: it has no batch dimension, ` +
        "but the gateway sends batches of shape [n,1]",
    );
  }
  for (const [role, name] of [
    ["query", tensors.query],
    ["document", tensors.document],
  ] as const) {
    const input = config.input.find((t) => t.name === name);
    if (!input) {
      return bad(
        `model '${model}' has no input tensor '${name}' (the ${role} input; inputs: ${describe(config.input)})`,
      );
    }
    if (input.dataType !== "TYPE_STRING") {
      return bad(`input tensor '${name}' of model '${model}' is ${input.dataType}, expected TYPE_STRING`);
    }
    if (!dimsOk(input.dims, 1)) {
      return bad(
        `input tensor '${name}' of model '${model}' has dims [${input.dims.join(",")}], expected [1]`,
      );
    }
  }
  const output = config.output.find((t) => t.name === tensors.output);
  if (!output) {
    return bad(
      `model '${model}' has no output tensor '${tensors.output}' (outputs: ${describe(config.output)})`,
    );
  }
  if (output.dataType !== "TYPE_FP32") {
    return bad(
      `output tensor '${tensors.output}' of model '${model}' is ${output.dataType}, expected TYPE_FP32`,
    );
  }
  if (!dimsOk(output.dims, 5)) {
    return bad(
      `output tensor '${tensors.output}' of model '${model}' has dims [${output.dims.join(",")}], expected [5]`,
    );
  }
  return { ready: true, maxBatchSize };
}
