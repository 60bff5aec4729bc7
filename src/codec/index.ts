/**
 * Hand-written protobuf codec for the four hot messages, for grpc-js's
 * per-method serialize/deserialize hooks (reflection-based codecs were the
 * largest avoidable per-request cost).
 *
 * Decoders follow proto3: absent fields get defaults, the last value of a
 * scalar wins, unknown fields are skipped, repeated numbers are read packed
 * or not, enums keep their raw number. Malformed input throws CodecError.
 * Decoded `bytes` fields are views that alias the input buffer.
 *
 * Encoders write canonical proto3: fields in number order, default scalars
 * omitted, repeated numbers packed.
 */

export {
  decodeModelInferRequest,
  decodeModelInferResponse,
  encodeModelInferRequest,
  encodeModelInferResponse,
} from "./kserve-v2/infer.js";
export type * from "./kserve-v2/messages.js";
export type * from "./relevance-v1/messages.js";
export {
  DeferredScoreRequest,
  decodeScoreRequest,
  documentCount,
  encodeScoreRequest,
  takeDocuments,
} from "./relevance-v1/request.js";
export { decodeScoreResponse, encodeScoreResponse } from "./relevance-v1/response.js";
export { CodecError } from "./wire.js";
