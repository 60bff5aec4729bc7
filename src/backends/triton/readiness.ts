/**
 * One readiness probe of a Triton endpoint: ServerReady, ModelReady, then
 * ModelConfig, whose max_batch_size caps the endpoint's batches and whose
 * tensors must match what the gateway sends. A probe never throws; it
 * reports ready (with the batch cap) or not-ready with a reason.
 */
import type { MethodDefinition } from "@grpc/grpc-js";
import type { H2UnaryChannel, UnaryCallHandle } from "./h2-unary.js";
import { inferenceMethods, type ModelConfig, type ModelTensorConfig } from "./kserve-service.js";
import { mapTritonError, type TritonCallSite } from "./mapping.js";

export interface TensorNames {
  readonly query: string;
  readonly document: string;
  readonly output: string;
}

export type ProbeOutcome =
  | { readonly ready: true; readonly maxBatchSize: number }
  /** `misconfigured`: the model is up but does not fit the gateway's config (logged as an error, not a warning). */
  | { readonly ready: false; readonly reason: string; readonly misconfigured: boolean };

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

export async function probeEndpoint(target: ProbeTarget): Promise<ProbeOutcome> {
  const { model } = target.site;
  const ref = { name: model, version: target.modelVersion };
  try {
    const server = await unary(target, inferenceMethods.ServerReady, {});
    if (!server.ready)
      return { ready: false, reason: "triton reports the server not ready", misconfigured: false };
    const modelReady = await unary(target, inferenceMethods.ModelReady, ref);
    if (!modelReady.ready) {
      return { ready: false, reason: `triton reports model '${model}' not ready`, misconfigured: false };
    }
    const { config } = await unary(target, inferenceMethods.ModelConfig, ref);
    if (!config)
      return { ready: false, reason: `ModelConfig for '${model}' returned no config`, misconfigured: true };
    return checkModelConfig(config, model, target.tensors);
  } catch (err) {
    return { ready: false, reason: mapTritonError(err, target.site).message, misconfigured: false };
  }
}

function describe(tensors: readonly ModelTensorConfig[]): string {
  return tensors.map((t) => `'${t.name}'`).join(", ") || "none";
}

function dimsOk(dims: readonly number[], size: number): boolean {
  return dims.length === 1 && (dims[0] === size || dims[0] === -1);
}

/** Whether the model accepts [n,1] BYTES query/document inputs and returns an FP32 [n,5] output. */
export function checkModelConfig(config: ModelConfig, model: string, tensors: TensorNames): ProbeOutcome {
  const bad = (reason: string): ProbeOutcome => ({ ready: false, reason, misconfigured: true });
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
