import { request } from "node:http";
import t, { type Test } from "tap";
import {
  compileTemplate,
  DEFAULT_CLASSIFY_TEMPLATE,
  DEFAULT_GENERATE_TEMPLATE,
} from "../../../../src/backends/vllm/templates.js";
import {
  createVllmSim,
  DEFAULT_VLLM_SIM_PORT,
  parseTeacherInput,
  SIM_VLLM_VERSION,
  simTokenCount,
  simTruncate,
  teacherProbabilities,
  type VllmSim,
  type VllmSimOptions,
} from "../../../../src/tools/sim/vllm/server.js";
import { FakeClock } from "../../../helpers/fake-clock.js";

const classifyInput = compileTemplate(DEFAULT_CLASSIFY_TEMPLATE);
const generatePrompt = compileTemplate(DEFAULT_GENERATE_TEMPLATE);

const PAIRS: [string, string][] = [
  ["chocolate chip cookies", "Title: Best chocolate chip cookies\nBoards: Baking\nQueries: cookie recipe"],
  ["東京 桜", "Title: 東京の桜\nImage: cherry blossoms 🌸"],
  ["garden furniture", "Title: Patio ideas\nLink: patio"],
  ["", "Title: no query at all"],
];

async function startSim(t: Test, opts: VllmSimOptions = {}): Promise<VllmSim> {
  const sim = await createVllmSim({ port: 0, ...opts });
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

async function call(
  sim: VllmSim,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Reply> {
  const res = await fetch(sim.url + path, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", ...init.headers },
    ...(init.body === undefined
      ? {}
      : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

const keys = (o: object) => Object.keys(o).sort();

/** Polls until `cond` holds; generous, so a loaded machine only makes it slower. */
async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test("health, version, model list and metrics", async (t) => {
  t.equal(DEFAULT_VLLM_SIM_PORT, 8000);
  const sim = await startSim(t, { model: "llama-teacher", maxModelLen: 4096 });
  t.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal(sim.url, `http://127.0.0.1:${sim.port}`);

  const health = await call(sim, "/health");
  t.equal(health.status, 200);
  t.equal(health.text, "");

  t.same((await call(sim, "/version")).body, { version: SIM_VLLM_VERSION });

  const models = await call(sim, "/v1/models");
  t.equal(models.status, 200);
  t.same(keys(models.body), ["data", "object"]);
  t.equal(models.body.object, "list");
  t.equal(models.body.data.length, 1);
  const card = models.body.data[0];
  t.same(keys(card), [
    "created",
    "id",
    "max_model_len",
    "object",
    "owned_by",
    "parent",
    "permission",
    "root",
  ]);
  t.match(card, {
    id: "llama-teacher",
    object: "model",
    owned_by: "vllm",
    root: "llama-teacher",
    parent: null,
    max_model_len: 4096,
  });
  t.ok(Number.isInteger(card.created));
  t.match(card.permission, [{ object: "model_permission", allow_logprobs: true }]);

  const metrics = await call(sim, "/metrics");
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get("content-type"), /^text\/plain/);
  for (const name of ["num_requests_running", "num_requests_waiting"]) {
    t.match(metrics.text, new RegExp(`^vllm:${name}\\{model_name="llama-teacher"\\} 0$`, "m"));
  }
  t.match(metrics.text, /^vllm:request_success_total\{[^}]*finished_reason="length"[^}]*\} 0$/m);
  t.match(metrics.text, /^vllm:prompt_tokens_total\{model_name="llama-teacher"\} 0$/m);
});

t.test("/classify scores each input with the teacher", async (t) => {
  const sim = await startSim(t);
  const input = PAIRS.map(([q, d]) => classifyInput(q, d));
  const res = await call(sim, "/classify", {
    body: { model: "relevance-teacher", input, priority: 0, use_activation: true, unknown_field: 1 },
  });
  t.equal(res.status, 200);
  t.same(keys(res.body), ["created", "data", "id", "model", "object", "usage"]);
  t.match(res.body.id, /^classify-[0-9a-f]{32}$/);
  t.equal(res.body.object, "list");
  t.equal(res.body.model, "relevance-teacher");
  t.ok(Number.isInteger(res.body.created));
  const promptTokens = input.reduce((n, s) => n + simTokenCount(s), 0);
  t.same(res.body.usage, {
    prompt_tokens: promptTokens,
    total_tokens: promptTokens,
    completion_tokens: 0,
    prompt_tokens_details: null,
  });
  t.equal(res.body.data.length, PAIRS.length);
  for (const [i, [q, d]] of PAIRS.entries()) {
    const item = res.body.data[i];
    t.same(keys(item), ["index", "label", "num_classes", "probs"]);
    const expected = Array.from(teacherProbabilities(q, d));
    t.same(item, {
      index: i,
      // vLLM: hf_config.id2label[argmax]; the classifier_from_token conversion sets num_labels 5,
      // for which transformers names the classes LABEL_0..LABEL_4.
      label: `LABEL_${expected.indexOf(Math.max(...expected))}`,
      probs: expected,
      num_classes: 5,
    });
  }

  const single = await call(sim, "/classify", { body: { input: input[0] } });
  t.equal(single.status, 200, "model may be omitted; a string is one input");
  t.same(single.body.data[0].probs, res.body.data[0].probs, "deterministic");
  t.match(sim.stats(), { requests: 2, items: 5, failures: 0, running: 0, waiting: 0 });

  const metrics = await call(sim, "/metrics");
  const total = promptTokens + simTokenCount(input[0]!);
  t.match(metrics.text, new RegExp(`^vllm:prompt_tokens_total\\{[^}]*\\} ${total}$`, "m"));
  t.match(
    metrics.text,
    /^vllm:request_success_total\{[^}]*finished_reason="stop"[^}]*\} 5$/m,
    "one per item",
  );
});

