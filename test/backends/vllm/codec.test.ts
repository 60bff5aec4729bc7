import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import {
  classifyRequestBody,
  completionRequestBody,
  parseClassifyResponse,
  parseCompletionResponse,
} from "../../../src/backends/vllm/codec.js";
import { parseErrorBody, type VllmCallSite } from "../../../src/backends/vllm/errors.js";
import { checkModels } from "../../../src/backends/vllm/readiness.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import {
  CLASSIFY_BODY,
  CLASSIFY_EXPECTED,
  COMPLETIONS_BODY,
  COMPLETIONS_EXPECTED,
  ERROR_BODIES,
  MODEL,
  modelsBody,
} from "./fixtures.js";

const ENDPOINT = "http://127.0.0.1:8000";
const classifySite: VllmCallSite = { backend: "teacher", endpoint: ENDPOINT, model: MODEL, mode: "classify" };
const generateSite: VllmCallSite = { ...classifySite, mode: "generate" };
const LABELS = ["1", "2", "3", "4", "5"];

function expectRows(t: Test, got: Float32Array, want: readonly (readonly number[])[]): void {
  t.equal(got.length, want.length * 5);
  let worst = 0;
  want.forEach((row, i) => {
    let sum = 0;
    for (let k = 0; k < 5; k++) {
      worst = Math.max(worst, Math.abs(got[i * 5 + k]! - row[k]!));
      sum += got[i * 5 + k]!;
    }
    t.ok(Math.abs(sum - 1) < 1e-6, `row ${i} sums to 1 (${sum})`);
  });
  t.ok(worst < 1e-6, `max deviation ${worst}`);
}

interface ClassifyItem {
  index: unknown;
  num_classes: unknown;
  probs?: unknown[];
}
interface ClassifyJson {
  data?: (ClassifyItem | null)[];
}
interface CompletionsJson {
  choices?: { index: number; logprobs: { top_logprobs: (Record<string, unknown> | null)[] } | null }[];
}

/** A recorded body with `edit` applied to its parsed JSON. */
function classifyWith(edit: (json: ClassifyJson) => unknown): unknown {
  const json = JSON.parse(CLASSIFY_BODY) as ClassifyJson;
  edit(json);
  return json;
}

function completionsWith(edit: (json: CompletionsJson) => unknown): unknown {
  const json = JSON.parse(COMPLETIONS_BODY) as CompletionsJson;
  edit(json);
  return json;
}

t.test("classify request body", async (t) => {
  t.same(classifyRequestBody(MODEL, ["a", "b"], 8192), {
    model: MODEL,
    input: ["a", "b"],
    truncate_prompt_tokens: 8192,
    truncation_side: "left",
  });
  t.same(
    classifyRequestBody(MODEL, ["a"], undefined),
    { model: MODEL, input: ["a"] },
    "no truncation unknown",
  );
});

t.test("completion request body", async (t) => {
  const body = completionRequestBody(MODEL, ["p0", "p1"], 20, 8191);
  t.same(body, {
    model: MODEL,
    prompt: ["p0", "p1"],
    max_tokens: 1,
    temperature: 0,
    logprobs: 20,
    truncate_prompt_tokens: 8191,
  });
  t.notOk(
    Object.keys(body).some((k) => k.startsWith("guided_")),
    "no legacy guided_* fields",
  );
  t.notOk("truncate_prompt_tokens" in completionRequestBody(MODEL, ["p"], 5, undefined));
});

t.test("a recorded /classify response is matched by index", async (t) => {
  const res = parseClassifyResponse(JSON.parse(CLASSIFY_BODY), 3, classifySite);
  expectRows(t, res.probabilities, CLASSIFY_EXPECTED);
  t.equal(res.model, MODEL);
});

t.test("classify reads probs only: label is whatever id2label names, or null", async (t) => {
  for (const label of [null, "5", "irrelevant", 3]) {
    const json = JSON.parse(CLASSIFY_BODY) as { data: { label: unknown }[] };
    for (const item of json.data) item.label = label;
    expectRows(t, parseClassifyResponse(json, 3, classifySite).probabilities, CLASSIFY_EXPECTED);
  }
  const json = JSON.parse(CLASSIFY_BODY) as { data: Record<string, unknown>[] };
  for (const item of json.data) delete item.label;
  expectRows(t, parseClassifyResponse(json, 3, classifySite).probabilities, CLASSIFY_EXPECTED);
});

