import { createServer as createHttpServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import t, { type Test } from "tap";
import type { BackendClient, CallContext } from "../../../src/backends/backend-client.js";
import { createVllmBackend, type VllmBackendOptions } from "../../../src/backends/vllm/client.js";
import {
  compileTemplate,
  DEFAULT_CLASSIFY_TEMPLATE,
  DEFAULT_GENERATE_TEMPLATE,
} from "../../../src/backends/vllm/templates.js";
import {
  createVllmSim,
  teacherProbabilities,
  type VllmSim,
  type VllmSimOptions,
} from "../../../src/tools/sim/vllm/server.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { waitFor } from "../../helpers/triton-raw-client.js";
import {
  CLASSIFY_BODY,
  CLASSIFY_EXPECTED,
  COMPLETIONS_BODY,
  COMPLETIONS_EXPECTED,
  ERROR_BODIES,
  MODEL,
  modelsBody,
} from "./fixtures.js";

interface LogLine {
  level: number;
  msg: string;
  backend?: string;
  endpoint?: string;
  reason?: string;
  maxModelLen?: number;
  truncatePromptTokens?: number;
}

function captureLogs() {
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

// ---- a small HTTP server answering recorded vLLM bodies ----

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly json: unknown;
}

/**
 * A canned answer (`blockMs`: then keep the process's event loop busy that
 * long, as a loaded gateway would be), or "hang": accept the request and never answer.
 */
type Reply = { readonly status?: number; readonly body?: string; readonly blockMs?: number } | "hang";

interface FakeVllm {
  readonly url: string;
  readonly seen: Seen[];
  /** Keyed "METHOD /path"; change them to change what the server answers. */
  readonly routes: Map<string, Reply>;
  /** Requests whose connection closed before the answer was sent. */
  closedEarly: number;
  /** Requests received and not yet answered or closed. */
  inFlight: number;
  connections: number;
}

async function fakeVllm(t: Test, overrides: Record<string, Reply> = {}, prefix = ""): Promise<FakeVllm> {
  const routes = new Map<string, Reply>(
    Object.entries({
      "GET /health": { body: "" },
      "GET /v1/models": { body: modelsBody() },
      "POST /classify": { body: CLASSIFY_BODY },
      "POST /v1/completions": { body: COMPLETIONS_BODY },
      ...overrides,
    }).map(([route, reply]) => {
      const [method, path] = route.split(" ");
      return [`${method} ${prefix}${path}`, reply];
    }),
  );
  const answer = (res: ServerResponse, reply: Exclude<Reply, "hang">) => {
    const body = reply.body ?? "";
    const json = body.startsWith("{") || body.startsWith("[");
    res.writeHead(reply.status ?? 200, { "content-type": json ? "application/json" : "text/html" });
    res.end(body);
    const until = performance.now() + (reply.blockMs ?? 0);
    while (performance.now() < until) {
      // busy: timers and sockets wait
    }
  };
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      fake.seen.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        json: text === "" ? undefined : JSON.parse(text),
      });
      fake.inFlight++;
      res.on("close", () => {
        fake.inFlight--;
        if (!res.writableFinished) fake.closedEarly++;
      });
      const reply = routes.get(`${req.method} ${req.url}`) ?? {
        status: 404,
        body: ERROR_BODIES.routeNotFound,
      };
      if (reply !== "hang") answer(res, reply);
    });
  });
  server.on("connection", () => fake.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const fake: FakeVllm = {
    url: `http://127.0.0.1:${port}${prefix}`,
    seen: [],
    routes,
    closedEarly: 0,
    inFlight: 0,
    connections: 0,
  };
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return fake;
}

function backend(
  t: Test,
  opts: Partial<VllmBackendOptions> & { endpoints: readonly string[] },
): BackendClient {
  const client = createVllmBackend({
    name: "teacher",
    model: MODEL,
    mode: "classify",
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
    ...opts,
  });
  t.teardown(() => client[Symbol.asyncDispose]());
  return client;
}

function ctx(extra: Partial<CallContext> = {}): CallContext {
  return { signal: new AbortController().signal, ...extra };
}

const QUERIES = ["red running shoes", "Café crème", "日本 料理"];
const DOCUMENTS = ["Red shoes for running", "CAFÉ au lait", "日本の料理 レシピ"];
const BATCH = { queries: QUERIES, documents: DOCUMENTS };

