/**
 * vLLM requests and answers: the teacher's batch as one list request, in the
 * served mode ("classify" or "generate"), and the answer read back as n×5
 * probabilities. The counterpart of the Triton backend's codec.ts.
 */
import { GatewayError } from "../../util/gateway-error.js";
import { malformedResponse, type VllmCallSite } from "./errors.js";

// ---- reading list answers ------------------------------------------------
// Shared pieces of reading vLLM's list answers. vLLM fans a list input out
// into one engine request per item and gathers the results; each result
// carries the `index` of its input, and that index, not the position in the
// list, says which pair it belongs to.

export interface ParsedScores {
  /** n × 5 row-major, rows summing to 1. */
  readonly probabilities: Float32Array;
  /** The model id the server answered with, when it sent one. */
  readonly model: string | undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The entries of `list` ordered by their `index`; every index 0..n-1 must
 * occur exactly once. `bad` builds the error for a detail such as
 * "data index 7 duplicated".
 */
export function readIndexed(
  list: unknown,
  name: string,
  n: number,
  bad: (detail: string) => GatewayError,
): Record<string, unknown>[] {
  if (list === undefined || list === null) throw bad(`${name} is missing`);
  if (!Array.isArray(list)) throw bad(`${name} is not a list`);
  const slots: (Record<string, unknown> | undefined)[] = new Array(n).fill(undefined);
  for (const [pos, entry] of list.entries()) {
    if (!isRecord(entry)) throw bad(`${name} entry at position ${pos} is not an object`);
    const index = entry.index;
    if (typeof index !== "number" || !Number.isInteger(index)) {
      throw bad(`${name} entry at position ${pos} has index ${JSON.stringify(index)}, expected an integer`);
    }
    if (index < 0 || index >= n) {
      throw bad(`${name} index ${index} is out of range for ${n} inputs`);
    }
    if (slots[index] !== undefined) throw bad(`${name} index ${index} duplicated`);
    slots[index] = entry;
  }
  return slots.map((entry, i) => {
    if (entry === undefined) throw bad(`${name}[${i}] missing (${list.length} entries for ${n} inputs)`);
    return entry;
  });
}

// ---- mode "classify" -----------------------------------------------------
// Mode "classify": the teacher served as a 5-way sequence classifier, scored
// through vLLM's `POST /classify` with the whole batch as one list input.
//
// The served head's classes are taken to be the labels 1..5 in order:
// `probs[k]` is P(label = k + 1). That is what serving a causal LM with
// `--runner pooling --convert classify --hf-overrides
// '{"classifier_from_token":["1","2","3","4","5"],"method":"no_post_processing"}'`
// produces: the score head is the LM head's rows for those tokens, in that
// order, and the last-token pooler applies a softmax over them. A head
// fine-tuned with its classes in another order would need its own mapping.

export const CLASSIFY_ROUTE = "POST /classify";
export const CLASSIFY_PATH = "/classify";

/** A softmax row as JSON floats sums to 1 within rounding; far off means the activation is not softmax. */
const SUM_TOLERANCE = 1e-3;

export function classifyRequestBody(
  model: string,
  texts: readonly string[],
  truncateTokens: number | undefined,
): Record<string, unknown> {
  const body: Record<string, unknown> = { model, input: texts };
  if (truncateTokens !== undefined) {
    body.truncate_prompt_tokens = truncateTokens;
    // Keep the end: the last token is where the converted classifier reads
    // the label (templates.ts); an over-long pair loses its start instead.
    body.truncation_side = "left";
  }
  return body;
}

/** Reads `data[]` of a /classify answer into n×5 probabilities, each row renormalised in float64. */
export function parseClassifyResponse(json: unknown, n: number, site: VllmCallSite): ParsedScores {
  const bad = (detail: string) => malformedResponse(site, CLASSIFY_ROUTE, detail);
  if (!isRecord(json)) throw bad("the body is not a JSON object");
  const items = readIndexed(json.data, "data", n, bad);
  const probabilities = new Float32Array(n * 5);
  items.forEach((item, i) => {
    const at = `data[${i}]`;
    if (item.num_classes !== 5) {
      throw bad(`${at}.num_classes is ${JSON.stringify(item.num_classes)}, expected 5 (labels 1..5)`);
    }
    const probs = item.probs;
    if (!Array.isArray(probs) || probs.length !== 5) {
      const what = Array.isArray(probs) ? `has ${probs.length} entries` : "is missing";
      throw bad(`${at}.probs ${what}, expected 5`);
    }
    let sum = 0;
    for (const [k, p] of probs.entries()) {
      if (typeof p !== "number" || !Number.isFinite(p) || p < 0) {
        throw bad(`${at}.probs[${k}] is ${JSON.stringify(p)}, expected a probability`);
      }
      sum += p;
    }
    if (!(Math.abs(sum - 1) <= SUM_TOLERANCE)) {
      throw bad(`${at}.probs sum to ${sum}, not 1: the server's classifier activation is not a softmax`);
    }
    for (let k = 0; k < 5; k++) probabilities[i * 5 + k] = (probs[k] as number) / sum;
  });
  return { probabilities, model: typeof json.model === "string" ? json.model : undefined };
}

// ---- mode "generate" -----------------------------------------------------
// Mode "generate": the teacher served as a causal LM, scored through
// `POST /v1/completions` with the whole batch as one prompt list. Each prompt
// ends where the label is the next token; one greedy token is generated and
// the distribution over labels is read off that position's top-k logprobs.
//
// Tokens are matched by their text. A label can come as "3" or " 3" (leading
// space: a different token in Llama-3's vocabulary); both count for label 3.
// `return_tokens_as_token_ids` is not used, so keys are token texts, never
// "token_id:…". Labels outside the top-k get probability 0; the five are then
// renormalised, which matches a softmax restricted to the label tokens up to
// the mass of labels below the top-k.

export const GENERATE_ROUTE = "POST /v1/completions";
export const GENERATE_PATH = "/v1/completions";

/** vLLM reports logprobs as log_softmax outputs; a little above 0 is float rounding, more is nonsense. */
const MAX_LOGPROB = 1e-4;

export function completionRequestBody(
  model: string,
  texts: readonly string[],
  topLogprobs: number,
  truncateTokens: number | undefined,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    prompt: texts,
    max_tokens: 1,
    // Explicit: left unset, vLLM samples with the model's generation_config
    // (Llama-3.1-Instruct: temperature 0.6). Only greedy makes the one
    // generated token deterministic; the reported logprobs are raw either way.
    temperature: 0,
    logprobs: topLogprobs,
  };
  // The completions route keeps the prompt's last tokens when it truncates, so
  // an over-long pair loses the instructions at its start. The gateway's own
  // text truncation keeps pairs far below the limit; this only turns a 400
  // that would fail the whole batch into a degraded score for one pair.
  if (truncateTokens !== undefined) body.truncate_prompt_tokens = truncateTokens;
  return body;
}

