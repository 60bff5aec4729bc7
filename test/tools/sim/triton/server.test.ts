import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t, { type Test } from "tap";
import type { InferParameterValue, ModelInferRequestMessage } from "../../../../src/codec/index.js";
import { simLogits, softmax5 } from "../../../../src/tools/sim/triton/scores.js";
import { createTritonSim, type TritonSimOptions } from "../../../../src/tools/sim/triton/server.js";
import { FakeClock } from "../../../helpers/fake-clock.js";
import {
  bytesInput,
  ColdClient,
  packStrings,
  pairRequest,
  rawInfer,
  readFloats,
  waitFor,
} from "../../../helpers/triton-raw-client.js";

async function startSim(t: Test, opts: TritonSimOptions = {}) {
  const sim = await createTritonSim({ port: 0, ...opts });
  const client = new grpc.Client(sim.address, grpc.credentials.createInsecure());
  const cold = new ColdClient(sim.address);
  t.teardown(async () => {
    client.close();
    cold.close();
    await sim.close();
  });
  return { sim, client, cold };
}

const QUERIES = ["red running shoes", "Café crème", "日本 料理", ""];
const DOCUMENTS = ["Red shoes for running", "CAFÉ au lait", "日本の料理 レシピ", "empty query"];

t.test("readiness, metadata, config and health", async (t) => {
  const { sim, cold } = await startSim(t, { cost: { instances: 3 } });
  t.match(sim.address, /^127\.0\.0\.1:\d+$/);
  t.same(await cold.call("ServerLive"), { live: true });
  t.same(await cold.call("ServerReady"), { ready: true });
  t.same(await cold.call("ModelReady", { name: "relevance_student", version: "" }), { ready: true });
  const meta = await cold.call("ServerMetadata");
  t.equal(meta.name, "triton");
  t.ok((meta.extensions as string[]).includes("model_configuration"));

  // Triton's ModelReady answers OK with ready: false for a model or version it does not serve.
  t.same(await cold.call("ModelReady", { name: "nope", version: "" }), { ready: false });
  t.same(await cold.call("ModelReady", { name: "relevance_student", version: "7" }), { ready: false });
  await t.rejects(cold.call("ModelReady", { name: "relevance_student", version: "one" }), {
    code: grpc.status.INVALID_ARGUMENT,
    details:
      "failed to get model version from specified version string 'one' (details: stol), version should be an integral value > 0",
  });
  await t.rejects(cold.call("ModelConfig", { name: "nope" }), {
    code: grpc.status.INVALID_ARGUMENT,
    details: "Request for unknown model: 'nope' is not found",
  });
  await t.rejects(cold.call("ModelConfig", { name: "relevance_student", version: "7" }), {
    code: grpc.status.NOT_FOUND,
    details: "'relevance_student' version 7 is not found",
  });

  const md = await cold.call("ModelMetadata", { name: "relevance_student" });
  t.match(md, {
    name: "relevance_student",
    versions: ["1"],
    inputs: [
      { name: "QUERY", datatype: "BYTES", shape: [-1, 1] },
      { name: "DOCUMENT", datatype: "BYTES", shape: [-1, 1] },
    ],
    outputs: [{ name: "LOGITS", datatype: "FP32", shape: [-1, 5] }],
  });

  const { config } = await cold.call<{ config: Record<string, unknown> }>("ModelConfig", {
    name: "relevance_student",
  });
  t.match(config, {
    name: "relevance_student",
    platform: "ensemble",
    maxBatchSize: 64,
    input: [
      { name: "QUERY", dataType: "TYPE_STRING", dims: [1] },
      { name: "DOCUMENT", dataType: "TYPE_STRING", dims: [1] },
    ],
    output: [{ name: "LOGITS", dataType: "TYPE_FP32", dims: [5] }],
    instanceGroup: [{ count: 3 }],
    dynamicBatching: {},
  });

  const healthDef = protoLoader.loadSync("health/v1/health.proto", {
    enums: String,
    includeDirs: [
      fileURLToPath(new URL("../../../../node_modules/grpc-health-check/proto/", import.meta.url)),
    ],
  });
  const healthPkg = grpc.loadPackageDefinition(healthDef) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => grpc.Client } } };
  };
  const health = new healthPkg.grpc.health.v1.Health(
    sim.address,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & {
    check(req: unknown, cb: (err: Error | null, res: { status: string | number }) => void): void;
  };
  t.teardown(() => health.close());
  const check = () =>
    new Promise<{ status: string | number }>((resolve, reject) =>
      health.check({ service: "" }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  t.same(await check(), { status: "SERVING" });
  sim.setReady(false);
  t.same(await check(), { status: "NOT_SERVING" });
  t.same(await cold.call("ServerReady"), { ready: false });
});

t.test(
  "a model that is not ready: ModelReady false, Triton's errors from ModelConfig and ModelInfer",
  async (t) => {
    const { sim, cold, client } = await startSim(t);
    sim.setModelReady("relevance_student", false);
    t.same(await cold.call("ModelReady", { name: "relevance_student", version: "" }), { ready: false });
    // Strict readiness (Triton's default): the server is not ready while one of its models is not.
    t.same(await cold.call("ServerReady"), { ready: false });
    await t.rejects(cold.call("ModelConfig", { name: "relevance_student", version: "" }), {
      code: grpc.status.NOT_FOUND,
      details: "'relevance_student' has no available versions",
    });
    await t.rejects(cold.call("ModelMetadata", { name: "relevance_student", version: "1" }), {
      code: grpc.status.UNAVAILABLE,
      details: "'relevance_student' version 1 is not at ready state",
    });
    await t.rejects(rawInfer(client, pairRequest(["q"], ["d"], { id: "b1" })).result, {
      code: grpc.status.NOT_FOUND,
      details: "[request id: b1] 'relevance_student' has no available versions",
    });
    sim.setModelReady("relevance_student", true);
    t.same(await cold.call("ModelReady", { name: "relevance_student", version: "1" }), { ready: true });
    t.same(await cold.call("ServerReady"), { ready: true });
    t.throws(() => sim.setModelReady("nope", false), RangeError);
  },
);

t.test("without strict readiness the server stays ready while a model is not", async (t) => {
  const { sim, cold } = await startSim(t, { strictReadiness: false });
  sim.setModelReady("relevance_student", false);
  t.same(await cold.call("ServerReady"), { ready: true });
  t.same(await cold.call("ModelReady", { name: "relevance_student", version: "" }), { ready: false });
});

t.test("ModelInfer scores each pair with simLogits", async (t) => {
  const { sim, client } = await startSim(t);
  const res = await rawInfer(client, pairRequest(QUERIES, DOCUMENTS, { id: "batch-7" })).result;
  t.equal(res.modelName, "relevance_student");
  t.equal(res.modelVersion, "1");
  t.equal(res.id, "batch-7");
  t.equal(res.outputs.length, 1);
  t.match(res.outputs[0], { name: "LOGITS", datatype: "FP32", shape: [4, 5] });
  t.same(
    readFloats(res.rawOutputContents[0]!),
    QUERIES.flatMap((q, i) => simLogits(q, DOCUMENTS[i]!)),
  );
  t.match(sim.stats(), { requests: 1, items: 4, maxBatchSeen: 4, batchSizes: [4], failures: 0 });
});

t.test("bytes_contents input and requested outputs are supported", async (t) => {
  const { client } = await startSim(t);
  const contents = (texts: string[]) => ({
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: texts.map((s) => Buffer.from(s)),
  });
  const req = pairRequest(["a b"], ["b c"], {
    inputs: [
      bytesInput("DOCUMENT", 1, { contents: contents(["b c"]) }),
      bytesInput("QUERY", 1, { contents: contents(["a b"]) }),
    ],
    rawInputContents: [],
    outputs: [{ name: "LOGITS", parameters: {} }],
  });
  const res = await rawInfer(client, req).result;
  t.same(readFloats(res.rawOutputContents[0]!), simLogits("a b", "b c"));
});

t.test("outputKind probabilities returns softmax5 rows", async (t) => {
  const { client } = await startSim(t, {
    models: [{ name: "relevance_student", outputKind: "probabilities" }],
  });
  const res = await rawInfer(client, pairRequest(QUERIES, DOCUMENTS)).result;
  const got = readFloats(res.rawOutputContents[0]!);
  const want = QUERIES.flatMap((q, i) => softmax5(simLogits(q, DOCUMENTS[i]!)));
  for (const [i, v] of want.entries()) t.ok(Math.abs(got[i]! - v) < 1e-6, `value ${i}`);
});

t.test("validation errors match Triton's codes and messages", async (t) => {
  const { sim, client } = await startSim(t, { metricsPort: 0 });
  const ok = pairRequest(["q1", "q2"], ["d1", "d2"], { id: "r1" });
  const P = "[request id: r1] ";
  const SHAPE_NOTE = "NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension";
  const cases: [string, Partial<ModelInferRequestMessage>, grpc.status, string | { startsWith: string }][] = [
    [
      "unknown model",
      { modelName: "nope" },
      grpc.status.INVALID_ARGUMENT,
      `${P}Request for unknown model: 'nope' is not found`,
    ],
    [
      "unknown version",
      { modelVersion: "2" },
      grpc.status.NOT_FOUND,
      `${P}'relevance_student' version 2 is not found`,
    ],
    [
      "unknown input",
      { inputs: [bytesInput("QUERY", 2), bytesInput("DOC", 2)] },
      grpc.status.INVALID_ARGUMENT,
      `${P}unexpected inference input 'DOC' for model 'relevance_student'`,
    ],
    [
      "missing input",
      { inputs: [bytesInput("QUERY", 2)], rawInputContents: [packStrings(["q1", "q2"])] },
      grpc.status.INVALID_ARGUMENT,
      `${P}expected 2 inputs but got 1 inputs for model 'relevance_student'. Got input(s) ['QUERY'], but missing required input(s) ['DOCUMENT']. Please provide all required input(s).`,
    ],
    [
      "wrong datatype",
      { inputs: [bytesInput("QUERY", 2, { datatype: "FP32" }), bytesInput("DOCUMENT", 2)] },
      grpc.status.INVALID_ARGUMENT,
      `${P}unexpected datatype TYPE_FP32 for inference input 'QUERY', expecting TYPE_STRING for model 'relevance_student'`,
    ],
    [
      "shape without the element dimension",
      { inputs: [bytesInput("QUERY", 2, { shape: [3] }), bytesInput("DOCUMENT", 2, { shape: [3] })] },
      grpc.status.INVALID_ARGUMENT,
      {
        startsWith: `${P}unexpected shape for input 'QUERY' for model 'relevance_student'. Expected [-1,1], got [3]. ${SHAPE_NOTE}`,
      },
    ],
    [
      "shape with a wrong element dimension",
      { inputs: [bytesInput("QUERY", 2, { shape: [2, 2] }), bytesInput("DOCUMENT", 2)] },
      grpc.status.INVALID_ARGUMENT,
      {
        startsWith: `${P}unexpected shape for input 'QUERY' for model 'relevance_student'. Expected [-1,1], got [2,2].`,
      },
    ],
    [
      "different batch dimensions",
      { inputs: [bytesInput("QUERY", 2), bytesInput("DOCUMENT", 3)] },
      grpc.status.INVALID_ARGUMENT,
      `${P}input 'DOCUMENT' batch size does not match other inputs for 'relevance_student'`,
    ],
    [
      "batch above max_batch_size",
      { inputs: [bytesInput("QUERY", 65), bytesInput("DOCUMENT", 65)] },
      grpc.status.INVALID_ARGUMENT,
      `${P}inference request batch-size must be <= 64 for 'relevance_student'`,
    ],
    [
      "raw contents count",
      { rawInputContents: [packStrings(["q1", "q2"])] },
      grpc.status.INVALID_ARGUMENT,
      `${P}expected tensor data for 2 inputs but got 1 sets of data for model 'relevance_student'`,
    ],
    [
      "contents together with raw contents",
      {
        inputs: [
          bytesInput("QUERY", 2, {
            contents: {
              boolContents: [],
              intContents: [],
              int64Contents: [],
              uintContents: [],
              uint64Contents: [],
              fp32Contents: [1],
              fp64Contents: [],
              bytesContents: [],
            },
          }),
          bytesInput("DOCUMENT", 2),
        ],
      },
      grpc.status.INVALID_ARGUMENT,
      `${P}contents field must not be specified when using raw_input_contents for 'QUERY' for model 'relevance_student'`,
    ],
    [
      "too few elements",
      { rawInputContents: [packStrings(["q1"]), packStrings(["d1", "d2"])] },
      grpc.status.INVALID_ARGUMENT,
      { startsWith: `${P}input byte size mismatch for input 'QUERY' for model 'relevance_student'.` },
    ],
    [
      "trailing bytes",
      {
        rawInputContents: [
          packStrings(["q1", "q2"]),
          Buffer.concat([packStrings(["d1", "d2"]), Buffer.from([1])]),
        ],
      },
      grpc.status.INVALID_ARGUMENT,
      { startsWith: `${P}input byte size mismatch for input 'DOCUMENT' for model 'relevance_student'.` },
    ],
    [
      "length prefix past the end",
      { rawInputContents: [packStrings(["q1", "q2"]), Buffer.from([9, 0, 0, 0, 65])] },
      grpc.status.INVALID_ARGUMENT,
      { startsWith: `${P}input byte size mismatch for input 'DOCUMENT' for model 'relevance_student'.` },
    ],
    [
      "unknown requested output",
      { outputs: [{ name: "PROBS", parameters: {} }] },
      grpc.status.INVALID_ARGUMENT,
      `${P}unexpected inference output 'PROBS' for model 'relevance_student'`,
    ],
  ];
  for (const [name, overrides, code, message] of cases) {
    const err = await rawInfer(client, { ...ok, ...overrides }).result.then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    t.ok(err, `${name}: rejected`);
    t.equal(err?.code, code, `${name}: code`);
    if (typeof message === "string") t.equal(err?.details, message, `${name}: message`);
    else
      t.ok(err?.details.startsWith(message.startsWith), `${name}: message starts with ${message.startsWith}`);
  }
  const noId = await rawInfer(client, { ...ok, id: "", modelName: "nope" }).result.catch(
    (e: grpc.ServiceError) => e,
  );
  t.match(noId, { details: "[request id: <id_unknown>] Request for unknown model: 'nope' is not found" });

  t.match(sim.stats(), { items: 0, failures: cases.length + 1, requests: cases.length + 1 });
  const text = await (await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`)).text();
  t.match(text, /nv_inference_count\{model="relevance_student",version="1"\} 0/);
  // Unknown-model requests have no model to count against, as in Triton.
  t.match(
    text,
    new RegExp(
      `nv_inference_request_failure\\{model="relevance_student",version="1",reason="OTHER"\\} ${cases.length - 2}`,
    ),
  );
});

t.test("a model without a batch dimension takes exactly one pair", async (t) => {
  const { client } = await startSim(t, { models: [{ name: "single", maxBatchSize: 0 }] });
  const one = pairRequest(["q"], ["d"], {
    modelName: "single",
    inputs: [bytesInput("QUERY", 1, { shape: [1] }), bytesInput("DOCUMENT", 1, { shape: [1] })],
  });
  const res = await rawInfer(client, one).result;
  t.match(res.outputs[0], { shape: [5] });
  t.same(readFloats(res.rawOutputContents[0]!), simLogits("q", "d"));
  const err = await rawInfer(client, pairRequest(["q"], ["d"], { modelName: "single" })).result.catch(
    (e: grpc.ServiceError) => e,
  );
  t.match(err, { code: grpc.status.INVALID_ARGUMENT, details: /Expected \[1\], got \[1,1\]\.$/ });
});

t.test("with one instance, batches execute one at a time in arrival order", async (t) => {
  const clock = new FakeClock();
  const { sim, client } = await startSim(t, { clock, cost: { baseMs: 10, perItemMs: 1, instances: 1 } });
  const order: string[] = [];
  const a = rawInfer(client, pairRequest(["a"], ["a"], { id: "a" }));
  await waitFor(() => sim.stats().executing === 1, "a executing");
  const b = rawInfer(client, pairRequest(["b", "b"], ["b", "b"], { id: "b" }));
  await waitFor(() => sim.stats().queued === 1, "b queued");
  const c = rawInfer(client, pairRequest(["c"], ["c"], { id: "c" }));
  await waitFor(() => sim.stats().queued === 2, "c queued");
  for (const [id, call] of [
    ["a", a],
    ["b", b],
    ["c", c],
  ] as const) {
    void call.result.then(() => order.push(id));
  }
  t.match(sim.stats(), { executing: 1, queued: 2, items: 1 });

  await clock.advance(10); // a's 10 + 1 × 1 ms is not over yet
  t.match(sim.stats(), { executing: 1, queued: 2 });
  await clock.advance(1);
  await waitFor(() => order.length === 1, "a answered");
  t.match(sim.stats(), { executing: 1, queued: 1, items: 3 });
  await clock.advance(12); // b: 10 + 2 × 1
  await waitFor(() => order.length === 2, "b answered");
  t.match(sim.stats(), { executing: 1, queued: 0, items: 4 });
  await clock.advance(11);
  await Promise.all([a.result, b.result, c.result]);
  t.same(order, ["a", "b", "c"]);
  t.match(sim.stats(), { executing: 0, queued: 0, items: 4, batchSizes: [1, 2, 1], maxBatchSeen: 2 });
});

t.test("with priority levels, queued batches start by level, then in arrival order", async (t) => {
  const clock = new FakeClock();
  const { sim, client, cold } = await startSim(t, {
    clock,
    cost: { baseMs: 10, perItemMs: 0, instances: 1 },
  });
  const config = (await cold.call("ModelConfig", { name: "relevance_student", version: "" })) as {
    config: { dynamicBatching: { priorityLevels: string | number; defaultPriorityLevel: string | number } };
  };
  t.match(
    config.config.dynamicBatching,
    { priorityLevels: /^3$/, defaultPriorityLevel: /^2$/ },
    "ModelConfig shows three levels, default 2",
  );
  const at = (
    level: number | undefined,
    kind: "int64" | "uint64" = "int64",
  ): Record<string, InferParameterValue> => (level === undefined ? {} : { priority: { kind, value: level } });
  const order: string[] = [];
  const send = (id: string, level: number | undefined, kind?: "int64" | "uint64") => {
    const call = rawInfer(client, pairRequest([id], [id], { id, parameters: at(level, kind) }));
    void call.result.then(() => order.push(id));
    return call;
  };
  // "first" takes the one instance; the rest queue behind it in the order sent.
  const calls = [send("first", 3)];
  await waitFor(() => sim.stats().executing === 1, "first executing");
  const queued: [string, number | undefined, ("int64" | "uint64")?][] = [
    ["background", 3],
    ["none", undefined], // the default level, 2
    ["zero", 0], // 0 is the default level too
    ["above", 7], // above the levels: the default level
    ["negative", -1], // read as uint64: above the levels
    ["bulk", 2, "uint64"],
    ["interactive", 1],
    ["interactive-2", 1],
  ];
  for (const [i, [id, level, kind]] of queued.entries()) {
    calls.push(send(id, level, kind));
    await waitFor(() => sim.stats().queued === i + 1, `${id} queued`);
  }
  for (let i = 0; i < calls.length; i++) await clock.advance(10);
  await Promise.all(calls.map((c) => c.result));
  t.same(order, [
    "first",
    "interactive",
    "interactive-2",
    "none",
    "zero",
    "above",
    "negative",
    "bulk",
    "background",
  ]);
});

t.test("a priority that is not an integer is refused like Triton", async (t) => {
  const { client } = await startSim(t);
  const err = await rawInfer(
    client,
    pairRequest(["q"], ["d"], { id: "p", parameters: { priority: { kind: "string", value: "1" } } }),
  ).result.catch((e: grpc.ServiceError) => e);
  t.match(err, {
    code: grpc.status.INVALID_ARGUMENT,
    details:
      "[request id: p] invalid value type for 'priority' parameter, expected int64_param or uint64_param.",
  });
});

t.test("without priority levels, every batch waits in one FIFO queue", async (t) => {
  const clock = new FakeClock();
  const { sim, client } = await startSim(t, {
    clock,
    cost: { baseMs: 10, perItemMs: 0, instances: 1 },
    models: [{ name: "relevance_student", priorityLevels: 0 }],
  });
  const order: string[] = [];
  const calls = [];
  for (const [id, level] of [
    ["a", 3],
    ["b", 3],
    ["c", 1],
  ] as const) {
    const call = rawInfer(
      client,
      pairRequest([id], [id], { id, parameters: { priority: { kind: "int64", value: level } } }),
    );
    void call.result.then(() => order.push(id));
    calls.push(call);
    await waitFor(() => sim.stats().executing + sim.stats().queued === calls.length, `${id} received`);
  }
  for (let i = 0; i < 3; i++) await clock.advance(10);
  await Promise.all(calls.map((c) => c.result));
  t.same(order, ["a", "b", "c"]);
});

t.test(
  "with mergeQueued, a freed instance takes the queued calls together up to max_batch_size",
  async (t) => {
    const clock = new FakeClock();
    const { sim, client } = await startSim(t, {
      clock,
      cost: { baseMs: 10, perItemMs: 1, instances: 1 },
      mergeQueued: true,
      models: [{ name: "relevance_student", maxBatchSize: 8 }],
    });
    const order: string[] = [];
    const calls = [];
    // "first" runs alone; behind it 3 + 4 items fit in 8, the next 2 would not (9): they close the batch.
    for (const [id, n] of [
      ["first", 1],
      ["a", 3],
      ["b", 4],
      ["c", 2],
      ["d", 1],
    ] as const) {
      const texts = Array.from({ length: n }, (_, i) => `${id}${i}`);
      const call = rawInfer(client, pairRequest(texts, texts, { id }));
      void call.result.then(() => order.push(id));
      calls.push(call);
      await waitFor(() => sim.stats().executing + sim.stats().queued === calls.length, `${id} received`);
    }
    await clock.advance(11); // first: 10 + 1 × 1
    await waitFor(() => order.length === 1, "first answered");
    t.match(sim.stats(), { executing: 1, queued: 2 }, "a and b executing as one batch");
    await clock.advance(17); // a + b: 10 + 7 × 1
    await waitFor(() => order.length === 3, "a and b answered");
    await clock.advance(13); // c + d: 10 + 3 × 1
    await Promise.all(calls.map((c) => c.result));
    t.same(order.slice(0, 1), ["first"]);
    t.same(new Set(order.slice(1, 3)), new Set(["a", "b"]));
    t.same(new Set(order.slice(3)), new Set(["c", "d"]));
    t.match(sim.stats(), { batchSizes: [1, 7, 3], maxBatchSeen: 7, items: 11 });
  },
);

t.test("more instances execute batches concurrently", async (t) => {
  const clock = new FakeClock();
  const { sim, client } = await startSim(t, { clock, cost: { baseMs: 5, perItemMs: 0, instances: 1 } });
  const calls = [0, 1, 2].map((i) => rawInfer(client, pairRequest([`q${i}`], [`d${i}`])));
  await waitFor(() => sim.stats().executing + sim.stats().queued === 3, "all received");
  t.match(sim.stats(), { executing: 1, queued: 2 });
  sim.setCost({ instances: 2 });
  t.match(sim.stats(), { executing: 2, queued: 1 });
  await clock.advance(5);
  t.match(sim.stats(), { executing: 1, queued: 0 });
  await clock.advance(5);
  await Promise.all(calls.map((c) => c.result));
});

t.test("calls cancelled or expired while queued never execute", async (t) => {
  const clock = new FakeClock();
  const { sim, client } = await startSim(t, { clock, metricsPort: 0, cost: { baseMs: 50, instances: 1 } });
  const running = rawInfer(client, pairRequest(["run"], ["run"]));
  await waitFor(() => sim.stats().executing === 1, "first batch executing");
  const cancelled = rawInfer(client, pairRequest(["x", "y", "z"], ["x", "y", "z"]));
  const expiring = rawInfer(client, pairRequest(["e", "f"], ["e", "f"]), { deadline: Date.now() + 1000 });
  await waitFor(() => sim.stats().queued === 2, "two batches queued");

  cancelled.call.cancel();
  await t.rejects(cancelled.result, { code: grpc.status.CANCELLED });
  await t.rejects(expiring.result, { code: grpc.status.DEADLINE_EXCEEDED });
  await waitFor(() => sim.stats().queued === 0, "queue emptied");
  t.match(sim.stats(), { executing: 1, items: 1, failures: 2 });

  await clock.advance(100);
  await running.result;
  t.match(sim.stats(), { executing: 0, queued: 0, items: 1, batchSizes: [1], failures: 2 });

  const text = await (await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`)).text();
  t.match(text, /nv_inference_count\{model="relevance_student",version="1"\} 1\n/);
  t.match(text, /nv_inference_exec_count\{model="relevance_student",version="1"\} 1\n/);
  t.match(text, /nv_inference_request_success\{model="relevance_student",version="1"\} 1\n/);
  t.match(
    text,
    /nv_inference_request_failure\{model="relevance_student",version="1",reason="CANCELED"\} 2\n/,
  );
  t.match(text, /nv_inference_pending_request_count\{model="relevance_student",version="1"\} 0\n/);
});

