import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { errors } from "undici";
import {
  CallerAbortedError,
  DeadlineExceededError,
  mapVllmCallError,
  mapVllmHttpError,
  type VllmCallSite,
} from "../../../src/backends/vllm/errors.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { ERROR_BODIES } from "./fixtures.js";

const site: VllmCallSite = {
  backend: "teacher",
  endpoint: "http://10.0.0.7:8000",
  model: "llama-teacher",
  mode: "classify",
};
const generateSite: VllmCallSite = { ...site, mode: "generate" };

t.test("404 for the model is UNAVAILABLE: not served, whatever shape the body has", async (t) => {
  for (const body of [ERROR_BODIES.modelNotFound, ERROR_BODIES.modelNotFoundLegacy]) {
    t.match(mapVllmHttpError(404, body, site, "POST /classify"), {
      code: grpc.status.UNAVAILABLE,
      reason: "BACKEND_MODEL_UNAVAILABLE",
      message:
        "backend teacher: model 'llama-teacher' is not served by http://10.0.0.7:8000: The model `llama-8b` does not exist.",
    });
  }
  t.match(mapVllmHttpError(404, ERROR_BODIES.router, site, "POST /classify"), {
    reason: "BACKEND_MODEL_UNAVAILABLE",
    message: /not served by http:\/\/10\.0\.0\.7:8000: Model llama-8b not found\.$/,
  });
});

t.test("404 for the route is INTERNAL with a hint about the mode", async (t) => {
  t.match(mapVllmHttpError(404, ERROR_BODIES.routeNotFound, site, "POST /classify"), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_REJECTED",
    message:
      "backend teacher: http://10.0.0.7:8000 has no route POST /classify (POST /classify answered HTTP 404: Not Found); " +
      "mode classify needs a pooling server (vllm serve --runner pooling --convert classify); " +
      "for a generating server set mode: generate",
  });
  t.match(mapVllmHttpError(404, ERROR_BODIES.routeNotFound, generateSite, "POST /v1/completions"), {
    message: /for a pooling \(classifier\) server set mode: classify$/,
  });
});

t.test("501: the served model does not do this mode", async (t) => {
  t.match(mapVllmHttpError(501, ERROR_BODIES.noClassification, site, "POST /classify"), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_REJECTED",
    message:
      "backend teacher: model 'llama-teacher' on http://10.0.0.7:8000 does not support mode classify " +
      "(POST /classify answered HTTP 501: The model does not support Classification API); " +
      "mode classify needs a pooling server (vllm serve --runner pooling --convert classify); " +
      "for a generating server set mode: generate",
  });
});

t.test("400 is INTERNAL: the server rejected the request the gateway built", async (t) => {
  t.match(mapVllmHttpError(400, ERROR_BODIES.tooLong, generateSite, "POST /v1/completions"), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_REJECTED",
    message:
      "backend teacher: vllm on http://10.0.0.7:8000 rejected the request the gateway built for model 'llama-teacher': " +
      "POST /v1/completions answered HTTP 400: This model's maximum context length is 8192 tokens. " +
      "However, your request has 9001 input tokens. Please reduce the length of the input messages.",
  });
  t.match(mapVllmHttpError(422, ERROR_BODIES.validation, site, "POST /classify"), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_REJECTED",
    message: /HTTP 422: body\.model: Field required; body\.max_tokens: Input should be a valid integer$/,
  });
  t.match(mapVllmHttpError(401, '{"error":"Unauthorized"}', site, "POST /classify"), {
    code: grpc.status.INTERNAL,
    message: /refused the gateway's credentials \(POST \/classify answered HTTP 401: Unauthorized\)/,
  });
});

t.test(
  "400 for a priority the server does not schedule by: a configuration problem, not an input's",
  async (t) => {
    const err = mapVllmHttpError(400, ERROR_BODIES.priorityOff, site, "POST /classify");
    t.match(err, {
      code: grpc.status.INTERNAL,
      reason: "BACKEND_REJECTED",
      message:
        "backend teacher: vllm on http://10.0.0.7:8000 does not schedule by priority (POST /classify answered " +
        "HTTP 400: Got priority 1 but Priority scheduling is not enabled.); start it with --scheduling-policy " +
        "priority, or set backends.teacher.bandPriorities: null",
    });
    t.equal(err.inputRejection, false, "no input is to blame: the batch is not split to find one");
  },
);

t.test("5xx, 429 and 408 are UNAVAILABLE", async (t) => {
  const cases: [number, string, RegExp][] = [
    [500, ERROR_BODIES.internal, /HTTP 500: EngineCore encountered an issue/],
    [503, "", /HTTP 503: \(empty body\)$/],
    [502, ERROR_BODIES.proxy, /HTTP 502: <html>/],
    [504, "upstream timed out", /HTTP 504: upstream timed out$/],
    [429, '{"error":{"message":"too many requests","code":429}}', /HTTP 429: too many requests$/],
    [408, "", /HTTP 408/],
  ];
  for (const [httpStatus, body, message] of cases) {
    const err = mapVllmHttpError(httpStatus, body, site, "POST /classify");
    t.match(
      err,
      { code: grpc.status.UNAVAILABLE, reason: "BACKEND_UNAVAILABLE", message },
      String(httpStatus),
    );
    t.match(
      err.message,
      /^backend teacher: vllm on http:\/\/10\.0\.0\.7:8000 is unavailable: POST \/classify answered/,
    );
  }
});