function expectRows(t: Test, got: Float32Array, want: readonly (readonly number[])[]): void {
  t.equal(got.length, want.length * 5);
  let worst = 0;
  want.forEach((row, i) => {
    for (let k = 0; k < 5; k++) worst = Math.max(worst, Math.abs(got[i * 5 + k]! - row[k]!));
  });
  t.ok(worst < 1e-6, `max deviation ${worst}`);
}

function posts(fake: FakeVllm): Seen[] {
  return fake.seen.filter((s) => s.method === "POST");
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test("classify: one list request with the templated pairs, truncated to max_model_len", async (t) => {
  const fake = await fakeVllm(t);
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [fake.url], logger });
  t.equal(client.kind, "vllm");
  t.equal(client.name, "teacher");
  t.match(client.endpoints(), [{ id: fake.url, state: "unknown", maxBatchSize: 1024 }]);
  await client.start();
  t.equal(client.isReady(), true);
  t.same(
    fake.seen.map((s) => `${s.method} ${s.path}`),
    ["GET /health", "GET /v1/models"],
  );
  t.ok(
    lines.some(
      (l) => l.msg === "vllm endpoint ready" && l.maxModelLen === 8192 && l.truncatePromptTokens === 8192,
    ),
  );

  const res = await client.endpoints()[0]!.infer(BATCH, ctx({ batchId: "b-1" }));
  expectRows(t, res.probabilities, CLASSIFY_EXPECTED);
  t.same(res.model, { name: MODEL, version: "" });
  const [req] = posts(fake);
  t.equal(req?.path, "/classify");
  t.match(req?.headers, { "content-type": "application/json", "x-request-id": "b-1.1" });
  t.same(req?.json, {
    model: MODEL,
    input: QUERIES.map((q, i) => compileTemplate(DEFAULT_CLASSIFY_TEMPLATE)(q, DOCUMENTS[i]!)),
    truncate_prompt_tokens: 8192,
    truncation_side: "left",
  });
});

t.test("generate: completions with greedy one-token logprobs, truncated to max_model_len - 1", async (t) => {
  const fake = await fakeVllm(t);
  const client = backend(t, { endpoints: [fake.url], mode: "generate" });
  await client.start();
  const res = await client.endpoints()[0]!.infer(BATCH, ctx());
  expectRows(t, res.probabilities, COMPLETIONS_EXPECTED);
  const [req] = posts(fake);
  t.equal(req?.path, "/v1/completions");
  const render = compileTemplate(DEFAULT_GENERATE_TEMPLATE);
  t.same(req?.json, {
    model: MODEL,
    prompt: QUERIES.map((q, i) => render(q, DOCUMENTS[i]!)),
    max_tokens: 1,
    temperature: 0,
    logprobs: 20,
    truncate_prompt_tokens: 8191,
  });
  t.notOk(req?.headers["x-request-id"], "no request id without a batch id");
});

t.test("templates, label tokens, top-k and the truncation override are options", async (t) => {
  const fake = await fakeVllm(t, {
    "POST /v1/completions": {
      body: COMPLETIONS_BODY.replaceAll('"3"', '"C"').replaceAll('" 4"', '" D"').replaceAll('"5"', '"E"'),
    },
  });
  const generate = backend(t, {
    endpoints: [fake.url],
    mode: "generate",
    generateTemplate: "Q={query} D={document} ->",
    labelTokens: ["A", "B", "C", "D", "E"],
    topLogprobs: 5,
    maxInputTokens: 512,
  });
  const before = await generate.endpoints()[0]!.infer(BATCH, ctx());
  t.same(
    Array.from(before.probabilities.subarray(10, 15)),
    Array.from(new Float32Array([0, 0, 2 / 3, 1 / 3, 0])),
  );
  await generate.start();
  await generate.endpoints()[0]!.infer(BATCH, ctx());
  const [first, second] = posts(fake);
  t.match(first?.json, { prompt: ["Q=red running shoes D=Red shoes for running ->"], logprobs: 5 });
  t.match(first?.json, { truncate_prompt_tokens: 512 }, "the override applies before max_model_len is known");
  t.match(second?.json, { truncate_prompt_tokens: 512 });

  const classify = backend(t, {
    endpoints: [fake.url],
    classifyTemplate: "{document} || {query}",
    maxInputTokens: 100_000,
  });
  await classify.endpoints()[0]!.infer(BATCH, ctx());
  t.match(
    posts(fake)[2]?.json,
    { truncate_prompt_tokens: 100_000 },
    "the override alone before max_model_len is known",
  );
  t.match(posts(fake)[2]?.json, { input: ["Red shoes for running || red running shoes"] });
  await classify.start();
  await classify.endpoints()[0]!.infer(BATCH, ctx());
  t.match(posts(fake)[3]?.json, { truncate_prompt_tokens: 8192 }, "never above max_model_len");

  t.throws(
    () =>
      createVllmBackend({
        name: "x",
        endpoints: [fake.url],
        model: MODEL,
        mode: "classify",
        classifyTemplate: "{query}",
      }),
    {
      message: "backend x: classify template: template has no {document}",
    },
  );
});