t.test("/classify: label comes from a configured id2label (--hf-overrides)", async (t) => {
  const id2label = { 0: "1", 1: "2", 2: "3", 3: "4", 4: "5" };
  const sim = await startSim(t, { id2label });
  const [q, d] = PAIRS[0]!;
  const res = await call(sim, "/classify", { body: { input: [classifyInput(q, d)] } });
  const expected = Array.from(teacherProbabilities(q, d));
  t.equal(res.body.data[0].label, String(expected.indexOf(Math.max(...expected)) + 1));
  const partial = await startSim(t, { id2label: { 0: "irrelevant" } });
  const none = await call(partial, "/classify", { body: { input: [classifyInput("shoes", "shoes shoes")] } });
  t.equal(none.body.data[0].label, null, "an index id2label lacks gives null, as id2label.get does");
});

t.test("/v1/completions: label log-probs renormalise to the classify probabilities", async (t) => {
  const sim = await startSim(t);
  const prompt = PAIRS.map(([q, d]) => generatePrompt(q, d));
  const res = await call(sim, "/v1/completions", {
    body: { model: "relevance-teacher", prompt, max_tokens: 1, temperature: 0, logprobs: 20, seed: 1 },
  });
  t.equal(res.status, 200);
  t.same(keys(res.body), ["choices", "created", "id", "model", "object", "usage"]);
  t.match(res.body.id, /^cmpl-[0-9a-f]{32}$/);
  t.equal(res.body.object, "text_completion");
  const promptTokens = prompt.reduce((n, s) => n + simTokenCount(s), 0);
  t.same(res.body.usage, {
    prompt_tokens: promptTokens,
    total_tokens: promptTokens + prompt.length,
    completion_tokens: prompt.length,
    prompt_tokens_details: null,
  });
  const classified = await call(sim, "/classify", {
    body: { input: PAIRS.map(([q, d]) => classifyInput(q, d)) },
  });
  for (const [i, choice] of res.body.choices.entries()) {
    t.same(keys(choice), ["finish_reason", "index", "logprobs", "prompt_logprobs", "stop_reason", "text"]);
    t.match(choice, { index: i, finish_reason: "length", stop_reason: null, prompt_logprobs: null });
    t.same(keys(choice.logprobs), ["text_offset", "token_logprobs", "tokens", "top_logprobs"]);
    const top = choice.logprobs.top_logprobs[0] as Record<string, number>;
    t.equal(Object.keys(top).length, 20);
    t.same(choice.logprobs.text_offset, [0]);
    t.same(choice.logprobs.tokens, [choice.text]);
    t.equal(choice.logprobs.token_logprobs[0], top[choice.text]);
    const mass = [1, 2, 3, 4, 5].map((k) => Math.exp(top[String(k)]!) + Math.exp(top[` ${k}`]!));
    const total = mass.reduce((s, m) => s + m, 0);
    t.ok(total < 1, "label mass below 1: the client must renormalise");
    const probs = classified.body.data[i].probs as number[];
    const worst = Math.max(...mass.map((m, k) => Math.abs(m / total - probs[k]!)));
    t.ok(worst < 1e-6, `choice ${i} matches /classify (max diff ${worst})`);
    t.equal(
      choice.text,
      String(probs.indexOf(Math.max(...probs)) + 1),
      "the text is the argmax label's digit",
    );
  }

  const plain = await call(sim, "/v1/completions", { body: { prompt: prompt[0] } });
  t.equal(plain.status, 200, "defaults: max_tokens 16, no logprobs, temperature unset");
  t.match(plain.body.choices[0], { index: 0, logprobs: null, finish_reason: "stop" });
  t.same(plain.body.usage.completion_tokens, 1);

  const five = await call(sim, "/v1/completions", {
    body: { prompt: prompt[0], max_tokens: 1, logprobs: 5 },
  });
  t.equal(Object.keys(five.body.choices[0].logprobs.top_logprobs[0]).length, 5, "exactly `logprobs` entries");
  const zero = await call(sim, "/v1/completions", {
    body: { prompt: prompt[0], max_tokens: 1, logprobs: 0 },
  });
  t.same(Object.keys(zero.body.choices[0].logprobs.top_logprobs[0]), [zero.body.choices[0].text]);
});

