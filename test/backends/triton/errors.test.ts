import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { mapTritonError } from "../../../src/backends/triton/errors.js";
import { GatewayError } from "../../../src/util/gateway-error.js";

const site = { backend: "student", endpoint: "127.0.0.1:8001", model: "reranker" };

function status(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), {
    code,
    details,
    metadata: new grpc.Metadata(),
  });
}

t.test("a model that is not loaded is UNAVAILABLE whatever code Triton used", async (t) => {
  const unknown = "[request id: b1] Request for unknown model: 'reranker' is not found";
  for (const code of [grpc.status.INVALID_ARGUMENT, grpc.status.UNAVAILABLE, grpc.status.NOT_FOUND]) {
    t.match(mapTritonError(status(code, unknown), site), {
      code: grpc.status.UNAVAILABLE,
      reason: "BACKEND_MODEL_UNAVAILABLE",
      message: `backend student: model 'reranker' is not available on 127.0.0.1:8001: ${unknown}`,
    });
  }
  t.match(mapTritonError(status(grpc.status.NOT_FOUND, "'reranker' version 3 is not found"), site), {
    reason: "BACKEND_MODEL_UNAVAILABLE",
  });
});

t.test("other statuses", async (t) => {
  const cases: [grpc.status, string, grpc.status, string, RegExp][] = [
    [
      grpc.status.INVALID_ARGUMENT,
      "unexpected shape for input 'QUERY'",
      grpc.status.INTERNAL,
      "BACKEND_REJECTED",
      /^backend student: triton on 127\.0\.0\.1:8001 rejected the request for model 'reranker': unexpected shape/,
    ],
    [
      grpc.status.UNAVAILABLE,
      "No connection established",
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /^backend student: triton on 127\.0\.0\.1:8001 is unavailable: No connection established$/,
    ],
    [
      grpc.status.UNAVAILABLE,
      "[request id: x] Exceeds maximum queue size",
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /Exceeds maximum queue size/,
    ],
    [
      grpc.status.DEADLINE_EXCEEDED,
      "Deadline exceeded",
      grpc.status.DEADLINE_EXCEEDED,
      "DEADLINE_EXCEEDED",
      /^backend student: call to 127\.0\.0\.1:8001 exceeded its deadline/,
    ],
    [
      grpc.status.RESOURCE_EXHAUSTED,
      "Received message larger than max (5000000 vs 4194304)",
      grpc.status.INTERNAL,
      "BACKEND_REJECTED",
      /exceeds the size limit/,
    ],
    [
      grpc.status.INTERNAL,
      "Response message parsing error: truncated message",
      grpc.status.INTERNAL,
      "BACKEND_MALFORMED_RESPONSE",
      /undecodable response/,
    ],
    [
      grpc.status.INTERNAL,
      "onnxruntime failed",
      grpc.status.UNAVAILABLE,
      "BACKEND_ERROR",
      /^backend student: triton on 127\.0\.0\.1:8001 failed with INTERNAL: onnxruntime failed$/,
    ],
    [
      grpc.status.CANCELLED,
      "Cancelled on server",
      grpc.status.UNAVAILABLE,
      "BACKEND_ERROR",
      /failed with CANCELLED/,
    ],
    [grpc.status.UNIMPLEMENTED, "", grpc.status.UNAVAILABLE, "BACKEND_ERROR", /failed with UNIMPLEMENTED/],
  ];
  for (const [code, details, wantCode, reason, message] of cases) {
    const err = mapTritonError(status(code, details), site);
    t.type(err, GatewayError);
    t.match(err, { code: wantCode, reason, message }, `${grpc.status[code]} ${details}`);
    t.ok(err.cause, "keeps the gRPC error as cause");
  }
});

t.test("GatewayErrors pass through; anything else is INTERNAL", async (t) => {
  const g = new GatewayError("CLIENT_CANCELLED", "gone");
  t.equal(mapTritonError(g, site), g);
  t.match(mapTritonError(new Error("boom"), site), {
    code: grpc.status.INTERNAL,
    reason: "INTERNAL",
    message: "backend student: call to 127.0.0.1:8001 failed: boom",
  });
});

t.test(
  "INTERNAL (other than a response parsing error) may come from one input: an input rejection",
  async (t) => {
    const pythonBackend =
      "Failed to process the request(s) for model instance 'relevance_student_0_0', message: " +
      "ValueError: the tokenizer cannot encode the input";
    const rejected = mapTritonError(status(grpc.status.INTERNAL, pythonBackend), site);
    t.match(rejected, {
      code: grpc.status.UNAVAILABLE,
      reason: "BACKEND_ERROR",
      inputRejection: true,
      message: `backend student: triton on 127.0.0.1:8001 failed with INTERNAL: ${pythonBackend}`,
    });
    const others: [grpc.status, string][] = [
      [grpc.status.INTERNAL, "Response message parsing error: truncated message"],
      [grpc.status.INVALID_ARGUMENT, "unexpected shape for input 'QUERY'"],
      [grpc.status.UNAVAILABLE, "No connection established"],
      [grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded"],
      [grpc.status.RESOURCE_EXHAUSTED, "Received message larger than max"],
      [grpc.status.UNKNOWN, "Stream removed"],
      [grpc.status.NOT_FOUND, "'reranker' version 3 is not found"],
    ];
    for (const [code, details] of others) {
      t.equal(
        mapTritonError(status(code, details), site).inputRejection,
        false,
        `${grpc.status[code]} ${details}`,
      );
    }
    t.equal(mapTritonError(new Error("boom"), site).inputRejection, false, "a non-gRPC error");
  },
);