t.test("classify rows are renormalised in float64", async (t) => {
  const json = classifyWith((j) => {
    j.data![0]!.probs = [0.2004, 0.2, 0.2, 0.2, 0.2];
  });
  const res = parseClassifyResponse(json, 3, classifySite);
  t.ok(Math.abs(res.probabilities[10]! - 0.2004 / 1.0004) < 1e-7);
});

t.test("malformed /classify responses name what is wrong", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["not an object", [1, 2], /the body is not a JSON object$/],
    ["no data", classifyWith((j) => delete j.data), /data is missing$/],
    ["data not a list", classifyWith((j) => Object.assign(j, { data: {} })), /data is not a list$/],
    ["duplicate", classifyWith((j) => (j.data![0]!.index = 1)), /data index 1 duplicated$/],
    ["missing", classifyWith((j) => j.data!.splice(0, 1)), /data\[2\] missing \(2 entries for 3 inputs\)$/],
    [
      "out of range",
      classifyWith((j) => (j.data![0]!.index = 7)),
      /data index 7 is out of range for 3 inputs$/,
    ],
    ["index not a number", classifyWith((j) => (j.data![1]!.index = "0")), /position 1 has index "0"/],
    [
      "entry not an object",
      classifyWith((j) => (j.data![1] = null)),
      /data entry at position 1 is not an object/,
    ],
    [
      "num_classes",
      classifyWith((j) => (j.data![1]!.num_classes = 4)),
      /data\[0\]\.num_classes is 4, expected 5/,
    ],
    [
      "probs length",
      classifyWith((j) => j.data![1]!.probs!.pop()),
      /data\[0\]\.probs has 4 entries, expected 5/,
    ],
    [
      "probs missing",
      classifyWith((j) => delete j.data![2]!.probs),
      /data\[1\]\.probs is missing, expected 5/,
    ],
    ["negative", classifyWith((j) => (j.data![2]!.probs![3] = -0.2)), /data\[1\]\.probs\[3\] is -0\.2/],
    ["not a number", classifyWith((j) => (j.data![2]!.probs![0] = null)), /data\[1\]\.probs\[0\] is null/],
    [
      "not softmax",
      classifyWith((j) => (j.data![1]!.probs = [1, 0.5, 0.5, 1, 0.2])),
      /probs sum to 3\.2, not 1/,
    ],
  ];
  for (const [name, json, message] of cases) {
    const err = (() => {
      try {
        parseClassifyResponse(json, 3, classifySite);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.type(err, GatewayError, name);
    t.match(err, { code: grpc.status.INTERNAL, reason: "BACKEND_MALFORMED_RESPONSE", message }, name);
    t.match(
      (err as Error).message,
      /^backend teacher: malformed POST \/classify response from vllm on http:\/\/127\.0\.0\.1:8000: /,
      name,
    );
  }
});

t.test(
  "a recorded /v1/completions response: labels with and without a leading space, out of order",
  async (t) => {
    const res = parseCompletionResponse(JSON.parse(COMPLETIONS_BODY), 3, LABELS, generateSite);
    expectRows(t, res.probabilities, COMPLETIONS_EXPECTED);
    t.equal(res.model, MODEL);
  },
);

t.test("other label tokens", async (t) => {
  const json = completionsWith((j) => {
    for (const c of j.choices!)
      c.logprobs!.top_logprobs[0] = { A: Math.log(0.4), " E": Math.log(0.1), x: -0.1 };
  });
  const res = parseCompletionResponse(json, 3, ["A", "B", "C", "D", "E"], generateSite);
  expectRows(
    t,
    res.probabilities,
    [0, 1, 2].map(() => [0.8, 0, 0, 0, 0.2]),
  );
});

t.test("no label token in the top-k is INTERNAL naming the item", async (t) => {
  for (const top of [
    { The: -0.1, "**": -2.5, "\n": -3 },
    { "1": -9999.0, The: -0.0001 },
  ]) {
    const json = completionsWith((j) => {
      j.choices![0]!.logprobs!.top_logprobs[0]! = top;
    });
    t.throws(() => parseCompletionResponse(json, 3, LABELS, generateSite), {
      code: grpc.status.INTERNAL,
      reason: "INTERNAL",
      message:
        /^backend teacher: the teacher's top-\d+ next tokens for item 1 contain no label token \(1, 2, 3, 4, 5\); check the prompt template/,
    });
  }
});

t.test("malformed /v1/completions responses name what is wrong", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["not an object", "text", /the body is not a JSON object$/],
    ["no choices", completionsWith((j) => delete j.choices), /choices is missing$/],
    ["missing choice", completionsWith((j) => j.choices!.pop()), /choices\[2\] missing/],
    ["duplicate choice", completionsWith((j) => (j.choices![2]!.index = 1)), /choices index 1 duplicated$/],
    ["n > 1 choices", completionsWith((j) => (j.choices![0]!.index = 3)), /choices index 3 is out of range/],
    [
      "no logprobs",
      completionsWith((j) => (j.choices![0]!.logprobs = null)),
      /choices\[1\]\.logprobs is missing/,
    ],
    [
      "empty top_logprobs",
      completionsWith((j) => (j.choices![1]!.logprobs!.top_logprobs = [])),
      /choices\[0\]\.logprobs\.top_logprobs is missing or empty/,
    ],
    [
      "null position",
      completionsWith((j) => (j.choices![1]!.logprobs!.top_logprobs = [null])),
      /choices\[0\]\.logprobs\.top_logprobs\[0\] is not an object/,
    ],
    [
      "logprob not a number",
      completionsWith((j) => (j.choices![2]!.logprobs!.top_logprobs[0]!["3"] = "-0.7")),
      /choices\[2\]\.logprobs\.top_logprobs\[0\]\["3"\] is "-0\.7", expected a logprob/,
    ],
    [
      "positive logprob",
      completionsWith((j) => (j.choices![2]!.logprobs!.top_logprobs[0]!.The = 0.5)),
      /top_logprobs\[0\]\["The"\] is 0\.5/,
    ],
  ];
  for (const [name, json, message] of cases) {
    t.throws(
      () => parseCompletionResponse(json, 3, LABELS, generateSite),
      { code: grpc.status.INTERNAL, reason: "BACKEND_MALFORMED_RESPONSE", message },
      name,
    );
  }
});