t.test("choices come out of order on request, and index says which is which", async (t) => {
  const prompts = Array.from({ length: 8 }, (_, i) => `Query: q${i} word\nDocument:\nword ${"x".repeat(i)}`);
  const expected = prompts.map((p) => {
    const { query, document } = parseTeacherInput(p);
    return Array.from(teacherProbabilities(query, document));
  });
  /** `probs`: the items are /classify data, each of which must carry its probabilities. */
  const check = (t: Test, items: { index: number; probs?: number[] }[], what: string, probs = false) => {
    const order = items.map((c) => c.index);
    t.notSame(
      order,
      [...order].sort((a, b) => a - b),
      `${what}: shuffled`,
    );
    t.same(
      [...order].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7],
      `${what}: every index once`,
    );
    if (!probs) return;
    for (const c of items) t.same(c.probs, expected[c.index], `${what}: index ${c.index}`);
  };

  const sim = await startSim(t);
  const header = { "x-sim-shuffle-choices": "1" };
  const completions = await call(sim, "/v1/completions", {
    body: { prompt: prompts, max_tokens: 1 },
    headers: header,
  });
  check(t, completions.body.choices, "completions (header)");
  for (const c of completions.body.choices) {
    const p = expected[c.index]!;
    t.equal(c.text, String(p.indexOf(Math.max(...p)) + 1));
  }
  check(
    t,
    (await call(sim, "/classify", { body: { input: prompts }, headers: header })).body.data,
    "classify",
    true,
  );
  const ordered = await call(sim, "/v1/completions", { body: { prompt: prompts, max_tokens: 1 } });
  t.same(
    ordered.body.choices.map((c: { index: number }) => c.index),
    [0, 1, 2, 3, 4, 5, 6, 7],
    "in order without the header",
  );

  const always = await startSim(t, { shuffleChoices: true });
  check(
    t,
    (await call(always, "/classify", { body: { input: prompts } })).body.data,
    "classify (option)",
    true,
  );
});