t.test("a batch's band is sent as vLLM's priority when bandPriorities is set", async (t) => {
  const fake = await fakeVllm(t);
  const sent = async (client: BackendClient, band: CallContext["band"]) => {
    await client.endpoints()[0]!.infer(BATCH, ctx({ band }));
    return (fake.seen.at(-1)!.json as { priority?: number }).priority;
  };
  const off = backend(t, { endpoints: [fake.url] });
  t.equal(await sent(off, "interactive"), undefined, "by default no priority is sent");
  const on = backend(t, {
    endpoints: [fake.url],
    bandPriorities: { interactive: -5, bulk: 0, background: 7 },
  });
  t.equal(await sent(on, "interactive"), -5);
  t.equal(await sent(on, "bulk"), 0);
  t.equal(await sent(on, "background"), 7);
  t.equal(await sent(on, undefined), undefined, "a call without a band sends none");
});

t.test(
  "against the simulator: priorities need its priority policy, and the refusal names the fix",
  async (t) => {
    const fcfs = await createVllmSim({ port: 0, model: MODEL });
    t.teardown(() => fcfs.close());
    const bands = { interactive: 0, bulk: 1, background: 2 };
    const client = backend(t, { endpoints: [fcfs.url], bandPriorities: bands });
    await t.resolves(
      client.endpoints()[0]!.infer(BATCH, ctx({ band: "interactive" })),
      "0 is always accepted",
    );
    await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx({ band: "bulk" })), {
      reason: "BACKEND_REJECTED",
      message:
        /does not schedule by priority .*--scheduling-policy priority, or set backends\.teacher\.bandPriorities: null/,
    });
    const priority = await createVllmSim({ port: 0, model: MODEL, schedulingPolicy: "priority" });
    t.teardown(() => priority.close());
    const ok = backend(t, { endpoints: [priority.url], bandPriorities: bands });
    await t.resolves(ok.endpoints()[0]!.infer(BATCH, ctx({ band: "background" })));
  },
);

t.test("an endpoint with a path prefix", async (t) => {
  const fake = await fakeVllm(t, {}, "/teacher");
  const client = backend(t, { endpoints: [fake.url] });
  await client.start();
  t.equal(client.isReady(), true);
  await client.endpoints()[0]!.infer(BATCH, ctx());
  t.same(
    fake.seen.map((s) => s.path),
    ["/teacher/health", "/teacher/v1/models", "/teacher/classify"],
  );
});

t.test("readiness follows /health and /v1/models, logging each change once", async (t) => {
  const fake = await fakeVllm(t, { "GET /health": { status: 503, body: "" } });
  const clock = new FakeClock();
  const { logger, lines } = captureLogs();
  const client = backend(t, { endpoints: [fake.url], clock, logger, readiness: { intervalMs: 1000 } });
  await client.start();
  t.equal(client.isReady(), false);
  t.match(client.endpoints()[0], { state: "not-ready" });
  t.ok(lines.some((l) => l.level === 40 && l.reason === "GET /health answered HTTP 503: (empty body)"));

  fake.routes.set("GET /health", { body: "" });
  fake.routes.set("GET /v1/models", { body: modelsBody(["llama-8b", "other"]) });
  const probes = () => fake.seen.filter((s) => s.path === "/v1/models").length;
  await clock.advance(1000);
  await waitFor(() => probes() === 1, "a probe of /v1/models");
  await waitFor(() => lines.some((l) => l.level === 50), "the error log");
  const misconfigured = `model '${MODEL}' is not served by ${fake.url}; served: llama-8b, other`;
  t.match(
    lines.filter((l) => l.level === 50),
    [
      {
        msg: `vllm endpoint not ready: ${misconfigured}`,
        reason: misconfigured,
        backend: "teacher",
        endpoint: fake.url,
      },
    ],
  );
  await clock.advance(1000);
  await waitFor(() => probes() === 2, "another probe");
  await clock.advance(0);
  t.equal(lines.filter((l) => l.level >= 40).length, 2, "a lasting problem is logged once");
  t.equal(client.isReady(), false);

  fake.routes.set("GET /v1/models", { body: modelsBody([MODEL], 4096) });
  await clock.advance(1000);
  await waitFor(() => client.isReady(), "ready");
  t.ok(lines.some((l) => l.msg === "vllm endpoint ready" && l.maxModelLen === 4096));
  await client.endpoints()[0]!.infer(BATCH, ctx());
  t.match(posts(fake)[0]?.json, { truncate_prompt_tokens: 4096 });

  await client[Symbol.asyncDispose]();
  t.equal(clock.pendingTimers, 0, "probing stops on dispose");
  await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.UNAVAILABLE,
    reason: "SHUTTING_DOWN",
  });
});

