import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import t, { type Test } from "tap";
import type { BackendClient, CallContext } from "../../../src/backends/backend-client.js";
import { createTritonBackend, type TritonBackendOptions } from "../../../src/backends/triton/client.js";
import {
  decodeModelInferRequest,
  decodeModelInferResponse,
  encodeModelInferRequest,
  encodeModelInferResponse,
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
} from "../../../src/codec/index.js";
import { simLogits, softmax5 } from "../../../src/tools/sim/triton/scores.js";
import {
  createTritonSim,
  type TritonSim,
  type TritonSimOptions,
} from "../../../src/tools/sim/triton/server.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { waitFor } from "../../helpers/triton-raw-client.js";

interface LogLine {
  level: number;
  msg: string;
  backend?: string;
  endpoint?: string;
  reason?: string;
}

function captureLogs() {
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

async function startSim(t: Test, opts: TritonSimOptions = {}): Promise<TritonSim> {
  const sim = await createTritonSim({ port: 0, ...opts });
  t.teardown(() => sim.close());
  return sim;
}

function backend(
  t: Test,
  opts: Partial<TritonBackendOptions> & { endpoints: readonly string[] },
): BackendClient {
  const client = createTritonBackend({
    name: "student",
    model: "relevance_student",
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
    ...opts,
  });
  t.teardown(() => client[Symbol.asyncDispose]());
  return client;
}

function ctx(extra: Partial<CallContext> = {}): CallContext {
  return { signal: new AbortController().signal, ...extra };
}

const QUERIES = ["red running shoes", "Café crème", "日本 料理", "", "emoji 👟 shoes"];
const DOCUMENTS = [
  "Red shoes for running",
  "CAFÉ au lait",
  "日本の料理 レシピ",
  "empty query",
  "👟 running shoes",
];

function expectProbabilities(t: Test, got: Float32Array, queries: string[], documents: string[]): void {
  t.equal(got.length, queries.length * 5);
  let worst = 0;
  for (const [i, q] of queries.entries()) {
    const want = softmax5(simLogits(q, documents[i]!));
    for (let k = 0; k < 5; k++) worst = Math.max(worst, Math.abs(got[i * 5 + k]! - want[k]!));
  }
  t.ok(worst < 1e-6, `max deviation ${worst}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test("scores a batch against the simulator and learns max_batch_size", async (t) => {
  const sim = await startSim(t);
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [sim.address], logger, configuredMaxBatchSize: 256 });
  t.equal(client.kind, "triton");
  t.equal(client.isReady(), false);
  t.match(client.endpoints(), [{ id: sim.address, state: "unknown", maxBatchSize: undefined }]);
  await client.start();
  t.equal(client.isReady(), true);
  const [ep] = client.endpoints();
  t.match(ep, { state: "ready", maxBatchSize: 64 });

  const res = await ep!.infer({ queries: QUERIES, documents: DOCUMENTS }, ctx({ batchId: "b-1" }));
  expectProbabilities(t, res.probabilities, QUERIES, DOCUMENTS);
  t.same(res.model, { name: "relevance_student", version: "1" });
  t.match(sim.stats(), { requests: 1, items: QUERIES.length });

  const caps = lines.filter((l) => l.msg.includes("exceeds Triton's max_batch_size"));
  t.equal(caps.length, 1);
  t.equal(
    caps[0]?.msg,
    "backends.student.batching.maxBatchSize 256 exceeds Triton's max_batch_size 64 for model 'relevance_student'; batches are capped at 64",
  );
  t.ok(lines.some((l) => l.msg === "triton endpoint ready" && l.backend === "student"));
});

t.test("a probabilities output is validated and renormalised", async (t) => {
  const sim = await startSim(t, { models: [{ name: "relevance_student", outputKind: "probabilities" }] });
  const client = backend(t, { endpoints: [sim.address], outputKind: "probabilities" });
  const res = await client.endpoints()[0]!.infer({ queries: QUERIES, documents: DOCUMENTS }, ctx());
  expectProbabilities(t, res.probabilities, QUERIES, DOCUMENTS);
});

t.test("an unknown model is UNAVAILABLE and not ready", async (t) => {
  const sim = await startSim(t);
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [sim.address], model: "nope", logger });
  await client.start();
  t.equal(client.isReady(), false);
  t.match(client.endpoints()[0], { state: "not-ready" });
  // ModelReady answers ready: false; ModelConfig tells a missing model from one that is loading.
  const reason = `model 'nope' not found on ${sim.address}: Request for unknown model: 'nope' is not found`;
  t.ok(
    lines.some((l) => l.level === 40 && l.msg === "triton endpoint not ready" && l.reason === reason),
    "the log names the missing model",
  );
  t.same(client.endpoints()[0]?.notReady, { cause: "model_not_found", reason });
  const err = await client
    .endpoints()[0]!
    .infer({ queries: ["q"], documents: ["d"] }, ctx())
    .catch((e) => e);
  t.type(err, GatewayError);
  t.match(err, {
    code: grpc.status.UNAVAILABLE,
    reason: "BACKEND_MODEL_UNAVAILABLE",
    message: `backend student: model 'nope' is not available on ${sim.address}: [request id: <id_unknown>] Request for unknown model: 'nope' is not found`,
  });
});

t.test("a model that is loading is not ready, named as loading, and ready once loaded", async (t) => {
  const sim = await startSim(t, { strictReadiness: false });
  sim.setModelReady("relevance_student", false);
  const clock = new FakeClock();
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [sim.address], clock, logger, readiness: { intervalMs: 1000 } });
  await client.start();
  t.equal(client.isReady(), false);
  const reason =
    `model 'relevance_student' is loading or unavailable on ${sim.address}: ` +
    "'relevance_student' has no available versions";
  t.same(client.endpoints()[0]?.notReady, { cause: "model_unavailable", reason });
  t.ok(
    lines.some((l) => l.level === 40 && l.reason === reason),
    "the log says the model is loading",
  );
  sim.setModelReady("relevance_student", true);
  await clock.advance(1000);
  await waitFor(() => client.isReady(), "ready once loaded");
  t.equal(client.endpoints()[0]?.notReady, undefined);
});

t.test("a version the server does not have is named as not found", async (t) => {
  const sim = await startSim(t);
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [sim.address], logger, modelVersion: "3" });
  await client.start();
  const reason = `model 'relevance_student' version 3 not found on ${sim.address}: 'relevance_student' version 3 is not found`;
  t.same(client.endpoints()[0]?.notReady, { cause: "model_not_found", reason });
  t.ok(lines.some((l) => l.level === 40 && l.reason === reason));
});

t.test("a misconfigured output tensor is INTERNAL naming the tensor", async (t) => {
  const sim = await startSim(t, { models: [{ name: "relevance_student", tensors: { output: "PROBS" } }] });
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [sim.address], logger });
  await client.start();
  t.match(client.endpoints()[0], { state: "not-ready" });
  const logged = lines.find((l) => l.level === 50);
  t.match(logged?.reason, /no output tensor 'LOGITS' \(outputs: 'PROBS'\)/);
  const err = await client
    .endpoints()[0]!
    .infer({ queries: ["q"], documents: ["d"] }, ctx())
    .catch((e) => e);
  t.match(err, {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_REJECTED",
    message: /unexpected inference output 'LOGITS'/,
  });
  t.match(err.message, new RegExp(`^backend student: triton on ${sim.address} rejected`));
});

t.test("misconfigured tensors and a missing batch dimension make the endpoint not ready", async (t) => {
  const sim = await startSim(t, {
    models: [{ name: "relevance_student" }, { name: "flat", maxBatchSize: 0 }],
  });
  const { logger, lines } = captureLogs();
  const wrongInput = backend(t, { endpoints: [sim.address], logger, tensors: { document: "DOC" } });
  const flat = backend(t, { endpoints: [sim.address], logger, model: "flat" });
  await Promise.all([wrongInput.start(), flat.start()]);
  t.equal(wrongInput.isReady(), false);
  t.equal(flat.isReady(), false);
  t.equal(flat.endpoints()[0]?.maxBatchSize, undefined);
  const errors = lines.filter((l) => l.level === 50).map((l) => l.reason);
  t.ok(errors.some((r) => /no input tensor 'DOC'/.test(r ?? "")));
  t.ok(errors.some((r) => /model 'flat' has max_batch_size 0/.test(r ?? "")));
});

t.test("a server that is not listening is UNAVAILABLE", async (t) => {
  const address = `127.0.0.1:${await freePort()}`;
  const client = backend(t, { endpoints: [address] });
  await client.start();
  t.match(client.endpoints()[0], { state: "not-ready", maxBatchSize: undefined });
  const err = await client
    .endpoints()[0]!
    .infer({ queries: ["q"], documents: ["d"] }, ctx())
    .catch((e) => e);
  t.match(err, { code: grpc.status.UNAVAILABLE, reason: "BACKEND_UNAVAILABLE" });
  t.match(err.message, `backend student: triton on ${address} is unavailable`);
});

t.test("readiness follows the server on every probe interval", async (t) => {
  const sim = await startSim(t);
  const clock = new FakeClock();
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [sim.address], clock, logger, readiness: { intervalMs: 1000 } });
  await client.start();
  t.equal(client.isReady(), true);
  sim.setReady(false);
  await clock.advance(999);
  t.equal(client.isReady(), true, "no probe before the interval");
  await clock.advance(1);
  await waitFor(() => !client.isReady(), "not ready");
  sim.setReady(true);
  await clock.advance(1000);
  await waitFor(() => client.isReady(), "ready again");
  t.ok(lines.some((l) => l.level === 40 && l.reason === "triton reports the server not ready"));
  await client[Symbol.asyncDispose]();
  t.equal(clock.pendingTimers, 0, "probing stops on dispose");
  const err = await client
    .endpoints()[0]!
    .infer({ queries: ["q"], documents: ["d"] }, ctx())
    .catch((e) => e);
  t.match(err, { reason: "SHUTTING_DOWN" });
});

t.test("aborting the signal cancels the call", async (t) => {
  const sim = await startSim(t, { clock: new FakeClock() }); // batches never finish
  const client = backend(t, { endpoints: [sim.address] });
  const [ep] = client.endpoints();
  const first = new AbortController();
  const busy = ep!.infer({ queries: ["a"], documents: ["a"] }, { signal: first.signal });
  await waitFor(() => sim.stats().executing === 1, "first batch executing");

  const second = new AbortController();
  const queued = ep!.infer({ queries: ["b", "c"], documents: ["b", "c"] }, { signal: second.signal });
  await waitFor(() => sim.stats().queued === 1, "second batch queued");
  const reason = new GatewayError("DEADLINE_EXCEEDED", "all items expired");
  second.abort(reason);
  await t.rejects(queued, reason);
  await waitFor(() => sim.stats().queued === 0, "the simulator saw the cancellation");
  t.match(sim.stats(), { items: 1, failures: 1 });

  first.abort();
  await t.rejects(busy, { code: grpc.status.CANCELLED, reason: "CLIENT_CANCELLED" });
  const pre = new AbortController();
  pre.abort(reason);
  await t.rejects(ep!.infer({ queries: ["x"], documents: ["x"] }, { signal: pre.signal }), reason);
});

t.test("the call deadline comes from the context, else timeoutMs", async (t) => {
  const sim = await startSim(t, { clock: new FakeClock() });
  const client = backend(t, { endpoints: [sim.address], timeoutMs: 200 });
  const [ep] = client.endpoints();
  await t.rejects(ep!.infer({ queries: ["a"], documents: ["a"] }, ctx({ timeoutMs: 100 })), {
    code: grpc.status.DEADLINE_EXCEEDED,
    reason: "DEADLINE_EXCEEDED",
  });
  await t.rejects(ep!.infer({ queries: ["a"], documents: ["a"] }, ctx()), {
    code: grpc.status.DEADLINE_EXCEEDED,
  });
  await t.rejects(ep!.infer({ queries: ["a"], documents: ["a"] }, ctx({ timeoutMs: 0 })), {
    code: grpc.status.DEADLINE_EXCEEDED,
    reason: "DEADLINE_EXCEEDED",
  });
});

t.test("messages above maxMessageBytes fail as INTERNAL", async (t) => {
  const sim = await startSim(t);
  const client = backend(t, { endpoints: [sim.address], maxMessageBytes: 1024 });
  const err = await client
    .endpoints()[0]!
    .infer({ queries: ["q"], documents: ["x".repeat(4096)] }, ctx())
    .catch((e) => e);
  t.match(err, { code: grpc.status.INTERNAL, reason: "BACKEND_REJECTED", message: /exceeds the size limit/ });
  t.equal(sim.stats().requests, 0);
});

// ---- a hand-rolled server for responses the simulator never sends ----

type Respond = (req: ModelInferRequestMessage) => ModelInferResponseMessage;

async function fakeTriton(
  t: Test,
  respond: Respond,
): Promise<{ address: string; requests: ModelInferRequestMessage[] }> {
  const requests: ModelInferRequestMessage[] = [];
  const server = new grpc.Server();
  server.addService(
    {
      ModelInfer: {
        path: "/inference.GRPCInferenceService/ModelInfer",
        requestStream: false,
        responseStream: false,
        requestSerialize: encodeModelInferRequest,
        requestDeserialize: decodeModelInferRequest,
        responseSerialize: encodeModelInferResponse,
        responseDeserialize: decodeModelInferResponse,
      },
    },
    {
      ModelInfer: (
        call: grpc.ServerUnaryCall<ModelInferRequestMessage, ModelInferResponseMessage>,
        cb: grpc.sendUnaryData<ModelInferResponseMessage>,
      ) => {
        requests.push(call.request);
        cb(null, respond(call.request));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  t.teardown(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, requests };
}

function logitsResponse(
  n: number,
  overrides: Partial<ModelInferResponseMessage> = {},
): ModelInferResponseMessage {
  // One leading byte so the float data starts at an odd offset of its buffer.
  const raw = Buffer.alloc(1 + n * 20).subarray(1);
  for (let i = 0; i < n * 5; i++) raw.writeFloatLE(i % 5, i * 4);
  return {
    modelName: "",
    modelVersion: "3",
    id: "",
    parameters: {},
    outputs: [
      { name: "OTHER", datatype: "INT64", shape: [n], parameters: {}, contents: undefined },
      { name: "LOGITS", datatype: "FP32", shape: [n, 5], parameters: {}, contents: undefined },
    ],
    rawOutputContents: [Buffer.alloc(8 * n), raw],
    ...overrides,
  };
}

t.test("the request carries BYTES tensors [n,1] and the batch id; the output is found by name", async (t) => {
  const fake = await fakeTriton(t, (req) => logitsResponse(req.inputs[0]!.shape[0]!));
  const client = backend(t, { endpoints: [fake.address], modelVersion: "3" });
  const res = await client
    .endpoints()[0]!
    .infer({ queries: QUERIES, documents: DOCUMENTS }, ctx({ batchId: "b-9" }));
  const req = fake.requests[0]!;
  t.match(req, {
    modelName: "relevance_student",
    modelVersion: "3",
    id: "b-9",
    outputs: [{ name: "LOGITS" }],
  });
  t.match(req.inputs, [
    { name: "QUERY", datatype: "BYTES", shape: [5, 1], contents: undefined },
    { name: "DOCUMENT", datatype: "BYTES", shape: [5, 1], contents: undefined },
  ]);
  const unpack = (raw: Uint8Array): string[] => {
    const buf = Buffer.from(raw);
    const out: string[] = [];
    for (let off = 0; off < buf.length; ) {
      const len = buf.readUInt32LE(off);
      out.push(buf.toString("utf8", off + 4, off + 4 + len));
      off += 4 + len;
    }
    return out;
  };
  t.same(unpack(req.rawInputContents[0]!), QUERIES);
  t.same(unpack(req.rawInputContents[1]!), DOCUMENTS);
  t.same(
    res.model,
    { name: "relevance_student", version: "3" },
    "an empty model_name falls back to the config",
  );
  const want = softmax5([0, 1, 2, 3, 4]);
  for (let k = 0; k < 5; k++) t.ok(Math.abs(res.probabilities[20 + k]! - want[k]!) < 1e-6);
});

t.test("a batch's band is sent as Triton's priority parameter, by bandPriorities", async (t) => {
  const fake = await fakeTriton(t, (req) => logitsResponse(req.inputs[0]!.shape[0]!));
  const sent = async (client: BackendClient, band: CallContext["band"]) => {
    await client.endpoints()[0]!.infer({ queries: ["q"], documents: ["d"] }, ctx({ band }));
    return fake.requests.at(-1)!.parameters;
  };
  const defaults = backend(t, { endpoints: [fake.address] });
  t.same(await sent(defaults, "interactive"), { priority: { kind: "int64", value: 1 } }, "interactive: 1");
  t.same(await sent(defaults, "bulk"), { priority: { kind: "int64", value: 2 } }, "bulk: 2");
  t.same(await sent(defaults, "background"), { priority: { kind: "int64", value: 3 } }, "background: 3");
  t.same(await sent(defaults, undefined), {}, "a call without a band sends none");
  const custom = backend(t, {
    endpoints: [fake.address],
    bandPriorities: { interactive: 4, bulk: 9, background: 0 },
  });
  t.same(await sent(custom, "bulk"), { priority: { kind: "int64", value: 9 } }, "the configured level");
  t.same(await sent(custom, "background"), { priority: { kind: "int64", value: 0 } }, "0: the default level");
  const off = backend(t, { endpoints: [fake.address], bandPriorities: null });
  t.same(await sent(off, "interactive"), {}, "null: no priority sent");
});

t.test("malformed responses are INTERNAL naming the tensor", async (t) => {
  const cases: [string, (n: number) => ModelInferResponseMessage, RegExp][] = [
    [
      "missing output",
      (n) => ({ ...logitsResponse(n), outputs: logitsResponse(n).outputs.slice(0, 1) }),
      /no output 'LOGITS' \(outputs: 'OTHER'\)/,
    ],
    [
      "wrong shape",
      (n) => {
        const r = logitsResponse(n);
        r.outputs[1]!.shape = [n, 4];
        return r;
      },
      /output 'LOGITS' with shape \[2,4\], expected \[2,5\]/,
    ],
    [
      "wrong datatype",
      (n) => {
        const r = logitsResponse(n);
        r.outputs[1]!.datatype = "FP16";
        return r;
      },
      /output 'LOGITS' with datatype FP16, expected FP32/,
    ],
    [
      "missing raw contents",
      (n) => ({ ...logitsResponse(n), rawOutputContents: logitsResponse(n).rawOutputContents.slice(0, 1) }),
      /no raw_output_contents for output 'LOGITS'/,
    ],
    [
      "short raw contents",
      (n) => ({ ...logitsResponse(n), rawOutputContents: [Buffer.alloc(8), Buffer.alloc(n * 20 - 4)] }),
      /36 bytes for output 'LOGITS', expected 40/,
    ],
    [
      "non-finite logits",
      (n) => {
        const raw = Buffer.alloc(n * 20);
        raw.writeFloatLE(Number.NaN, 8);
        return { ...logitsResponse(n), rawOutputContents: [Buffer.alloc(8), raw] };
      },
      /invalid logit NaN in output 'LOGITS' row 0/,
    ],
  ];
  for (const [name, respond, message] of cases) {
    const fake = await fakeTriton(t, (req) => respond(req.inputs[0]!.shape[0]!));
    const client = backend(t, { endpoints: [fake.address] });
    const err = await client
      .endpoints()[0]!
      .infer({ queries: ["a", "b"], documents: ["c", "d"] }, ctx())
      .catch((e) => e);
    t.match(err, { code: grpc.status.INTERNAL, reason: "BACKEND_MALFORMED_RESPONSE", message }, name);
    t.match(err.message, `backend student on ${fake.address}: triton returned`, name);
  }
});

t.test("negative probabilities are rejected", async (t) => {
  const fake = await fakeTriton(t, (req) => {
    const n = req.inputs[0]!.shape[0]!;
    const raw = Buffer.alloc(n * 20);
    raw.writeFloatLE(-0.5, 4);
    return { ...logitsResponse(n), rawOutputContents: [Buffer.alloc(8), raw] };
  });
  const client = backend(t, { endpoints: [fake.address], outputKind: "probabilities" });
  const err = await client
    .endpoints()[0]!
    .infer({ queries: ["a"], documents: ["b"] }, ctx())
    .catch((e) => e);
  t.match(err, {
    reason: "BACKEND_MALFORMED_RESPONSE",
    message: /invalid probability -0.5 in output 'LOGITS'/,
  });
});
