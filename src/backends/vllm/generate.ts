/**
 * Mode "generate": the teacher served as a causal LM, scored through
 * `POST /v1/completions` with the whole batch as one prompt list. Each prompt
 * ends where the label is the next token; one greedy token is generated and
 * the distribution over labels is read off that position's top-k logprobs.
 *
 * Tokens are matched by their text. A label can come as "3" or " 3" (leading
 * space: a different token in Llama-3's vocabulary); both count for label 3.
 * `return_tokens_as_token_ids` is not used, so keys are token texts, never
 * "token_id:…". Labels outside the top-k get probability 0; the five are then
 * renormalised, which matches a softmax restricted to the label tokens up to
 * the mass of labels below the top-k.
 */
import { status } from "@grpc/grpc-js";
import { GatewayError } from "../../util/gateway-error.js";
import { malformedResponse, type VllmCallSite } from "./mapping.js";
import { isRecord, type ParsedScores, readIndexed } from "./parse-helpers.js";

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
        status.INTERNAL,
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