t.test("HTTP errors", async (t) => {
  const fake = await fakeVllm(t, {
    "POST /classify": { status: 404, body: ERROR_BODIES.modelNotFound },
    "POST /v1/completions": { status: 500, body: ERROR_BODIES.internal },
  });
  // One connection per pool: a body left unread would keep it busy and hang the next call.
  const classify = backend(t, { endpoints: [fake.url], maxConnections: 1 });
  await t.rejects(classify.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.UNAVAILABLE,
    reason: "BACKEND_MODEL_UNAVAILABLE",
    message: `backend teacher: model '${MODEL}' is not served by ${fake.url}: The model \`llama-8b\` does not exist.`,
  });
  const generate = backend(t, { endpoints: [fake.url], mode: "generate", maxConnections: 1 });
  await t.rejects(generate.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.UNAVAILABLE,
    reason: "BACKEND_UNAVAILABLE",
    message: `backend teacher: vllm on ${fake.url} is unavailable: POST /v1/completions answered HTTP 500: EngineCore encountered an issue. See stack trace (above) for the root cause.`,
  });
  fake.routes.set("POST /classify", { status: 501, body: ERROR_BODIES.noClassification });
  await t.rejects(classify.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_REJECTED",
    message: /does not support mode classify .*--convert classify/,
  });
  fake.routes.set("POST /classify", { body: "<html>not json</html>" });
  await t.rejects(classify.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_MALFORMED_RESPONSE",
    message: new RegExp(
      `^backend teacher: malformed POST /classify response from vllm on ${fake.url}: the body is not JSON`,
    ),
  });
  fake.routes.set("POST /classify", { body: CLASSIFY_BODY.replace('"index": 2', '"index": 0') });
  await t.rejects(classify.endpoints()[0]!.infer(BATCH, ctx()), {
    reason: "BACKEND_MALFORMED_RESPONSE",
    message: /data index 0 duplicated$/,
  });
  t.equal(
    fake.connections,
    2,
    "every answer was consumed: one keep-alive connection per pool served all calls",
  );
});

t.test("a response above the size limit fails and the endpoint stays usable", async (t) => {
  const fake = await fakeVllm(t, { "POST /v1/completions": { body: `{"pad":"${"x".repeat(4096)}"}` } });
  const client = backend(t, { endpoints: [fake.url], mode: "generate", maxResponseBytes: 2048 });
  await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.INTERNAL,
    reason: "BACKEND_MALFORMED_RESPONSE",
    message: new RegExp(`^backend teacher: the response of vllm on ${fake.url} exceeds the size limit`),
  });
  fake.routes.set("POST /v1/completions", { body: COMPLETIONS_BODY });
  const res = await client.endpoints()[0]!.infer(BATCH, ctx());
  expectRows(t, res.probabilities, COMPLETIONS_EXPECTED);
});

t.test("a server that is not listening is UNAVAILABLE", async (t) => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const client = backend(t, { endpoints: [url] });
  await client.start();
  t.match(client.endpoints()[0], { state: "not-ready" });
  const err = await client
    .endpoints()[0]!
    .infer(BATCH, ctx())
    .catch((e: unknown) => e);
  t.type(err, GatewayError);
  t.match(err, {
    code: grpc.status.UNAVAILABLE,
    reason: "BACKEND_UNAVAILABLE",
    message: new RegExp(`^backend teacher: cannot reach vllm on ${url}: .*ECONNREFUSED`),
  });
});

