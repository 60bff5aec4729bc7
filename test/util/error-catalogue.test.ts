import { status } from "@grpc/grpc-js";
import t from "tap";
import { toGrpcStatus } from "../../src/api/errors.js";
import { ERROR_CATALOGUE, type ErrorReason, GrpcCode } from "../../src/util/error-catalogue.js";
import { GatewayError } from "../../src/util/gateway-error.js";

const reasons = Object.keys(ERROR_CATALOGUE) as ErrorReason[];

t.test("the gateway's gRPC codes are the wire's (as grpc-js numbers them)", async (t) => {
  const names = Object.keys(status).filter((k) => Number.isNaN(Number(k)));
  t.same(Object.keys(GrpcCode).sort(), names.sort(), "the same names");
  for (const name of names) {
    t.equal(GrpcCode[name as keyof typeof GrpcCode], status[name as keyof typeof status], name);
  }
});

t.test("each reason is answered with the status the API documents", async (t) => {
  // README "Status codes", written out again here.
  const documented: Record<ErrorReason, keyof typeof status> = {
    INVALID_REQUEST: "INVALID_ARGUMENT",
    DOCUMENT_REJECTED: "INVALID_ARGUMENT",
    BATCH_QUEUE_FULL: "RESOURCE_EXHAUSTED",
    DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
    CLIENT_CANCELLED: "CANCELLED",
    NO_READY_ENDPOINT: "UNAVAILABLE",
    NO_BACKEND_FOR_ROLE: "UNAVAILABLE",
    NOT_PERMITTED: "PERMISSION_DENIED",
    UNAUTHENTICATED: "UNAUTHENTICATED",
    RATE_LIMITED: "RESOURCE_EXHAUSTED",
    BACKEND_UNAVAILABLE: "UNAVAILABLE",
    BACKEND_CIRCUIT_OPEN: "UNAVAILABLE",
    BACKEND_TIMEOUT: "UNAVAILABLE",
    PREDICTED_DEADLINE_MISS: "RESOURCE_EXHAUSTED",
    EVICTED_BY_PRIORITY: "RESOURCE_EXHAUSTED",
    BACKEND_MODEL_UNAVAILABLE: "UNAVAILABLE",
    BACKEND_REJECTED: "INTERNAL",
    BACKEND_MALFORMED_RESPONSE: "INTERNAL",
    BACKEND_ERROR: "UNAVAILABLE",
    SHUTTING_DOWN: "UNAVAILABLE",
    UNSUPPORTED: "UNIMPLEMENTED",
    INTERNAL: "INTERNAL",
  };
  t.same(reasons.sort(), Object.keys(documented).sort(), "every reason has an entry");
  for (const reason of reasons) {
    const e = new GatewayError(reason, "m");
    t.equal(e.code, status[documented[reason]], `${reason} → ${documented[reason]}`);
    t.equal(toGrpcStatus(e).code, status[documented[reason]], `${reason} on the wire`);
  }
});

t.test("how each reason is treated", async (t) => {
  const retriable = ["BACKEND_UNAVAILABLE", "BACKEND_ERROR", "BACKEND_TIMEOUT", "BACKEND_CIRCUIT_OPEN"];
  const endpointFault = [
    "BACKEND_UNAVAILABLE",
    "BACKEND_ERROR",
    "BACKEND_TIMEOUT",
    "BACKEND_MALFORMED_RESPONSE",
    "BACKEND_MODEL_UNAVAILABLE",
    "INTERNAL",
  ];
  // A fallback may answer whenever the backend cannot serve now, never when the gateway itself stops.
  const fallback = [
    "NO_READY_ENDPOINT",
    "NO_BACKEND_FOR_ROLE",
    "BACKEND_UNAVAILABLE",
    "BACKEND_CIRCUIT_OPEN",
    "BACKEND_TIMEOUT",
    "BACKEND_MODEL_UNAVAILABLE",
    "BACKEND_ERROR",
  ];
  const pick = (test: (e: GatewayError) => boolean) =>
    reasons.filter((r) => test(new GatewayError(r, "m"))).sort();
  t.same(
    pick((e) => e.retriable),
    retriable.sort(),
    "retried on another endpoint",
  );
  t.same(
    pick((e) => e.endpointFault),
    endpointFault.sort(),
    "counted against the endpoint",
  );
  t.same(
    pick((e) => e.fallback),
    fallback.sort(),
    "answered by a fallback backend",
  );
});

t.test("anything thrown that is not a GatewayError is INTERNAL", async (t) => {
  const e = GatewayError.from(new TypeError("boom"));
  t.equal(e.reason, "INTERNAL");
  t.equal(e.code, status.INTERNAL);
  t.equal(e.message, "boom");
  t.type(e.cause, TypeError);
  const known = new GatewayError("BATCH_QUEUE_FULL", "full");
  t.equal(GatewayError.from(known), known, "a GatewayError is passed through");
});

t.test("toGrpcStatus: the reason as trailer, retry-after as details when the error says when", async (t) => {
  const plain = toGrpcStatus(new GatewayError("BATCH_QUEUE_FULL", "the queue is full"));
  t.equal(plain.details, "the queue is full");
  t.same(plain.metadata?.get("relevance-error-reason"), ["BATCH_QUEUE_FULL"]);
  t.same(plain.metadata?.get("retry-after-ms"), [], "no retry-after without a delay");
  t.same(plain.metadata?.get("grpc-status-details-bin"), []);

  const limited = toGrpcStatus(new GatewayError("RATE_LIMITED", "slow down", { retryAfterMs: 250 }));
  t.equal(limited.code, status.RESOURCE_EXHAUSTED);
  t.same(limited.metadata?.get("retry-after-ms"), ["250"]);
  const bin = limited.metadata?.get("grpc-status-details-bin")[0];
  t.ok(Buffer.isBuffer(bin), "a google.rpc.Status travels in the binary trailer");
  // google.rpc.Status field 1 (code, varint): tag 0x08 then 8 (RESOURCE_EXHAUSTED).
  t.same([...(bin as Buffer).subarray(0, 2)], [0x08, 8]);
});
