/**
 * The teacher's default inputs, checked against the Llama-3 chat format
 * written out here by hand: vLLM's classify adapter for a causal LM
 * (`--convert classify` with `classifier_from_token`) reads the label
 * distribution at the last prompt token, so the default /classify input must
 * end, like the completion prompt, with the assistant turn's header: the next
 * token is the "1".."5" answer.
 */
import t from "tap";
import { compileTemplate } from "../../../src/backends/vllm/templates.js";
import { validateConfig } from "../../../src/config/index.js";

// Llama 3 chat format: a turn is "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>";
// the model's answer follows an open assistant header.
const EOT = "<|eot_id|>";
const ASSISTANT_HEADER = "<|start_header_id|>assistant<|end_header_id|>\n\n";
const USER_HEADER = "<|start_header_id|>user<|end_header_id|>\n\n";

function defaults(mode: "classify" | "generate") {
  const cfg = validateConfig({
    backends: {
      student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "relevance_student" },
      teacher: { kind: "vllm", endpoints: ["http://127.0.0.1:8000"], model: "teacher", mode },
    },
    routing: { default: "student" },
  });
  const teacher = cfg.backends.teacher;
  if (teacher?.kind !== "vllm") throw new Error("teacher is not a vllm backend");
  return teacher.templates;
}

t.test(
  "the default classify input ends where the label token comes next, as the generate prompt does",
  async (t) => {
    const templates = defaults("classify");
    const query = "red running shoes";
    const document = "Red shoes for running, size 42";
    const classify = compileTemplate(templates.classify)(query, document);
    const generate = compileTemplate(templates.generate)(query, document);
    const suffix = `${EOT}${ASSISTANT_HEADER}`;
    t.ok(
      classify.endsWith(suffix),
      `classify input ends with the assistant header: ${JSON.stringify(classify)}`,
    );
    t.ok(generate.endsWith(suffix), "so does the generate prompt");
    // The pair sits in the user turn, the last turn before the answer.
    const userTurn = classify.slice(classify.lastIndexOf(USER_HEADER) + USER_HEADER.length, -suffix.length);
    t.equal(userTurn, `Query: ${query}\nDocument:\n${document}`);
    t.notOk(classify.startsWith("<|begin_of_text|>"), "vLLM adds the BOS token itself");
  },
);

t.test("the mode does not change the defaults", async (t) => {
  t.same(defaults("generate"), defaults("classify"));
});
