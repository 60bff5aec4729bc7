/**
 * Response bodies in the shapes vLLM's OpenAI-compatible server sends (see
 * the protocol notes on /classify, /v1/completions, /v1/models and errors),
 * written out as literal JSON text for a batch of three pairs.
 */

export const MODEL = "llama-teacher";

/** `POST /classify` for three inputs, answered out of order as a fanned-out list may be. */
export const CLASSIFY_BODY = `{
  "id": "classify-7c0f5a3e9b2d4e61a8f0c2d4b6e8a1f3",
  "object": "list",
  "created": 1745383065,
  "model": "llama-teacher",
  "data": [
    {"index": 2, "label": "LABEL_0", "probs": [0.6, 0.2, 0.1, 0.05, 0.05], "num_classes": 5},
    {"index": 0, "label": "LABEL_4", "probs": [0.0012, 0.0031, 0.0402, 0.3117, 0.6438], "num_classes": 5},
    {"index": 1, "label": "LABEL_2", "probs": [0.05, 0.15, 0.5, 0.2, 0.1], "num_classes": 5}
  ],
  "usage": {"prompt_tokens": 187, "total_tokens": 187, "completion_tokens": 0, "prompt_tokens_details": null}
}`;

/** P(label 1..5) that CLASSIFY_BODY carries for inputs 0, 1, 2 (each row already sums to 1). */
export const CLASSIFY_EXPECTED = [
  [0.0012, 0.0031, 0.0402, 0.3117, 0.6438],
  [0.05, 0.15, 0.5, 0.2, 0.1],
  [0.6, 0.2, 0.1, 0.05, 0.05],
];

/**
 * `POST /v1/completions` with prompt:[3 prompts], max_tokens 1, logprobs 20.
 * Choice 0: labels "1" 0.3, "2" 0.1 and " 2" 0.1 (leading space), "3" 0.2,
 * non-label tokens the rest, "4" and "5" outside the top 20. Choice 1: "5"
 * dominant with " 5" and "4" present. Choice 2: only "3" and " 4" are labels.
 * The logprobs are ln of those numbers; the choices arrive out of order.
 */
export const COMPLETIONS_BODY = `{
  "id": "cmpl-4b1e8d2f6a9c4c7e9d1f3a5b7c9e1d2f",
  "object": "text_completion",
  "created": 1745383101,
  "model": "llama-teacher",
  "choices": [
    {
      "index": 1, "text": "5",
      "logprobs": {
        "text_offset": [0], "token_logprobs": [-0.0513], "tokens": ["5"],
        "top_logprobs": [{"5": -0.0513, " 5": -3.2189, "4": -4.6052, "**": -7.1, "Rel": -8.3}]
      },
      "finish_reason": "length", "stop_reason": null, "prompt_logprobs": null
    },
    {
      "index": 0, "text": "1",
      "logprobs": {
        "text_offset": [0], "token_logprobs": [-1.2039728043259361], "tokens": ["1"],
        "top_logprobs": [{
          "1": -1.2039728043259361, "3": -1.6094379124341003, "2": -2.3025850929940455,
          " 2": -2.3025850929940455, "The": -2.3025850929940455, "**": -3.1, "\\n\\n": -3.4,
          "Based": -3.9, "I": -4.2, "Relevance": -4.4, "R": -4.9, "This": -5.0, "A": -5.3,
          "Score": -5.6, "0": -6.0, "10": -6.4, "Answer": -6.9, "\\n": -7.2, "<|eot_id|>": -7.7,
          "Rating": -8.1
        }]
      },
      "finish_reason": "length", "stop_reason": null, "prompt_logprobs": null
    },
    {
      "index": 2, "text": "3",
      "logprobs": {
        "text_offset": [0], "token_logprobs": [-0.6931471805599453], "tokens": ["3"],
        "top_logprobs": [{"3": -0.6931471805599453, " 4": -1.3862943611198906, "The": -2.0794415416798357}]
      },
      "finish_reason": "length", "stop_reason": null, "prompt_logprobs": null
    }
  ],
  "usage": {"prompt_tokens": 402, "total_tokens": 405, "completion_tokens": 3, "prompt_tokens_details": null}
}`;

/** Choice 1's row, from its logprobs: [0, 0, 0, 0.01, 0.95 + 0.04] renormalised. */
const c1 = [0, 0, 0, Math.exp(-4.6052), Math.exp(-0.0513) + Math.exp(-3.2189)];
const c1Sum = c1.reduce((a, b) => a + b, 0);

export const COMPLETIONS_EXPECTED = [
  [0.3 / 0.7, 0.2 / 0.7, 0.2 / 0.7, 0, 0],
  c1.map((p) => p / c1Sum),
  [0, 0, 0.5 / 0.75, 0.25 / 0.75, 0],
];

/** `GET /v1/models` of a server started with --served-model-name llama-teacher --max-model-len 8192. */
export function modelsBody(ids: readonly string[] = [MODEL], maxModelLen = 8192): string {
  return JSON.stringify({
    object: "list",
    data: ids.map((id) => ({
      id,
      object: "model",
      created: 1745383000,
      owned_by: "vllm",
      root: "meta-llama/Llama-3.1-8B-Instruct",
      parent: null,
      max_model_len: maxModelLen,
      permission: [
        {
          id: "modelperm-2f6c0d1e",
          object: "model_permission",
          created: 1745383000,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: "*",
          group: null,
          is_blocking: false,
        },
      ],
    })),
  });
}

/** Error bodies: vLLM ≥ 0.10.1, older vLLM, FastAPI, the production-stack router, a proxy. */
export const ERROR_BODIES = {
  modelNotFound:
    '{"error":{"message":"The model `llama-8b` does not exist.","type":"NotFoundError","param":"model","code":404}}',
  modelNotFoundLegacy:
    '{"object":"error","message":"The model `llama-8b` does not exist.","type":"NotFoundError","param":null,"code":404}',
  tooLong:
    '{"error":{"message":"This model\'s maximum context length is 8192 tokens. However, your request has 9001 input tokens. Please reduce the length of the input messages.","type":"BadRequestError","param":null,"code":400}}',
  priorityOff:
    '{"error":{"message":"Got priority 1 but Priority scheduling is not enabled.","type":"BadRequestError","param":null,"code":400}}',
  noClassification:
    '{"error":{"message":"The model does not support Classification API","type":"NotImplementedError","param":null,"code":501}}',
  internal:
    '{"error":{"message":"EngineCore encountered an issue. See stack trace (above) for the root cause.","type":"InternalServerError","param":null,"code":500}}',
  routeNotFound: '{"detail":"Not Found"}',
  validation:
    '{"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required","input":{}},{"type":"int_parsing","loc":["body","max_tokens"],"msg":"Input should be a valid integer","input":"x"}]}',
  router: '{"error":"Model llama-8b not found."}',
  proxy:
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n",
} as const;