t.test("errors: status and body in the current and the legacy shape", async (t) => {
  const current = await startSim(t);
  const legacy = await startSim(t, { legacyErrors: true });
  const cases: [string, unknown, number, string, string | RegExp, string | null][] = [
    [
      "/classify",
      { model: "nope", input: "x" },
      404,
      "NotFoundError",
      "The model `nope` does not exist.",
      "model",
    ],
    ["/v1/completions", { model: "nope", prompt: "x" }, 404, "NotFoundError", /`nope`/, "model"],
    ["/classify", "{not json", 400, "BadRequestError", /^JSON decode error/, null],
    ["/classify", { model: "relevance-teacher" }, 400, "BadRequestError", /input/, null],
    ["/classify", { input: 5 }, 400, "BadRequestError", /input/, null],
    ["/classify", { input: [] }, 400, "BadRequestError", /input/, null],
    ["/classify", [1, 2], 400, "BadRequestError", /dictionary/, null],
    ["/v1/completions", { prompt: "x", max_tokens: "1" }, 400, "BadRequestError", /max_tokens/, null],
    ["/v1/completions", { prompt: "x", max_tokens: 0 }, 400, "BadRequestError", /at least 1/, null],
    ["/v1/completions", { prompt: [[1, 2, 3]] }, 400, "BadRequestError", /^vllm sim: token-ID/, "prompt"],
    [
      "/v1/completions",
      { prompt: "x", logprobs: 21 },
      400,
      "BadRequestError",
      "Requested sample logprobs of 21, which is greater than max allowed: 20",
      null,
    ],
    [
      "/v1/completions",
      { prompt: "x", logprobs: -1 },
      400,
      "BadRequestError",
      /greater than max allowed/,
      null,
    ],
    [
      "/classify",
      { input: Array.from({ length: 1025 }, () => "x") },
      400,
      "BadRequestError",
      /at most 1024/,
      null,
    ],
    ["/classify", { input: "x", priority: "1" }, 400, "BadRequestError", /priority/, null],
    [
      "/classify",
      { input: "x", priority: 1 },
      400,
      "BadRequestError",
      "Got priority 1 but Priority scheduling is not enabled.",
      null,
    ],
    [
      "/v1/completions",
      { prompt: "x", priority: -2 },
      400,
      "BadRequestError",
      "Got priority -2 but Priority scheduling is not enabled.",
      null,
    ],
  ];
  for (const [path, body, status, type, message, param] of cases) {
    const what = `${path} ${JSON.stringify(body).slice(0, 40)}`;
    const a = await call(current, path, { body });
    t.equal(a.status, status, what);
    t.same(keys(a.body), ["error"], `${what}: current shape`);
    t.match(a.body.error, { type, message, param, code: status }, what);
    t.same(keys(a.body.error), ["code", "message", "param", "type"]);
    const b = await call(legacy, path, { body });
    t.equal(b.status, status);
    t.same(keys(b.body), ["code", "message", "object", "param", "type"], `${what}: legacy shape`);
    t.match(b.body, { object: "error", type, message, param, code: status });
  }
  t.match(current.stats(), { requests: cases.length, failures: cases.length, items: 0 });

  const unknown = await call(current, "/v1/chat/completions", { body: {} });
  t.same([unknown.status, unknown.body], [404, { detail: "Not Found" }]);
  const wrongMethod = await call(current, "/classify");
  t.same([wrongMethod.status, wrongMethod.body], [405, { detail: "Method Not Allowed" }]);
  t.equal(wrongMethod.headers.get("allow"), "POST");
  t.equal((await call(current, "/health", { method: "POST" })).status, 405);
});

t.test("a body over the limit gets 413", async (t) => {
  const sim = await startSim(t, { maxBodyBytes: 1024 });
  const res = await call(sim, "/classify", { body: { input: "x".repeat(2000) } });
  t.equal(res.status, 413);
  t.match(res.body, { error: { code: 413 } });
  t.equal((await call(sim, "/classify", { body: { input: "small" } })).status, 200, "the server carries on");

  // Without content-length the limit is found while reading; the answer must still get out.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${sim.url}/classify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.write(`{"input": "${"y".repeat(800)}`);
    req.write(`${"y".repeat(800)}"}`);
    req.end();
  });
  t.equal(chunked.status, 413);
  t.match(JSON.parse(chunked.body), { error: { code: 413, type: "BadRequestError" } });
});

t.test("an unhealthy engine: /health 503, inference 500", async (t) => {
  const sim = await startSim(t, { healthy: false });
  t.equal((await call(sim, "/health")).status, 503);
  const res = await call(sim, "/classify", { body: { input: "x" } });
  t.equal(res.status, 500);
  t.match(res.body, { error: { type: "InternalServerError", code: 500 } });
  sim.setHealthy(true);
  t.equal((await call(sim, "/health")).status, 200);
  t.equal((await call(sim, "/classify", { body: { input: "x" } })).status, 200);
});