t.test("a server that never answers: the context's deadline, promptly", async (t) => {
  const fake = await fakeVllm(t, { "POST /classify": "hang" });
  const client = backend(t, { endpoints: [fake.url], timeoutMs: 60_000 });
  const started = performance.now();
  await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx({ timeoutMs: 150 })), {
    code: grpc.status.DEADLINE_EXCEEDED,
    reason: "DEADLINE_EXCEEDED",
    message: `backend teacher: call to ${fake.url} exceeded its deadline (150 ms)`,
  });
  const elapsed = performance.now() - started;
  t.ok(elapsed >= 140 && elapsed < 1000, `failed after ${elapsed.toFixed(0)} ms`);
  await waitFor(() => fake.closedEarly === 1, "the server saw the request closed");
  await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx({ timeoutMs: 0 })), {
    code: grpc.status.DEADLINE_EXCEEDED,
    reason: "DEADLINE_EXCEEDED",
  });
});

t.test("an answer that arrived while the event loop was busy past the deadline is kept", async (t) => {
  const fake = await fakeVllm(t, { "POST /classify": { body: CLASSIFY_BODY, blockMs: 150 } });
  const client = backend(t, { endpoints: [fake.url] });
  const res = await client.endpoints()[0]!.infer(BATCH, ctx({ timeoutMs: 60 }));
  expectRows(t, res.probabilities, CLASSIFY_EXPECTED);
});

t.test("the deadline runs on the injected clock; timeoutMs applies without one in the context", async (t) => {
  const fake = await fakeVllm(t, { "POST /classify": "hang" });
  const clock = new FakeClock();
  const client = backend(t, { endpoints: [fake.url], clock, timeoutMs: 5_000 });
  const call = client
    .endpoints()[0]!
    .infer(BATCH, ctx())
    .catch((e: unknown) => e);
  await waitFor(() => fake.inFlight === 1, "the request reached the server");
  await clock.advance(4_999);
  t.equal(fake.closedEarly, 0);
  await clock.advance(1);
  t.match(await call, { code: grpc.status.DEADLINE_EXCEEDED, message: /\(5000 ms\)$/ });
  await waitFor(() => fake.closedEarly === 1, "the server saw the request closed");
});

t.test("aborting the signal cancels the HTTP request", async (t) => {
  const fake = await fakeVllm(t, { "POST /classify": "hang" });
  const client = backend(t, { endpoints: [fake.url] });
  const [ep] = client.endpoints();

  const plain = new AbortController();
  const first = ep!.infer(BATCH, { signal: plain.signal });
  await waitFor(() => fake.inFlight === 1, "the request reached the server");
  plain.abort();
  await t.rejects(first, {
    code: grpc.status.CANCELLED,
    reason: "CLIENT_CANCELLED",
    message: `backend teacher: call to ${fake.url} cancelled`,
  });
  await waitFor(() => fake.closedEarly === 1, "the server saw the request closed");

  const reason = new GatewayError("DEADLINE_EXCEEDED", "all items expired");
  const withReason = new AbortController();
  const second = ep!.infer(BATCH, { signal: withReason.signal });
  await waitFor(() => fake.inFlight === 1, "the second request reached the server");
  withReason.abort(reason);
  await t.rejects(second, reason);
  await waitFor(() => fake.closedEarly === 2, "the server saw the second request closed");

  const pre = new AbortController();
  pre.abort(reason);
  await t.rejects(ep!.infer(BATCH, { signal: pre.signal }), reason);
  t.equal(posts(fake).length, 2, "an aborted signal sends nothing");
});

t.test("dispose fails the calls in flight at once instead of waiting for their deadline", async (t) => {
  const fake = await fakeVllm(t, { "POST /classify": "hang" });
  const client = createVllmBackend({
    name: "teacher",
    model: MODEL,
    mode: "classify",
    endpoints: [fake.url],
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
  });
  const [ep] = client.endpoints();
  const calls = [1, 2].map(() =>
    ep!.infer(BATCH, ctx({ timeoutMs: 30_000 })).then(
      () => undefined,
      (e: unknown) => e,
    ),
  );
  await waitFor(() => fake.inFlight === 2, "both requests reached the server");
  const started = performance.now();
  await client[Symbol.asyncDispose]();
  const disposeMs = performance.now() - started;
  const errors = await Promise.all(calls);
  for (const err of errors) {
    t.match(err, {
      code: grpc.status.UNAVAILABLE,
      reason: "SHUTTING_DOWN",
      message: "backend teacher: the backend client is closed",
    });
  }
  // Generous for a loaded machine, and far below the calls' 30 s.
  t.ok(disposeMs < 5_000, `dispose took ${Math.round(disposeMs)} ms`);
  await waitFor(() => fake.closedEarly === 2, "the server saw both requests closed");
  await t.rejects(ep!.infer(BATCH, ctx()), { code: grpc.status.UNAVAILABLE, reason: "SHUTTING_DOWN" });
});

