/**
 * Generate mode for the vLLM simulator: the next-token distribution after a
 * relevance prompt, built so that a client which takes the five label tokens
 * from `top_logprobs` (both "k" and " k"), exponentiates, sums the variants
 * and renormalises over the five labels recovers `teacherProbabilities`
 * exactly (to float64 rounding), i.e. what `/classify` returns for the pair.
 *
 * - Label mass m = 0.86 + 0.13 · ((h >>> 25) & 127) / 127, with
 *   h = `teacherHash(query, document)`: between 0.86 and 0.99, so the labels
 *   never hold all the mass and the client has to renormalise.
 * - P("k") = 0.7 · m · p_k and P(" k") = 0.3 · m · p_k for labels k = 1..5,
 *   where p = teacherProbabilities (log-probabilities are computed from the
 *   logits directly, so nothing underflows).
 * - Ten non-label tokens ("The", "Rel", "\n", ...) fill the rest of the
 *   top-20: filler j (0-based) has probability
 *   min(P_min · e^(-(j+1)/2), (1 - m) · 2^-(j+1)), where P_min is the least
 *   likely label token. Fillers always rank below every label token and sum
 *   to less than 1 - m.
 *
 * `top_logprobs` holds the `logprobs` most likely tokens. They are inserted
 * in rank order, but a JS object (and so the JSON) lists integer-like keys
 * ("1".."5") first: unlike vLLM's, the simulator's key order says nothing
 * about rank, which no client should rely on anyway.
 * With fewer than 10 some label tokens fall out of it, exactly as on a real
 * server (a missing label then reads as probability ~0): the gateway should
 * ask for 20, the default `--max-logprobs`. With 0 it holds only the sampled
 * token, as vLLM does. The sampled token is the most likely one ("k" for the
 * argmax label k), whatever the temperature: a real server with temperature
 * unset would sample at 1.0 (or the model's generation_config), so the
 * gateway must send `temperature: 0`.
 */
import { argmax5, teacherHash, teacherLogits } from "./scores.js";

/** vLLM's default `--max-logprobs`. */
export const SIM_MAX_LOGPROBS = 20;

const FILLER_TOKENS = ["The", "Rel", "\n", " The", "Based", "**", "I", " Rel", "This", "Score"] as const;

export interface CompletionLogprobs {
  text_offset: number[];
  token_logprobs: number[];
  tokens: string[];
  top_logprobs: Record<string, number>[];
}

export interface TeacherNextToken {
  /** The sampled (most likely) token: the argmax label's digit. */
  readonly token: string;
  readonly logprob: number;
  /** Every token the simulator models (10 label tokens, 10 fillers), most likely first. */
  readonly ranked: ReadonlyArray<readonly [token: string, logprob: number]>;
}

/** Label mass m for a pair; see the module comment. */
export function teacherLabelMass(query: string, document: string): number {
  return 0.86 + (0.13 * ((teacherHash(query, document) >>> 25) & 127)) / 127;
}

/** The modelled next-token distribution after a relevance prompt for (query, document). */
export function teacherNextToken(query: string, document: string): TeacherNextToken {
  const logits = teacherLogits(query, document);
  const max = Math.max(...logits);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const logNorm = max + Math.log(sum);
  const m = teacherLabelMass(query, document);
  const logMass = Math.log(m);
  const entries: [string, number][] = [];
  for (let k = 0; k < 5; k++) {
    const lp = logits[k]! - logNorm + logMass;
    entries.push([String(k + 1), lp + Math.log(0.7)], [` ${k + 1}`, lp + Math.log(0.3)]);
  }
  const minLabel = Math.min(...entries.map(([, lp]) => lp));
  const logRest = Math.log1p(-m);
  FILLER_TOKENS.forEach((token, j) => {
    entries.push([token, Math.min(minLabel - (j + 1) / 2, logRest - (j + 1) * Math.LN2)]);
  });
  // Stable sort: equal label log-probabilities keep label order.
  entries.sort((a, b) => b[1] - a[1]);
  const top = String(argmax5(logits) + 1);
  const logprob = entries.find(([t]) => t === top)![1];
  return { token: top, logprob, ranked: entries };
}

/** The `logprobs` object of one completion choice, for a request asking for `k` top log-probabilities. */
export function completionLogprobs(next: TeacherNextToken, k: number): CompletionLogprobs {
  const top: Record<string, number> = {};
  if (k === 0) top[next.token] = next.logprob;
  for (const [token, lp] of next.ranked.slice(0, k)) top[token] = lp;
  return { text_offset: [0], token_logprobs: [next.logprob], tokens: [next.token], top_logprobs: [top] };
}
