import type { DocumentMessage } from "../../src/codec/index.js";
import { createModelText, defaultModelTextOptions } from "../../src/model-text/index.js";
import { simLogits, softmax5 } from "../../src/tools/sim/triton/scores.js";
import { teacherProbabilities } from "../../src/tools/sim/vllm/server.js";

const modelText = createModelText(defaultModelTextOptions);

/**
 * What the gateway must answer for (query, document) with the default model
 * text in front of the Triton simulator: softmax of the simulator's documented
 * logits, rounded to float32 as the wire carries them.
 */
export function expectedProbabilities(query: string, doc: DocumentMessage): number[] {
  const logits = simLogits(modelText.query(query), modelText.document(doc));
  return Array.from(softmax5(logits), (p) => Math.fround(p));
}

/** The same for the vLLM simulator (the teacher), before float32 rounding. */
export function expectedTeacherProbabilities(query: string, doc: DocumentMessage): number[] {
  return Array.from(teacherProbabilities(modelText.query(query), modelText.document(doc)));
}