t.test("maxConnections bounds the connections per endpoint", async (t) => {
  const fake = await fakeVllm(t, { "POST /classify": "hang" });
  const client = backend(t, { endpoints: [fake.url], maxConnections: 2 });
  const abort = new AbortController();
  const calls = [1, 2, 3, 4].map(() => client.endpoints()[0]!.infer(BATCH, { signal: abort.signal }));
  await waitFor(() => fake.inFlight === 2, "two requests in flight");
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(fake.inFlight, 2, "the other two wait for a connection");
  t.equal(fake.connections, 2);
  abort.abort();
  for (const call of calls)
    await t.rejects(call, { code: grpc.status.CANCELLED, reason: "CLIENT_CANCELLED" });
});

// ---- against the vLLM simulator ----

async function startSim(t: Test, opts: VllmSimOptions = {}): Promise<VllmSim> {
  const sim = await createVllmSim({ port: 0, model: MODEL, ...opts });
  t.teardown(() => sim.close());
  return sim;
}

const SIM_QUERIES = ["red running shoes", "Café crème", "日本 料理", "", "emoji 👟 shoes", "trail shoes"];
const SIM_DOCUMENTS = [
  "Red shoes for running",
  "CAFÉ au lait",
  "日本の料理 レシピ",
  "empty query",
  "👟 running shoes",
  "Waterproof trail running shoes with a rock plate",
];

t.test("the simulator: classify and generate agree with the teacher's probabilities", async (t) => {
  const sim = await startSim(t, { shuffleChoices: true });
  const classify = backend(t, { endpoints: [sim.url] });
  const generate = backend(t, { endpoints: [sim.url], mode: "generate" });
  await Promise.all([classify.start(), generate.start()]);
  t.equal(classify.isReady() && generate.isReady(), true);
  const batch = { queries: SIM_QUERIES, documents: SIM_DOCUMENTS };
  const [byClassify, byGenerate] = await Promise.all([
    classify.endpoints()[0]!.infer(batch, ctx()),
    generate.endpoints()[0]!.infer(batch, ctx()),
  ]);
  let worstAgreement = 0;
  let worstTeacher = 0;
  SIM_QUERIES.forEach((q, i) => {
    const want = teacherProbabilities(q, SIM_DOCUMENTS[i]!);
    for (let k = 0; k < 5; k++) {
      const c = byClassify.probabilities[i * 5 + k]!;
      const g = byGenerate.probabilities[i * 5 + k]!;
      worstAgreement = Math.max(worstAgreement, Math.abs(c - g));
      worstTeacher = Math.max(worstTeacher, Math.abs(c - want[k]!), Math.abs(g - want[k]!));
    }
  });
  t.ok(worstAgreement < 1e-4, `classify and generate differ by at most ${worstAgreement}`);
  t.ok(worstTeacher < 1e-6, `both match teacherProbabilities within ${worstTeacher}`);
  t.same(byClassify.model, { name: MODEL, version: "" });
  t.match(sim.stats(), { requests: 2, items: 2 * SIM_QUERIES.length, failures: 0 });
});

t.test("the simulator: over-long pairs are truncated to max_model_len rather than rejected", async (t) => {
  const sim = await startSim(t, { maxModelLen: 64 });
  const long = { queries: ["long"], documents: ["lorem ipsum ".repeat(200)] };
  for (const mode of ["classify", "generate"] as const) {
    const client = backend(t, { endpoints: [sim.url], mode });
    await client.start();
    t.equal(client.endpoints()[0]!.state, "ready");
    const res = await client.endpoints()[0]!.infer(long, ctx());
    t.equal(res.probabilities.length, 5, mode);
  }
  t.match(sim.stats(), { failures: 0 });
});

t.test("the simulator: a dead engine and a crash", async (t) => {
  const sim = await startSim(t);
  const client = backend(t, { endpoints: [sim.url], mode: "generate" });
  await client.start();
  sim.setHealthy(false);
  await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.UNAVAILABLE,
    reason: "BACKEND_UNAVAILABLE",
    message: /answered HTTP 500: EngineCore encountered an issue/,
  });
  sim.stop();
  await t.rejects(client.endpoints()[0]!.infer(BATCH, ctx()), {
    code: grpc.status.UNAVAILABLE,
    reason: "BACKEND_UNAVAILABLE",
  });
});
