import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { FaultInjector, TRITON_MALFORMED_KINDS } from "../../../../src/tools/sim/faults.js";
import { simLogits } from "../../../../src/tools/sim/triton/scores.js";
import { createTritonSim, type TritonSimOptions } from "../../../../src/tools/sim/triton/server.js";
import { FakeClock } from "../../../helpers/fake-clock.js";
import {
  ColdClient,
  pairRequest,
  rawInfer,
  readFloats,
  waitFor,
} from "../../../helpers/triton-raw-client.js";

async function startSim(t: Test, opts: TritonSimOptions = {}) {
  const sim = await createTritonSim({ port: 0, metricsPort: 0, cost: { baseMs: 0, perItemMs: 0 }, ...opts });
  const client = new grpc.Client(sim.address, grpc.credentials.createInsecure());
  const cold = new ColdClient(sim.address);
  t.teardown(async () => {
    client.close();
    cold.close();
    await sim.close();
  });
  const control = `http://127.0.0.1:${sim.metricsPort}/sim/faults`;
  return { sim, client, cold, control };
}

const Q = ["red shoes", "blue hat", "green tea"];
const D = ["Red shoes for running", "a hat", "tea time"];
const infer = (client: grpc.Client, options: grpc.CallOptions = {}) =>
  rawInfer(client, pairRequest(Q, D), options).result;
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: grpc.ServiceError) => e,
  );
const expected = Q.flatMap((q, i) => simLogits(q, D[i]!));

