/**
 * Mode "classify": the teacher served as a 5-way sequence classifier, scored
 * through vLLM's `POST /classify` with the whole batch as one list input.
 *
 * The served head's classes are taken to be the labels 1..5 in order:
 * `probs[k]` is P(label = k + 1). That is what serving a causal LM with
 * `--runner pooling --convert classify --hf-overrides
 * '{"classifier_from_token":["1","2","3","4","5"],"method":"no_post_processing"}'`
 * produces: the score head is the LM head's rows for those tokens, in that
 * order, and the last-token pooler applies a softmax over them. A head
 * fine-tuned with its classes in another order would need its own mapping.
 */
import type { VllmCallSite } from "./mapping.js";
import { malformedResponse } from "./mapping.js";
import { isRecord, type ParsedScores, readIndexed } from "./parse-helpers.js";

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