t.test("metrics count inferences and executions", async (t) => {
  const { sim, client } = await startSim(t, { metricsPort: 0, cost: { baseMs: 0, perItemMs: 0 } });
  await rawInfer(client, pairRequest(QUERIES, DOCUMENTS)).result;
  await rawInfer(client, pairRequest(["q"], ["d"])).result;
  const res = await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`);
  t.equal(res.status, 200);
  const text = await res.text();
  t.match(text, /nv_inference_count\{model="relevance_student",version="1"\} 5\n/);
  t.match(text, /nv_inference_exec_count\{model="relevance_student",version="1"\} 2\n/);
  t.match(text, /nv_inference_request_success\{model="relevance_student",version="1"\} 2\n/);
  t.equal((await fetch(`http://127.0.0.1:${sim.metricsPort}/other`)).status, 404);
});

t.test("close() answers queued calls with UNAVAILABLE", async (t) => {
  const clock = new FakeClock();
  const sim = await createTritonSim({ port: 0, clock });
  const client = new grpc.Client(sim.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const calls = [rawInfer(client, pairRequest(["a"], ["a"])), rawInfer(client, pairRequest(["b"], ["b"]))];
  await waitFor(() => sim.stats().executing + sim.stats().queued === 2, "both received");
  const [, ...outcomes] = await Promise.allSettled([sim.close(), ...calls.map((c) => c.result)]);
  for (const o of outcomes) t.match(o, { status: "rejected", reason: { code: grpc.status.UNAVAILABLE } });
  await sim[Symbol.asyncDispose](); // idempotent
});