t.test("error: UNAVAILABLE 'injected fault', counted; readiness is unaffected", async (t) => {
  const { sim, client, cold } = await startSim(t, { faults: { errorRate: 1 } });
  t.match(await failure(infer(client)), { code: grpc.status.UNAVAILABLE, details: "injected fault" });
  t.same(await cold.call("ServerReady"), { ready: true }, "the breaker, not readiness, has to react");
  t.same(await cold.call("ModelReady", { name: "relevance_student" }), { ready: true });
  t.match(sim.stats(), { requests: 1, failures: 1, items: 0, faults: { error: 1, hang: 0, latency: 0 } });

  const invalid = await failure(rawInfer(client, pairRequest(["q"], ["d"], { modelName: "nope" })).result);
  t.equal(invalid?.code, grpc.status.INVALID_ARGUMENT, "an invalid call gets Triton's error, not a fault");
  t.equal(sim.stats().faults.error, 1);

  const text = await (await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`)).text();
  t.match(text, 'sim_injected_faults_total{kind="error"} 1');
  t.match(text, 'sim_injected_faults_total{kind="reset"} 0');
  t.notMatch(text, /nv_inference_request_failure\{[^}]*reason="OTHER"[^}]*\} 1/, "not a model failure");

  sim.clearFaults();
  t.same(readFloats((await infer(client)).rawOutputContents[0]!), expected.map(Math.fround));
});

t.test("the seed decides which calls fail, reproducibly", async (t) => {
  const spec = { errorRate: 0.5 };
  const { client } = await startSim(t, { faults: spec, faultSeed: 42 });
  const oracle = new FaultInjector({ malformedKinds: TRITON_MALFORMED_KINDS, seed: 42, spec });
  const want = Array.from({ length: 20 }, () => oracle.decide());
  const got: string[] = [];
  for (let i = 0; i < 20; i++) got.push((await failure(infer(client))) ? "error" : "ok");
  t.same(got, want);
  t.ok(want.includes("error") && want.includes("ok"));
  await t.rejects(createTritonSim({ port: 0, faults: { errorRate: 2 } }), {
    name: "RangeError",
    message: /errorRate/,
  });
});

t.test("malformed answers, each kind", async (t) => {
  const { sim, client } = await startSim(t);
  sim.setFaults({ malformedRate: 1 });
  const missing = await infer(client);
  t.same(missing.outputs, [], "missing-output (the default): no LOGITS");
  t.same(missing.rawOutputContents, []);

  sim.setFaults({ malformedRate: 1, malformed: "wrong-shape" });
  const shape = await infer(client);
  t.match(shape.outputs, [{ name: "LOGITS", datatype: "FP32", shape: [3, 4] }]);
  t.same(
    readFloats(shape.rawOutputContents[0]!),
    [0, 1, 2].flatMap((i) => expected.slice(i * 5, i * 5 + 4).map(Math.fround)),
  );

  sim.setFaults({ malformedRate: 1, malformed: "wrong-datatype" });
  const dtype = await infer(client);
  t.match(dtype.outputs, [{ name: "LOGITS", datatype: "FP16", shape: [3, 5] }]);
  t.equal(dtype.rawOutputContents[0]!.byteLength, 60);

  sim.setFaults({ malformedRate: 1, malformed: "short-raw" });
  const short = await infer(client);
  t.match(short.outputs, [{ name: "LOGITS", datatype: "FP32", shape: [3, 5] }]);
  t.equal(short.rawOutputContents[0]!.byteLength, 3 * 5 * 4 - 4);

  t.match(sim.stats(), { failures: 0, items: 12, faults: { malformed: 4 } }, "the model still ran");
  t.throws(() => sim.setFaults({ malformed: "bad-json" }), /malformed: must be one of "missing-output"/);
});

t.test("hang: no answer until cleared, then answered normally", async (t) => {
  const { sim, client } = await startSim(t, { faults: { hangRate: 1 } });
  // The long-deadline call first, so that it is surely held before anything else happens.
  const held = infer(client, { deadline: Date.now() + 60_000 });
  await waitFor(() => sim.stats().faults.hang === 1, "first call held");
  t.match(sim.stats(), { executing: 0, queued: 0, items: 0 });
  const expired = await failure(infer(client, { deadline: Date.now() + 300 }));
  t.equal(expired?.code, grpc.status.DEADLINE_EXCEEDED, "a hung call outlives its deadline");
  sim.clearFaults();
  const res = await held;
  t.same(readFloats(res.rawOutputContents[0]!), expected.map(Math.fround), "released: answered normally");
});

t.test("hang: close() aborts the held calls", async (t) => {
  const { sim, client } = await startSim(t, { faults: { hangRate: 1 } });
  const atClose = failure(infer(client, { deadline: Date.now() + 60_000 }));
  await waitFor(() => sim.stats().faults.hang === 1, "call held");
  await sim.close();
  t.match(await atClose, { code: grpc.status.UNAVAILABLE, details: "Server is shutting down" });
});

t.test("clearing during added latency does not leave a hang behind", async (t) => {
  const { sim, client } = await startSim(t, { faults: { hangRate: 1, addedLatencyMs: 600_000 } });
  const call = infer(client, { deadline: Date.now() + 60_000 });
  await waitFor(() => sim.stats().faults.hang === 1, "call held");
  sim.clearFaults();
  t.ok(await call, "answered once the spec that hung it is gone");
});

t.test("reset: the connection drops (UNAVAILABLE), and the client reconnects after", async (t) => {
  const { sim, client } = await startSim(t, { faults: { resetRate: 1 } });
  const err = await failure(infer(client, { deadline: Date.now() + 30_000 }));
  t.equal(err?.code, grpc.status.UNAVAILABLE);
  t.not(err?.details, "injected fault: connection reset", "a real reset, not the fallback status");
  t.match(sim.stats(), { failures: 1, faults: { reset: 1 } });
  sim.clearFaults();
  t.ok(await infer(client, { deadline: Date.now() + 30_000 }), "a new connection works");
});

t.test("added latency: waits before queueing, on the sim's clock", async (t) => {
  const clock = new FakeClock();
  const { sim, client } = await startSim(t, { clock, cost: { baseMs: 10, perItemMs: 0 } });
  sim.setFaults({ addedLatencyMs: 50 });
  let done = false;
  const call = infer(client).then((r) => {
    done = true;
    return r;
  });
  await waitFor(() => sim.stats().requests === 1, "call received");
  await clock.advance(49);
  t.match(sim.stats(), { executing: 0, queued: 0, items: 0, faults: { latency: 1 } }, "still held");
  await clock.advance(1);
  t.match(sim.stats(), { executing: 1 }, "then queued and executing");
  await clock.advance(9);
  t.notOk(done, "plus the cost model's 10 ms");
  await clock.advance(1);
  await call;
});

t.test("control endpoint on the metrics port: GET, PUT, DELETE", async (t) => {
  const { sim, client, control } = await startSim(t);
  const get = async () => (await fetch(control)).json();
  t.same(await get(), {});

  const put = await fetch(control, { method: "PUT", body: '{"errorRate":1,"addedLatencyMs":0}' });
  t.equal(put.status, 200);
  t.same(await put.json(), { errorRate: 1, addedLatencyMs: 0 });
  t.same(await get(), { errorRate: 1, addedLatencyMs: 0 });
  t.match(await failure(infer(client)), { details: "injected fault" });

  const bad = await fetch(control, { method: "PUT", body: '{"errorRate":0.1,"resetRate":"lots"}' });
  t.equal(bad.status, 400);
  t.same(await bad.json(), { error: 'resetRate: must be a number from 0 to 1, got "lots"' });
  const notJson = await fetch(control, { method: "PUT", body: "errorRate=1" });
  t.equal(notJson.status, 400);
  t.match(await notJson.json(), { error: /^fault spec: invalid JSON/ });
  t.same(await get(), { errorRate: 1, addedLatencyMs: 0 }, "a bad body changes nothing");

  const del = await fetch(control, { method: "DELETE" });
  t.equal(del.status, 200);
  t.same(await del.json(), {});
  t.ok(await infer(client), "cleared");

  const post = await fetch(control, { method: "POST", body: "{}" });
  t.equal(post.status, 405);
  t.equal(post.headers.get("allow"), "GET, PUT, DELETE");
  await post.arrayBuffer();
  t.equal((await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`)).status, 200, "/metrics still served");
});

