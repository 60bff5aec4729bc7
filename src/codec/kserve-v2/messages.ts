/**
 * Plain TypeScript shapes of the hot KServe v2 (inference.GRPCInferenceService)
 * messages. Field names are the proto's in camelCase; absent scalar fields
 * decode to their proto3 defaults ("" / 0 / false / []).
 */

/** InferParameter's oneof; `bigint` is never produced, int64/uint64 decode to number. */
export type InferParameterValue =
  | { kind: "bool"; value: boolean }
  | { kind: "int64"; value: number }
  | { kind: "string"; value: string }
  | { kind: "double"; value: number }
  | { kind: "uint64"; value: number };

export interface InferTensorContentsMessage {
  boolContents: boolean[];
  intContents: number[];
  int64Contents: number[];
  uintContents: number[];
  uint64Contents: number[];
  fp32Contents: number[];
  fp64Contents: number[];
  bytesContents: Uint8Array[];
}

/** InferInputTensor and InferOutputTensor (same fields and numbers). */
export interface InferTensorMessage {
  name: string;
  datatype: string;
  /** int64 on the wire; -1 decodes to -1. */
  shape: number[];
  parameters: Record<string, InferParameterValue>;
  /** undefined when the field is absent on the wire. */
  contents: InferTensorContentsMessage | undefined;
}

export interface InferRequestedOutputMessage {
  name: string;
  parameters: Record<string, InferParameterValue>;
}

export interface ModelInferRequestMessage {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Record<string, InferParameterValue>;
  inputs: InferTensorMessage[];
  outputs: InferRequestedOutputMessage[];
  rawInputContents: Uint8Array[];
}

export interface ModelInferResponseMessage {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Record<string, InferParameterValue>;
  outputs: InferTensorMessage[];
  rawOutputContents: Uint8Array[];
}