t.test("length limits and truncation", async (t) => {
  const sim = await startSim(t, { maxModelLen: 64 });
  const q = "red running shoes";
  // The pair alone, without the default template's instructions, so right truncation keeps the query.
  const long = compileTemplate("Query: {query}\nDocument:\n{document}")(
    q,
    `Title: ${"shoes for running and more ".repeat(12)}`,
  );
  const n = simTokenCount(long);
  t.ok(n > 64);

  const tooLong = await call(sim, "/classify", { body: { input: ["fine", long] } });
  t.equal(tooLong.status, 400, "one long item fails the call");
  t.equal(
    tooLong.body.error.message,
    `This model's maximum context length is 64 tokens. However, you requested ${n} tokens in the input ` +
      "for embedding generation. Please reduce the length of the input.",
  );
  const atLimit = "x".repeat(4 * 63); // 63 + BOS = 64 tokens
  t.equal(
    (await call(sim, "/classify", { body: { input: atLimit } })).status,
    200,
    "classify fits at the limit",
  );
  const noRoom = await call(sim, "/v1/completions", { body: { prompt: atLimit, max_tokens: 1 } });
  t.equal(noRoom.status, 400, "a completion needs room for one token");
  t.equal(
    noRoom.body.error.message,
    "This model's maximum context length is 64 tokens. However, your request has 64 input tokens. " +
      "Please reduce the length of the input messages.",
  );
  const tight = "x".repeat(4 * 49); // 50 tokens
  const maxTokens = await call(sim, "/v1/completions", { body: { prompt: tight } });
  t.equal(
    maxTokens.body.error.message,
    "'max_tokens' or 'max_completion_tokens' is too large: 16. This model's maximum context length is 64 " +
      "tokens and your request has 50 input tokens (16 > 64 - 50).",
  );
  t.equal((await call(sim, "/v1/completions", { body: { prompt: tight, max_tokens: 1 } })).status, 200);

  for (const path of ["/classify", "/v1/completions"]) {
    const field = path === "/classify" ? "input" : "prompt";
    const res = await call(sim, path, { body: { [field]: "x", truncate_prompt_tokens: 65 } });
    t.equal(res.status, 400);
    t.equal(
      res.body.error.message,
      "truncate_prompt_tokens value is greater than max_model_len. Please, select a smaller truncation size.",
    );
  }

  for (const side of ["left", "right"] as const) {
    const res = await call(sim, "/classify", {
      body: {
        input: long,
        truncate_prompt_tokens: 32,
        ...(side === "right" ? { truncation_side: side } : {}),
      },
    });
    t.equal(res.status, 200, side);
    const kept = simTruncate(long, 32, side);
    t.equal(res.body.usage.prompt_tokens, simTokenCount(kept));
    t.equal(res.body.usage.prompt_tokens, 32);
    const { query, document } = parseTeacherInput(kept);
    t.equal(query, side === "left" ? "" : q, `${side}: ${side === "left" ? "query cut away" : "query kept"}`);
    t.same(res.body.data[0].probs, Array.from(teacherProbabilities(query, document)));
  }
  const whole = await call(sim, "/classify", { body: { input: long, truncate_prompt_tokens: -1 } });
  t.equal(whole.body.usage.prompt_tokens, 64, "-1 truncates to max_model_len");

  const completion = await call(sim, "/v1/completions", {
    body: { prompt: long, max_tokens: 1, truncate_prompt_tokens: 40, truncation_side: "right" },
  });
  t.equal(completion.status, 200);
  t.equal(completion.body.usage.prompt_tokens, 40, "completions truncate on the left whatever the side");
  const { query, document } = parseTeacherInput(simTruncate(long, 40, "left"));
  const p = Array.from(teacherProbabilities(query, document));
  t.equal(completion.body.choices[0].text, String(p.indexOf(Math.max(...p)) + 1));
});

