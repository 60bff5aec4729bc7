/**
 * Plain TypeScript shapes of the hot protobuf messages. Field names are the
 * proto's in camelCase; absent scalar fields decode to their proto3 defaults
 * ("" / 0 / false / []).
 */

// ---- relevance.v1 -------------------------------------------------------

export interface QueryMessage {
  text: string;
  locale: string;
}

export interface DocumentMessage {
  id: string;
  title: string;
  description: string;
  imageCaption: string;
  boardTitles: string[];
  engagedQueries: string[];
  linkText: string;
  locale: string;
}

export interface ScoreRequestMessage {
  requestId: string;
  /** undefined when the field is absent on the wire. */
  query: QueryMessage | undefined;
  documents: DocumentMessage[];
  routingKey: string;
  experiment: string;
  /** Raw enum number (unknown values are kept so validation can name them). */
  priority: number;
  /** Raw enum number. */
  modelPreference: number;
}

export interface DocumentScoreMessage {
  documentId: string;
  /** 5 values; encoded as packed float (fp32). */
  probabilities: ArrayLike<number>;
  expectedRelevance: number;
  label: number;
}

export interface ModelInfoMessage {
  role: number;
  name: string;
  version: string;
  backend: string;
}

export interface ScoreResponseMessage {
  requestId: string;
  scores: DocumentScoreMessage[];
  model: ModelInfoMessage | undefined;
  route: string;
}

// ---- inference (KServe v2) ---------------------------------------------

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