t.test("error bodies in every shape give the server's message", async (t) => {
  const doesNotExist = "The model `llama-8b` does not exist.";
  t.same(parseErrorBody(ERROR_BODIES.modelNotFound), { message: doesNotExist, param: "model" });
  t.same(parseErrorBody(ERROR_BODIES.modelNotFoundLegacy), { message: doesNotExist, param: undefined });
  t.match(
    parseErrorBody(ERROR_BODIES.tooLong).message,
    /^This model's maximum context length is 8192 tokens/,
  );
  t.same(parseErrorBody(ERROR_BODIES.routeNotFound), { message: "Not Found" });
  t.same(parseErrorBody(ERROR_BODIES.validation), {
    message: "body.model: Field required; body.max_tokens: Input should be a valid integer",
  });
  t.same(parseErrorBody(ERROR_BODIES.router), { message: "Model llama-8b not found." });
  t.match(parseErrorBody(ERROR_BODIES.proxy).message, /^<html>.*502 Bad Gateway/s);
  t.same(parseErrorBody(""), { message: "(empty body)" });
  t.same(parseErrorBody("[1]"), { message: "[1]" });
  t.equal(parseErrorBody("x".repeat(5000)).message.length, 1001, "long bodies are cut");
});

t.test("/v1/models: the model must be listed; max_model_len is read", async (t) => {
  // vLLM has no versions: the served model id is the identity answers report.
  const model = { name: MODEL, version: "" };
  t.same(checkModels(modelsBody(), classifySite), { ready: true, maxModelLen: 8192, model });
  t.same(checkModels(modelsBody([MODEL], 0), classifySite), { ready: true, maxModelLen: undefined, model });
  t.same(checkModels(modelsBody(["llama-8b", "other"]), classifySite), {
    ready: false,
    reason: `model '${MODEL}' is not served by ${ENDPOINT}; served: llama-8b, other`,
    misconfigured: true,
  });
  t.match(checkModels("nope", classifySite), { ready: false, misconfigured: false, reason: /not JSON/ });
  t.match(checkModels("{}", classifySite), { ready: false, reason: /without a data list/ });
});
