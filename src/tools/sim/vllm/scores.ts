/**
 * The vLLM simulator's "teacher": deterministic, documented relevance
 * probabilities correlated with, but different from, the Triton simulator's
 * student (`simLogits`), plus the tokenizer approximation the simulator uses
 * for lengths and truncation, so tests can predict every number it returns.
 *
 * Tokens: `simTokenCount(text)` = ceil(UTF-8 bytes / 4) + 1, the +1 being the
 * BOS token vLLM adds (`add_special_tokens`, default true). Llama-3 averages
 * roughly four bytes of English per token, so lengths are plausible.
 *
 * Input parsing (`parseTeacherInput`), matching the markers of the default
 * classify and generate templates ("Query: {query}\nDocument:\n{document}"):
 * the query marker is the LAST "Query: " whose line is directly followed by
 * a "Document:\n" line; the query is the rest of that line, and the document
 * runs from after "Document:\n" to the next "<|eot_id|>" or the end. Without
 * such a marker (e.g. cut away by truncation) the query is empty and the
 * whole text is the document. The last marker wins because instructions come
 * before the pair; requiring the "Document:" line keeps a document that
 * merely mentions "Query: " from being mistaken for the pair.
 *
 * `teacherLogits(query, document)`, five float32 logits for labels 1..5:
 *
 * 1. overlap = `simOverlap(query, document)` (distinct query words found in
 *    the document, as the student computes it).
 * 2. h = FNV-1a 32-bit over the UTF-8 bytes of
 *    `"teacher" + "\u0000" + query + "\u0000" + document` (a different salt
 *    from the student's, so the noise is independent).
 * 3. noise_k = ((h >>> (5k)) & 31) / 31 - 0.5, for k = 0..4.
 * 4. logits_k = -0.75 · (k - 4·overlap)² + noise_k, rounded to float32.
 *
 * The curvature is 0.75 where the student's is 0.5: the teacher is more
 * confident, and its argmax agrees with the student's for most pairs but not
 * all (the noise decides pairs whose overlap falls between two labels).
 * `teacherProbabilities` is `softmax5` of the logits (float64, not rounded).
 */
import { fnv1a32, type Logits5, simOverlap, softmax5 } from "../triton/scores.js";

const QUERY_MARKER = "Query: ";
const DOCUMENT_MARKER = "Document:\n";
const END_OF_TURN = "<|eot_id|>";
const BYTES_PER_TOKEN = 4;

/** Approximate token count: ceil(UTF-8 bytes / 4), plus one BOS token unless `addSpecialTokens` is false. */
export function simTokenCount(text: string, addSpecialTokens = true): number {
  return Math.ceil(Buffer.byteLength(text, "utf8") / BYTES_PER_TOKEN) + (addSpecialTokens ? 1 : 0);
}

export type TruncationSide = "left" | "right";

/**
 * The text that remains when a prompt is cut to `maxTokens` tokens. Texts
 * that fit come back unchanged. Otherwise one token stays reserved for BOS
 * (when special tokens are added) and the text keeps 4 bytes per remaining
 * token: its last bytes for "left" truncation (vLLM's default, which keeps
 * the end of the prompt, where the label is asked for), its first for
 * "right". A UTF-8 character cut at the edge is dropped whole, so the result
 * may be a few bytes shorter and `simTokenCount(result) <= maxTokens`.
 */
export function simTruncate(
  text: string,
  maxTokens: number,
  side: TruncationSide = "left",
  addSpecialTokens = true,
): string {
  if (simTokenCount(text, addSpecialTokens) <= maxTokens) return text;
  const budget = Math.max(0, maxTokens - (addSpecialTokens ? 1 : 0)) * BYTES_PER_TOKEN;
  const bytes = Buffer.from(text, "utf8");
  if (side === "left") {
    let start = bytes.length - budget;
    // Skip continuation bytes (10xxxxxx) so the kept part starts on a character.
    while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
    return bytes.subarray(start).toString("utf8");
  }
  let end = budget;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}

export interface TeacherPair {
  readonly query: string;
  readonly document: string;
}

/** Recovers (query, document) from a rendered classify input or generate prompt; see the module comment. */
export function parseTeacherInput(text: string): TeacherPair {
  for (
    let q = text.lastIndexOf(QUERY_MARKER);
    q >= 0;
    q = q > 0 ? text.lastIndexOf(QUERY_MARKER, q - 1) : -1
  ) {
    const queryStart = q + QUERY_MARKER.length;
    const newline = text.indexOf("\n", queryStart);
    if (newline < 0 || !text.startsWith(DOCUMENT_MARKER, newline + 1)) continue;
    const documentStart = newline + 1 + DOCUMENT_MARKER.length;
    const end = text.indexOf(END_OF_TURN, documentStart);
    return {
      query: text.slice(queryStart, newline),
      document: end < 0 ? text.slice(documentStart) : text.slice(documentStart, end),
    };
  }
  return { query: "", document: text };
}

/** The teacher's hash of a pair; its low 25 bits drive the noise, the rest the label mass in generate mode. */
export function teacherHash(query: string, document: string): number {
  return fnv1a32(`teacher\u0000${query}\u0000${document}`);
}

/** The five float32 teacher logits for a (query, document) pair; see the module comment. */
export function teacherLogits(query: string, document: string): Logits5 {
  const overlap = simOverlap(query, document);
  const h = teacherHash(query, document);
  const out: Logits5 = [0, 0, 0, 0, 0];
  for (let k = 0; k < 5; k++) {
    const noise = ((h >>> (k * 5)) & 31) / 31 - 0.5;
    const d = k - 4 * overlap;
    out[k] = Math.fround(-0.75 * d * d + noise);
  }
  return out;
}

/** softmax5(teacherLogits(query, document)): what `/classify` returns as `probs`. */
export function teacherProbabilities(query: string, document: string): Logits5 {
  return softmax5(teacherLogits(query, document));
}

/** Index of the largest value; the first one wins ties, like torch.argmax. */
export function argmax5(values: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < 5; k++) if (values[k]! > values[best]!) best = k;
  return best;
}
