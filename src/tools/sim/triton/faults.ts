/**
 * What the Triton simulator's injected faults do to a ModelInfer call (which
 * calls are hit is decided in faults.ts): the malformed responses and the
 * connection reset. Errors, hangs and added latency need nothing beyond the
 * handler in infer.ts.
 */
import type * as grpc from "@grpc/grpc-js";
import type { ModelInferResponseMessage } from "../../../codec/index.js";

/**
 * A response broken as `kind` says (one of TRITON_MALFORMED_KINDS), each a
 * mistake a client must catch before reading scores:
 * - "missing-output": no output tensor at all (outputs and raw contents empty);
 * - "wrong-shape": shape [n, 4] with n × 4 floats (every row lost its last logit);
 * - "wrong-datatype": the right bytes, declared "FP16";
 * - "short-raw": the right shape, but the raw bytes end 4 bytes early.
 */
export function malformResponse(res: ModelInferResponseMessage, kind: string): ModelInferResponseMessage {
  const output = res.outputs[0]!;
  const bytes = res.rawOutputContents[0]!;
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (kind) {
    case "missing-output":
      return { ...res, outputs: [], rawOutputContents: [] };
    case "wrong-shape": {
      const rows = raw.length / 20;
      const out = Buffer.allocUnsafe(rows * 16);
      for (let i = 0; i < rows; i++) raw.copy(out, i * 16, i * 20, i * 20 + 16);
      const shape = [...output.shape.slice(0, -1), 4];
      return { ...res, outputs: [{ ...output, shape }], rawOutputContents: [out] };
    }
    case "wrong-datatype":
      return { ...res, outputs: [{ ...output, datatype: "FP16" }] };
    case "short-raw":
      return { ...res, rawOutputContents: [raw.subarray(0, Math.max(0, raw.length - 4))] };
    default:
      throw new RangeError(`triton sim: unknown malformation ${JSON.stringify(kind)}`);
  }
}

/**
 * What Triton's Python backend answers (gRPC INTERNAL, its default for an
 * exception raised in `execute`) when the tokenizer of `model`'s ensemble
 * raises on one input of the request: the whole request fails.
 */
export function poisonDetails(model: string): string {
  return (
    `Failed to process the request(s) for model instance '${model}_0_0', message: ` +
    "ValueError: the tokenizer cannot encode the input (injected poison)"
  );
}

/** What Triton answers (gRPC INTERNAL) for every request once its GPU has failed. */
export const SICK_GPU_DETAILS =
  "onnx runtime error 1: CUDA failure 700: an illegal memory access was encountered (injected fault)";

interface MaybeStream {
  readonly session?: { destroy?: unknown } | undefined;
}

/**
 * Destroys the HTTP/2 session (the TCP connection) `call` arrived on, as a
 * crashed proxy or a network reset would: the client sees UNAVAILABLE
 * ("Connection dropped"), and every other call on that connection fails with
 * it, as on a real reset. grpc-js has no public handle on a call's stream, so
 * this walks the server call's internal chain (`call.call`, then `nextCall`
 * through any interceptors) to the http2 stream; it returns false if a
 * grpc-js release moves it, and the caller then answers UNAVAILABLE itself.
 */
export function resetConnection(call: grpc.ServerUnaryCall<unknown, unknown>): boolean {
  let inner: unknown = (call as unknown as { call?: unknown }).call;
  for (let depth = 0; typeof inner === "object" && inner !== null && depth < 16; depth++) {
    const stream = (inner as { stream?: MaybeStream }).stream;
    const session = stream?.session;
    if (session && typeof session.destroy === "function") {
      (session.destroy as () => void).call(session);
      return true;
    }
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return false;
}