t.test("continuous batching: max_num_seqs running, the rest waiting", async (t) => {
  const clock = new FakeClock();
  const sim = await startSim(t, { clock, maxNumSeqs: 2 });
  const input = classifyInput("red shoes", "Title: red shoes");
  const replies = Array.from({ length: 5 }, () => call(sim, "/classify", { body: { input } }));
  // The engine wakes one (fake) tick after the first arrival: until then all wait.
  await waitFor(() => sim.stats().waiting === 5, "all five to arrive");
  await clock.advance(0);
  t.match(sim.stats(), { running: 2, waiting: 3, maxRunningSeen: 2, items: 2 });
  const metrics = await call(sim, "/metrics");
  t.match(metrics.text, /^vllm:num_requests_running\{model_name="relevance-teacher"\} 2$/m);
  t.match(metrics.text, /^vllm:num_requests_waiting\{model_name="relevance-teacher"\} 3$/m);
  await clock.advance(1000);
  for (const r of await Promise.all(replies)) t.equal(r.status, 200);
  t.match(sim.stats(), { requests: 5, items: 5, running: 0, waiting: 0, maxRunningSeen: 2, failures: 0 });
});

t.test("--scheduling-policy priority: waiting requests are admitted lowest priority first", async (t) => {
  const clock = new FakeClock();
  const sim = await startSim(t, { clock, maxNumSeqs: 1, schedulingPolicy: "priority" });
  const input = classifyInput("red shoes", "Title: red shoes");
  const order: string[] = [];
  const send = async (name: string, priority: number | undefined, waiting: number) => {
    const reply = call(sim, "/classify", { body: priority === undefined ? { input } : { input, priority } });
    void reply.then((r) => order.push(`${name} ${r.status}`));
    await waitFor(() => sim.stats().waiting + sim.stats().running === waiting, `${name} to arrive`);
    return { reply }; // not the promise itself: awaiting send() must not wait for the answer
  };
  const replies = [(await send("first", 3, 1)).reply];
  await clock.advance(0); // "first" runs alone (max_num_seqs 1); the rest wait
  replies.push((await send("background", 2, 2)).reply);
  replies.push((await send("default", undefined, 3)).reply); // 0
  replies.push((await send("bulk", 1, 4)).reply);
  replies.push((await send("interactive", 0, 5)).reply);
  for (let i = 0; i < 5; i++) await clock.advance(1000);
  await Promise.all(replies);
  t.same(order, ["first 200", "default 200", "interactive 200", "bulk 200", "background 200"]);
});

t.test("a list fans out into one sequence per item", async (t) => {
  const clock = new FakeClock();
  const sim = await startSim(t, { clock, maxNumSeqs: 3 });
  const reply = call(sim, "/v1/completions", { body: { prompt: ["a", "b", "c", "d"], max_tokens: 1 } });
  await waitFor(() => sim.stats().waiting === 4, "the four items");
  await clock.advance(0);
  t.match(sim.stats(), { running: 3, waiting: 1 });
  await clock.advance(1000);
  t.equal((await reply).body.choices.length, 4);
});

t.test("a client that goes away is cancelled and counted as a failure", async (t) => {
  const clock = new FakeClock();
  const sim = await startSim(t, { clock, maxNumSeqs: 1 });
  const input = classifyInput("q", "d");
  const first = call(sim, "/classify", { body: { input } });
  const abort = new AbortController();
  const second = call(sim, "/classify", { body: { input }, signal: abort.signal });
  await waitFor(() => sim.stats().waiting === 2, "both to arrive");
  await clock.advance(0);
  t.match(sim.stats(), { running: 1, waiting: 1 });
  abort.abort();
  await t.rejects(second);
  await waitFor(() => sim.stats().waiting === 0, "the waiting request to be removed");
  t.match(sim.stats(), { running: 1, failures: 1 });
  await clock.advance(1000);
  t.equal((await first).status, 200);
  t.match(sim.stats(), { requests: 2, items: 1, failures: 1 });
});

t.test("stop(): in-flight calls are cut and new connections refused", async (t) => {
  const clock = new FakeClock();
  const sim = await startSim(t, { clock });
  t.equal((await call(sim, "/health")).status, 200);
  const inFlight = call(sim, "/classify", { body: { input: "x" } });
  await waitFor(() => sim.stats().waiting === 1, "the call to arrive");
  sim.stop();
  await t.rejects(inFlight);
  await t.rejects(fetch(`${sim.url}/health`), { cause: { code: "ECONNREFUSED" } });
  t.match(sim.stats(), { requests: 1, failures: 1, running: 0, waiting: 0 });
  await sim.close();
});