/** Reads `choices[]` of a /v1/completions answer into n×5 probabilities over `labelTokens`. */
export function parseCompletionResponse(
  json: unknown,
  n: number,
  labelTokens: readonly string[],
  site: VllmCallSite,
): ParsedScores {
  const bad = (detail: string) => malformedResponse(site, GENERATE_ROUTE, detail);
  if (!isRecord(json)) throw bad("the body is not a JSON object");
  const choices = readIndexed(json.choices, "choices", n, bad);
  const probabilities = new Float32Array(n * 5);
  choices.forEach((choice, i) => {
    const at = `choices[${i}]`;
    const logprobs = choice.logprobs;
    if (!isRecord(logprobs)) throw bad(`${at}.logprobs is missing (logprobs were requested)`);
    const positions = logprobs.top_logprobs;
    if (!Array.isArray(positions) || positions.length === 0) {
      throw bad(`${at}.logprobs.top_logprobs is missing or empty`);
    }
    const top = positions[0];
    if (!isRecord(top)) throw bad(`${at}.logprobs.top_logprobs[0] is not an object of token → logprob`);
    const row = labelMass(top, labelTokens, (token, value) =>
      bad(
        `${at}.logprobs.top_logprobs[0][${JSON.stringify(token)}] is ${JSON.stringify(value)}, expected a logprob`,
      ),
    );
    const sum = row.reduce((a, b) => a + b, 0);
    if (!(sum > 0)) {
      throw new GatewayError(
        "INTERNAL",
        `backend ${site.backend}: the teacher's top-${Object.keys(top).length} next tokens for item ${i} ` +
          `contain no label token (${labelTokens.join(", ")}); check the prompt template ` +
          `(model '${site.model}' on ${site.endpoint})`,
      );
    }
    for (let k = 0; k < 5; k++) probabilities[i * 5 + k] = row[k]! / sum;
  });
  return { probabilities, model: typeof json.model === "string" ? json.model : undefined };
}

/** P(label k) for each of the five labels: exp(logprob) summed over "k" and " k", in float64. */
function labelMass(
  top: Record<string, unknown>,
  labelTokens: readonly string[],
  invalid: (token: string, value: unknown) => GatewayError,
): number[] {
  const row = [0, 0, 0, 0, 0];
  for (const [token, value] of Object.entries(top)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value > MAX_LOGPROB) {
      throw invalid(token, value);
    }
    const label = labelTokens.indexOf(token.startsWith(" ") ? token.slice(1) : token);
    if (label >= 0 && label < 5) row[label]! += Math.exp(Math.min(value, 0));
  }
  return row;
}
