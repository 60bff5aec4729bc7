/**
 * How a (query text, document text) pair — the same model text the student
 * gets — becomes the teacher's input. `{query}` and `{document}` are replaced
 * once each, in one pass, so text that happens to contain "{query}" is left
 * alone.
 */

/**
 * The Llama-3.1-Instruct chat template rendered by hand, ending at the
 * assistant header so that the next token is the label ("1".."5"). vLLM
 * adds the BOS token itself (add_special_tokens, default true on both
 * routes).
 */
const LLAMA3_RATING_PROMPT =
  "<|start_header_id|>system<|end_header_id|>\n\n" +
  "You rate how relevant a document is to a search query on a scale from 1 (irrelevant) to 5 (perfectly " +
  "relevant). Answer with the digit only.<|eot_id|>" +
  "<|start_header_id|>user<|end_header_id|>\n\nQuery: {query}\nDocument:\n{document}<|eot_id|>" +
  "<|start_header_id|>assistant<|end_header_id|>\n\n";

/**
 * Default `/classify` input: the same prompt as generate. vLLM's classify
 * adapter for a causal LM (`--convert classify` with
 * `classifier_from_token`, vllm `model_executor/models/adapters.py`) turns
 * the LM head's rows for the label tokens into the score head and pools the
 * LAST token, so /classify returns the next-token distribution over the
 * labels at the end of the input: the input must end where the label comes
 * next. A fine-tuned sequence-classification checkpoint (a trained `score`
 * head) reads whatever format it was trained on instead; configure that
 * format in `templates.classify`.
 */
export const DEFAULT_CLASSIFY_TEMPLATE = LLAMA3_RATING_PROMPT;

/** Default `/v1/completions` prompt for a Llama-3.1-Instruct teacher. */
export const DEFAULT_GENERATE_TEMPLATE = LLAMA3_RATING_PROMPT;

export type PairTemplate = (query: string, document: string) => string;

type Part = string | { slot: "query" | "document" };

/** Compiles a template; throws if `{query}` or `{document}` is missing or repeated. */
export function compileTemplate(template: string): PairTemplate {
  const parts: Part[] = [];
  const seen = new Set<string>();
  let rest = template;
  for (;;) {
    const m = /\{(query|document)\}/.exec(rest);
    if (!m) break;
    const slot = m[1] as "query" | "document";
    if (seen.has(slot)) throw new Error(`template has {${slot}} more than once`);
    seen.add(slot);
    if (m.index > 0) parts.push(rest.slice(0, m.index));
    parts.push({ slot });
    rest = rest.slice(m.index + m[0].length);
  }
  if (rest !== "") parts.push(rest);
  for (const slot of ["query", "document"]) {
    if (!seen.has(slot)) throw new Error(`template has no {${slot}}`);
  }
  return function renderPair(query, document) {
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : p.slot === "query" ? query : document;
    return out;
  };
}
