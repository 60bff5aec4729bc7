/**
 * The `inference.GRPCInferenceService` method table shared by the Triton
 * backend client and the Triton simulator.
 *
 * ModelInfer, the hot RPC, (de)serialises with the hand-written codec
 * (`src/codec`), whose bytes fields decode as zero-copy views of the received
 * frame. The cold RPCs (readiness, metadata, config) use proto-loader's
 * generated serialisers, loaded from the repository's `proto/` with:
 * - `keepCase: false`: camelCase fields, the same naming as the codec's shapes;
 * - `longs: Number`: int64 dims and uint64 batcher fields are small, and plain
 *   numbers compare naturally (`dims: [5]`);
 * - `enums: String`: DataType values read as "TYPE_FP32", the names Triton
 *   itself prints in its messages and config files (encoding accepts names
 *   or numbers);
 * - `defaults: true`: absent proto3 scalars decode to their defaults, which
 *   matters for `max_batch_size: 0` (no batch dimension);
 * - `oneofs: true`: exposes which scheduling choice a config sets.
 */
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ModelInferRequestMessage, ModelInferResponseMessage } from "../../codec/index.js";
import {
  decodeModelInferRequest,
  decodeModelInferResponse,
  encodeModelInferRequest,
  encodeModelInferResponse,
} from "../../codec/index.js";
import { PROTO_DIR } from "../../util/proto-path.js";

export const INFERENCE_SERVICE_NAME = "inference.GRPCInferenceService";

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

// ---- cold message shapes, as proto-loader decodes them with the options above ----

export type Empty = Record<string, never>;

export interface ReadyResponse {
  ready: boolean;
}
export interface ServerLiveResponse {
  live: boolean;
}
export interface ModelRef {
  name: string;
  version: string;
}
export interface ServerMetadataResponse {
  name: string;
  version: string;
  extensions: string[];
}
export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}
export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}
export interface ModelTensorConfig {
  name: string;
  /** "TYPE_STRING", "TYPE_FP32", ... */
  dataType: string;
  dims: number[];
}
export interface ModelInstanceGroupConfig {
  name?: string;
  count: number;
  kind?: string;
}
export interface ModelConfig {
  name: string;
  platform: string;
  backend: string;
  maxBatchSize: number;
  input: ModelTensorConfig[];
  output: ModelTensorConfig[];
  instanceGroup?: ModelInstanceGroupConfig[];
  /** An empty object enables Triton's default dynamic batcher. */
  dynamicBatching?: Record<string, unknown> | null;
}
export interface ModelConfigResponse {
  /** null when absent on the wire. */
  config: ModelConfig | null;
}

/** The methods with their message types; `path` is the full gRPC method path. */
export interface InferenceMethods {
  ServerLive: MethodDefinition<Empty, ServerLiveResponse>;
  ServerReady: MethodDefinition<Empty, ReadyResponse>;
  ModelReady: MethodDefinition<ModelRef, ReadyResponse>;
  ServerMetadata: MethodDefinition<Empty, ServerMetadataResponse>;
  ModelMetadata: MethodDefinition<ModelRef, ModelMetadataResponse>;
  ModelConfig: MethodDefinition<ModelRef, ModelConfigResponse>;
  ModelInfer: MethodDefinition<ModelInferRequestMessage, ModelInferResponseMessage>;
}

function load(): InferenceMethods {
  const pkg = protoLoader.loadSync("inference/grpc_service.proto", PROTO_LOADER_OPTIONS);
  const generated = pkg[INFERENCE_SERVICE_NAME] as protoLoader.ServiceDefinition | undefined;
  if (!generated)
    throw new Error(`${INFERENCE_SERVICE_NAME} is missing from proto/inference/grpc_service.proto`);
  // proto-loader's method definitions are structurally grpc-js ones; only the
  // message types are ours to assert.
  const method = <Req, Res>(name: string): MethodDefinition<Req, Res> => {
    const def = generated[name];
    if (!def) throw new Error(`${INFERENCE_SERVICE_NAME}/${name} is missing from the proto`);
    return def as unknown as MethodDefinition<Req, Res>;
  };
  const modelInfer = method<ModelInferRequestMessage, ModelInferResponseMessage>("ModelInfer");
  return {
    ServerLive: method("ServerLive"),
    ServerReady: method("ServerReady"),
    ModelReady: method("ModelReady"),
    ServerMetadata: method("ServerMetadata"),
    ModelMetadata: method("ModelMetadata"),
    ModelConfig: method("ModelConfig"),
    ModelInfer: {
      ...modelInfer,
      requestSerialize: encodeModelInferRequest,
      requestDeserialize: decodeModelInferRequest,
      responseSerialize: encodeModelInferResponse,
      responseDeserialize: decodeModelInferResponse,
    },
  };
}

/** Loaded once per process. */
export const inferenceMethods: InferenceMethods = load();

/** For `server.addService(inferenceServiceDefinition, impl)`; the impl is keyed by the proto's method names. */
export const inferenceServiceDefinition: ServiceDefinition = { ...inferenceMethods };