t.test("transport errors", async (t) => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.7:8000"), {
    code: "ECONNREFUSED",
    errno: -111,
    syscall: "connect",
  });
  const aggregate = Object.assign(new AggregateError([refused, { ...refused, code: "ENETUNREACH" }], ""), {
    code: "ECONNREFUSED",
  });
  const aggregateNoCode = new AggregateError([refused], "");
  const cases: [string, unknown, grpc.status, string, RegExp][] = [
    [
      "refused",
      refused,
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /^backend teacher: cannot reach vllm on http:\/\/10\.0\.0\.7:8000: connect ECONNREFUSED 10\.0\.0\.7:8000 \(ECONNREFUSED\)$/,
    ],
    ["aggregate", aggregate, grpc.status.UNAVAILABLE, "BACKEND_UNAVAILABLE", /ECONNREFUSED/],
    [
      "aggregate without a code",
      aggregateNoCode,
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /ECONNREFUSED/,
    ],
    [
      "reset",
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /read ECONNRESET/,
    ],
    [
      "socket",
      new errors.SocketError("other side closed"),
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /other side closed \(UND_ERR_SOCKET\)$/,
    ],
    [
      "connect timeout",
      new errors.ConnectTimeoutError(),
      grpc.status.UNAVAILABLE,
      "BACKEND_UNAVAILABLE",
      /UND_ERR_CONNECT_TIMEOUT/,
    ],
    [
      "headers timeout",
      new errors.HeadersTimeoutError(),
      grpc.status.DEADLINE_EXCEEDED,
      "DEADLINE_EXCEEDED",
      /^backend teacher: call to http:\/\/10\.0\.0\.7:8000 exceeded its deadline/,
    ],
    [
      "body timeout",
      new errors.BodyTimeoutError(),
      grpc.status.DEADLINE_EXCEEDED,
      "DEADLINE_EXCEEDED",
      /exceeded its deadline/,
    ],
    [
      "too large",
      new errors.ResponseExceededMaxSizeError(),
      grpc.status.INTERNAL,
      "BACKEND_MALFORMED_RESPONSE",
      /the response of vllm on http:\/\/10\.0\.0\.7:8000 exceeds the size limit \(raise backends\.teacher\.maxResponseBytes/,
    ],
    ["closed", new errors.ClientClosedError(), grpc.status.UNAVAILABLE, "SHUTTING_DOWN", /is closed$/],
    ["destroyed", new errors.ClientDestroyedError(), grpc.status.UNAVAILABLE, "SHUTTING_DOWN", /is closed$/],
    [
      "other transport error",
      new errors.ResponseContentLengthMismatchError(),
      grpc.status.UNAVAILABLE,
      "BACKEND_ERROR",
      /UND_ERR_RES_CONTENT_LENGTH_MISMATCH/,
    ],
    ["a bug", new TypeError("x is not a function"), grpc.status.INTERNAL, "INTERNAL", /x is not a function$/],
  ];
  for (const [name, err, code, reason, message] of cases) {
    t.match(mapVllmCallError(err, site), { code, reason, message }, name);
  }
});

t.test("our deadline and the caller's abort", async (t) => {
  t.match(mapVllmCallError(new DeadlineExceededError(250), site), {
    code: grpc.status.DEADLINE_EXCEEDED,
    reason: "DEADLINE_EXCEEDED",
    message: "backend teacher: call to http://10.0.0.7:8000 exceeded its deadline (250 ms)",
  });
  const reason = new GatewayError("DEADLINE_EXCEEDED", "all items expired");
  t.equal(mapVllmCallError(new CallerAbortedError(reason), site), reason, "a GatewayError reason is kept");
  t.match(mapVllmCallError(new CallerAbortedError(new DOMException("aborted", "AbortError")), site), {
    code: grpc.status.CANCELLED,
    reason: "CLIENT_CANCELLED",
    message: "backend teacher: call to http://10.0.0.7:8000 cancelled",
  });
  t.equal(mapVllmCallError(reason, site), reason, "GatewayErrors pass through");
});

t.test("400 may come from one prompt: an input rejection; no other answer is", async (t) => {
  t.equal(
    mapVllmHttpError(400, ERROR_BODIES.tooLong, generateSite, "POST /v1/completions").inputRejection,
    true,
  );
  for (const httpStatus of [401, 403, 404, 408, 422, 429, 500, 501, 502, 503]) {
    t.equal(
      mapVllmHttpError(httpStatus, ERROR_BODIES.internal, site, "POST /classify").inputRejection,
      false,
      String(httpStatus),
    );
  }
  t.equal(mapVllmCallError(new DeadlineExceededError(50), site).inputRejection, false, "our deadline");
});