t.test("slow-rate over /sim/faults: the slow share of calls waits slowMs, the rest do not", async (t) => {
  const { sim, client, control } = await startSim(t);
  const put = await fetch(control, { method: "PUT", body: JSON.stringify({ slowRate: 0.5, slowMs: 300 }) });
  t.equal(put.status, 200);
  const elapsed: number[] = [];
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    await infer(client);
    elapsed.push(performance.now() - started);
  }
  // Calls 2 and 4 are slow (the accumulator reaches 1 on every second call at 0.5).
  t.ok(
    elapsed[1]! >= 290 && elapsed[3]! >= 290,
    `slow calls waited (${elapsed.map(Math.round).join(", ")} ms)`,
  );
  t.ok(elapsed[0]! < 290 && elapsed[2]! < 290, "the others did not");
  t.equal(sim.stats().faults.slow, 2);
  const text = await (await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`)).text();
  t.match(text, 'sim_injected_faults_total{kind="slow"} 2');
});

t.test(
  "poison marker: a call with it in one document fails INTERNAL as a Python backend would",
  async (t) => {
    const { sim, client, control } = await startSim(t);
    const put = await fetch(control, { method: "PUT", body: JSON.stringify({ poisonMarker: "\u0000BAD" }) });
    t.same(await put.json(), { poisonMarker: "\u0000BAD" }, "set over /sim/faults");
    const poisoned = ["a fine document", "this one is \u0000BAD", "another fine one"];
    const err = await failure(rawInfer(client, pairRequest(Q, poisoned)).result);
    t.match(err, {
      code: grpc.status.INTERNAL,
      details:
        "Failed to process the request(s) for model instance 'relevance_student_0_0', message: " +
        "ValueError: the tokenizer cannot encode the input (injected poison)",
    });
    t.same(
      readFloats((await infer(client)).rawOutputContents[0]!),
      expected.map(Math.fround),
      "a call without the marker is answered",
    );
    t.match(sim.stats(), { requests: 2, failures: 1, faults: { poison: 1, internal: 0, error: 0 } });
    const text = await (await fetch(`http://127.0.0.1:${sim.metricsPort}/metrics`)).text();
    t.match(text, 'sim_injected_faults_total{kind="poison"} 1');
    t.match(text, /nv_inference_request_failure\{[^}]*reason="OTHER"[^}]*\} 1/, "a model failure");
  },
);

t.test("failAll: every call fails INTERNAL as on a failed GPU", async (t) => {
  const { sim, client } = await startSim(t, { faults: { failAll: true } });
  for (let i = 0; i < 3; i++) {
    t.match(await failure(infer(client)), {
      code: grpc.status.INTERNAL,
      details: /^onnx runtime error 1: CUDA failure 700: an illegal memory access was encountered/,
    });
  }
  t.match(sim.stats(), { requests: 3, failures: 3, faults: { internal: 3 } });
  sim.clearFaults();
  t.same(readFloats((await infer(client)).rawOutputContents[0]!), expected.map(Math.fround));
});
