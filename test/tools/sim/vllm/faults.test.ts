import t, { type Test } from "tap";
import { FaultInjector, VLLM_MALFORMED_KINDS } from "../../../../src/tools/sim/faults.js";
import { createVllmSim, type VllmSim, type VllmSimOptions } from "../../../../src/tools/sim/vllm/server.js";
import { FakeClock } from "../../../helpers/fake-clock.js";

async function startSim(t: Test, opts: VllmSimOptions = {}): Promise<VllmSim> {
  const sim = await createVllmSim({
    port: 0,
    cost: { stepMs: 0, perSeqMs: 0, prefillMsPerToken: 0 },
    ...opts,
  });
  t.teardown(() => sim.close());
  return sim;
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected field by field
  body: any;
}

async function call(sim: VllmSim, path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(sim.url + path, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

const post = (sim: VllmSim, path: string, body: unknown, signal?: AbortSignal) =>
  call(sim, path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
const classify = (sim: VllmSim, signal?: AbortSignal) =>
  post(sim, "/classify", { input: ["a", "b"] }, signal);
const complete = (sim: VllmSim) =>
  post(sim, "/v1/completions", { prompt: ["a", "b"], max_tokens: 1, logprobs: 20, temperature: 0 });

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test("error: a 500 in vLLM's error shape, counted; /health is unaffected", async (t) => {
  const sim = await startSim(t, { faults: { errorRate: 1 } });
  for (const send of [classify, complete]) {
    const r = await send(sim);
    t.equal(r.status, 500);
    t.same(r.body, {
      error: { message: "injected fault", type: "InternalServerError", param: null, code: 500 },
    });
  }
  t.equal((await call(sim, "/health")).status, 200, "the breaker, not the health check, has to react");
  const invalid = await post(sim, "/classify", { input: ["x"], model: "nope" });
  t.equal(invalid.status, 404, "an invalid call gets vLLM's error, not a fault");
  t.match(sim.stats(), { requests: 3, failures: 3, items: 0, faults: { error: 2, hang: 0 } });
  const metrics = (await call(sim, "/metrics")).text;
  t.match(metrics, 'sim_injected_faults_total{kind="error"} 2');
  t.match(metrics, 'sim_injected_faults_total{kind="malformed"} 0');

  const legacy = await startSim(t, { faults: { errorRate: 1 }, legacyErrors: true });
  t.match((await classify(legacy)).body, { object: "error", message: "injected fault", code: 500 });
});

t.test("the seed decides which calls fail, reproducibly", async (t) => {
  const spec = { errorRate: 0.5 };
  const sim = await startSim(t, { faults: spec, faultSeed: 9 });
  const oracle = new FaultInjector({ malformedKinds: VLLM_MALFORMED_KINDS, seed: 9, spec });
  const want = Array.from({ length: 16 }, () => oracle.decide());
  const got: string[] = [];
  for (let i = 0; i < 16; i++) got.push((await classify(sim)).status === 500 ? "error" : "ok");
  t.same(got, want);
  await t.rejects(
    createVllmSim({ port: 0, faults: { malformed: "short-raw" } }),
    /malformed: must be one of/,
  );
});

t.test("malformed answers, each kind, for /classify and /v1/completions", async (t) => {
  const sim = await startSim(t);
  sim.setFaults({ malformedRate: 1 });
  for (const send of [classify, complete]) {
    const r = await send(sim);
    t.equal(r.status, 200, "bad-json (the default) is a 200");
    t.equal(r.headers.get("content-type"), "application/json");
    t.equal(r.body, undefined, "whose body does not parse");
    t.match(r.text, /^\{"id":"/, "a truncated answer");
  }

  sim.setFaults({ malformedRate: 1, malformed: "wrong-shape" });
  const c = (await classify(sim)).body;
  t.equal(c.data.length, 2);
  for (const item of c.data) t.same(Object.keys(item).sort(), ["index", "label", "num_classes"]);
  const g = (await complete(sim)).body;
  for (const choice of g.choices) t.notOk("logprobs" in choice, "a choice without logprobs");
  t.equal(g.choices.length, 2);

  sim.setFaults({ malformedRate: 1, malformed: "missing-items" });
  const c2 = (await classify(sim)).body;
  t.same(
    c2.data.map((d: { index: number }) => d.index),
    [0],
  );
  t.ok(Array.isArray(c2.data[0].probs));
  t.equal((await complete(sim)).body.choices.length, 1);

  t.match(sim.stats(), { failures: 0, items: 12, faults: { malformed: 6 } }, "the engine still ran");
});

t.test("hang: no answer until cleared, then answered normally", async (t) => {
  const sim = await startSim(t, { faults: { hangRate: 1 } });
  // The untimed call first, so that it is surely held before anything else happens.
  const held = classify(sim);
  await waitFor(() => sim.stats().faults.hang === 1, "first call held");
  t.match(sim.stats(), { running: 0, waiting: 0, items: 0 });
  await t.rejects(classify(sim, AbortSignal.timeout(300)), { name: "TimeoutError" }, "outlives the deadline");
  sim.clearFaults();
  const res = await held;
  t.equal(res.status, 200, "released: answered normally");
  t.equal(res.body.data.length, 2);
});

t.test("hang: close() drops the held calls", async (t) => {
  const sim = await startSim(t, { faults: { hangRate: 1 } });
  const atClose = classify(sim);
  await waitFor(() => sim.stats().faults.hang === 1, "call held");
  await sim.close();
  await t.rejects(atClose);
});

t.test("a client that gives up on a hung call is counted as a failure", async (t) => {
  const sim = await startSim(t, { faults: { hangRate: 1 } });
  const ac = new AbortController();
  const gaveUp = classify(sim, ac.signal);
  await waitFor(() => sim.stats().faults.hang === 1, "call held");
  ac.abort();
  await t.rejects(gaveUp);
  await waitFor(() => sim.stats().failures === 1, "the abandoned call counted");
});

t.test("reset: the client sees the connection close", async (t) => {
  const sim = await startSim(t, { faults: { resetRate: 1 } });
  await t.rejects(classify(sim), { name: "TypeError", cause: Error });
  await waitFor(() => sim.stats().failures === 1, "the reset call counted as a failure");
  t.match(sim.stats(), { faults: { reset: 1 }, items: 0 });
  sim.clearFaults();
  t.equal((await classify(sim)).status, 200, "a new connection works");
});

t.test("added latency: waits before the engine, on the sim's clock", async (t) => {
  const clock = new FakeClock();
  const sim = await startSim(t, { clock, cost: { stepMs: 10, perSeqMs: 0, prefillMsPerToken: 0 } });
  sim.setFaults({ addedLatencyMs: 50 });
  let done = false;
  const pending = classify(sim).then((r) => {
    done = true;
    return r;
  });
  await waitFor(() => sim.stats().faults.latency === 1, "call received");
  await clock.advance(49);
  t.match(sim.stats(), { running: 0, waiting: 0, items: 0 }, "still held");
  await clock.advance(1);
  t.match(sim.stats(), { running: 2 }, "then in the engine");
  await clock.advance(9);
  t.notOk(done, "plus the engine's 10 ms step");
  await clock.advance(1);
  t.equal((await pending).status, 200);
});

t.test("control endpoint: GET, PUT, DELETE /sim/faults", async (t) => {
  const sim = await startSim(t);
  const get = async () => (await call(sim, "/sim/faults")).body;
  t.same(await get(), {});

  const put = await call(sim, "/sim/faults", {
    method: "PUT",
    body: '{"errorRate":1,"malformed":"bad-json"}',
  });
  t.equal(put.status, 200);
  t.same(put.body, { errorRate: 1, malformed: "bad-json" });
  t.same(await get(), { errorRate: 1, malformed: "bad-json" });
  t.equal((await classify(sim)).status, 500);

  const bad = await call(sim, "/sim/faults", { method: "PUT", body: '{"malformed":"short-raw"}' });
  t.equal(bad.status, 400);
  t.same(bad.body, {
    error: 'malformed: must be one of "bad-json", "wrong-shape", "missing-items", got "short-raw"',
  });
  const unknown = await call(sim, "/sim/faults", { method: "PUT", body: '{"errorRat":1}' });
  t.match(unknown, { status: 400, body: { error: /^errorRat: unknown field/ } });
  t.same(await get(), { errorRate: 1, malformed: "bad-json" }, "a bad body changes nothing");

  const del = await call(sim, "/sim/faults", { method: "DELETE" });
  t.equal(del.status, 200);
  t.same(del.body, {});
  t.equal((await classify(sim)).status, 200, "cleared");

  const patch = await call(sim, "/sim/faults", { method: "PATCH", body: "{}" });
  t.equal(patch.status, 405);
  t.equal(patch.headers.get("allow"), "GET, PUT, DELETE");
});

t.test("poison marker: a request with it in one prompt is answered 400 as a whole", async (t) => {
  const sim = await startSim(t);
  const put = await call(sim, "/sim/faults", {
    method: "PUT",
    body: JSON.stringify({ poisonMarker: "BAD" }),
  });
  t.same(put.body, { poisonMarker: "BAD" });
  const bodies = [
    ["/classify", { input: ["fine", "a BAD prompt", "fine too"] }],
    ["/v1/completions", { prompt: ["fine", "a BAD prompt"], max_tokens: 1, logprobs: 20, temperature: 0 }],
  ] as const;
  for (const [path, body] of bodies) {
    const r = await post(sim, path, body);
    t.equal(r.status, 400, path);
    t.same(r.body, {
      error: {
        message: "the tokenizer cannot encode the input (injected poison)",
        type: "BadRequestError",
        param: null,
        code: 400,
      },
    });
  }
  t.equal((await classify(sim)).status, 200, "a request without the marker is answered");
  t.match(sim.stats(), { faults: { poison: 2, internal: 0 } });
});

t.test("failAll: every scoring request fails 500 as from a dead engine", async (t) => {
  const sim = await startSim(t, { faults: { failAll: true } });
  for (const send of [classify, complete]) {
    const r = await send(sim);
    t.equal(r.status, 500);
    t.same(r.body, {
      error: {
        message: "EngineCore encountered an issue. See stack trace (above) for the root cause.",
        type: "InternalServerError",
        param: null,
        code: 500,
      },
    });
  }
  t.equal((await call(sim, "/health")).status, 200, "health is unaffected");
  t.match(sim.stats(), { faults: { internal: 2 } });
  sim.clearFaults();
  t.equal((await classify(sim)).status, 200);
});
