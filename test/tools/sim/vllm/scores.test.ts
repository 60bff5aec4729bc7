import t from "tap";
import {
  compileTemplate,
  DEFAULT_CLASSIFY_TEMPLATE,
  DEFAULT_GENERATE_TEMPLATE,
} from "../../../../src/backends/vllm/templates.js";
import { fnv1a32, simLogits, simOverlap, softmax5 } from "../../../../src/tools/sim/triton/scores.js";
import {
  completionLogprobs,
  SIM_MAX_LOGPROBS,
  teacherLabelMass,
  teacherNextToken,
} from "../../../../src/tools/sim/vllm/logprobs.js";
import {
  argmax5,
  parseTeacherInput,
  simTokenCount,
  simTruncate,
  teacherLogits,
  teacherProbabilities,
} from "../../../../src/tools/sim/vllm/scores.js";

const classifyInput = compileTemplate(DEFAULT_CLASSIFY_TEMPLATE);
const generatePrompt = compileTemplate(DEFAULT_GENERATE_TEMPLATE);

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test("token counts: ceil(UTF-8 bytes / 4) plus BOS", async (t) => {
  t.equal(simTokenCount(""), 1);
  t.equal(simTokenCount("abcd"), 2);
  t.equal(simTokenCount("abcde"), 3);
  t.equal(simTokenCount("abcde", false), 2);
  t.equal(simTokenCount("日本"), 3, "6 bytes");
});

t.test("truncation keeps 4 bytes per token after BOS, on the requested side", async (t) => {
  const text = "0123456789abcdefghij"; // 20 bytes: 6 tokens
  t.equal(simTruncate(text, 6), text, "fits: unchanged");
  t.equal(simTruncate(text, 3), "cdefghij", "left keeps the end");
  t.equal(simTruncate(text, 3, "right"), "01234567", "right keeps the start");
  t.equal(simTruncate(text, 3, "left", false), "89abcdefghij", "no BOS: one more token of text");
  t.equal(simTokenCount(simTruncate(text, 3)), 3);
  // 4 × 3 bytes: a cut through a character drops it whole.
  const jp = "日本語のテキスト"; // 24 bytes
  t.equal(simTruncate(jp, 3), "スト", "the last 8 bytes hold 2 whole characters");
  t.equal(simTruncate(jp, 3, "right"), "日本");
});

t.test("the pair is recovered from both default templates", async (t) => {
  const q = "red running shoes";
  const d = "Title: Red shoes\nDescription: for running";
  t.same(parseTeacherInput(classifyInput(q, d)), { query: q, document: d });
  t.same(parseTeacherInput(generatePrompt(q, d)), { query: q, document: d });
  t.same(parseTeacherInput(generatePrompt("", "")), { query: "", document: "" });
  t.same(parseTeacherInput("just some text"), { query: "", document: "just some text" });
  const tricky = "Title: Query: not the query\nLink: x";
  t.same(
    parseTeacherInput(classifyInput(q, tricky)),
    { query: q, document: tricky },
    "a mention is not a marker",
  );
  const cut = simTruncate(classifyInput(q, d), 8);
  t.same(parseTeacherInput(cut), { query: "", document: cut }, "markers cut away: all document");
});

t.test("teacher logits follow the documented formula", async (t) => {
  for (const [q, d] of [
    ["red running shoes", "Red shoes for running"],
    ["wedding dress", "Blue jeans"],
    ["", "anything"],
  ] as const) {
    const overlap = simOverlap(q, d);
    const h = fnv1a32(`teacher\u0000${q}\u0000${d}`);
    const expected = [0, 1, 2, 3, 4].map((k) =>
      Math.fround(-0.75 * (k - 4 * overlap) ** 2 + ((h >>> (k * 5)) & 31) / 31 - 0.5),
    );
    t.same(teacherLogits(q, d), expected, `${q} / ${d}`);
    t.same(teacherProbabilities(q, d), softmax5(expected));
  }
  t.equal(argmax5(teacherProbabilities("red running shoes", "Red shoes for running")), 4);
});

t.test("the teacher is correlated with the student but differs", async (t) => {
  const words = ["red", "shoes", "running", "blue", "jeans", "cake", "recipe", "garden", "chair", "paris"];
  const rnd = prng(7);
  const pick = (n: number) =>
    Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(" ");
  let agree = 0;
  let sameProbabilities = 0;
  for (let i = 0; i < 200; i++) {
    const q = pick(1 + Math.floor(rnd() * 4));
    const d = pick(Math.floor(rnd() * 9));
    const teacher = teacherProbabilities(q, d);
    const student = softmax5(simLogits(q, d));
    if (argmax5(teacher) === argmax5(student)) agree++;
    if (teacher.every((p, k) => Math.abs(p - student[k]!) < 1e-6)) sameProbabilities++;
  }
  t.ok(agree > 120, `argmax agrees for most pairs (${agree}/200)`);
  t.ok(agree < 200, `but not all (${agree}/200)`);
  t.equal(sameProbabilities, 0, "no pair gets the student's probabilities");
});

t.test("generate mode: renormalised label tokens give the classify probabilities", async (t) => {
  const rnd = prng(11);
  const words = ["cookie", "chocolate", "chip", "garden", "patio", "桜", "東京"];
  const pick = (n: number) =>
    Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(" ");
  for (let i = 0; i < 50; i++) {
    const q = pick(1 + Math.floor(rnd() * 3));
    const d = pick(Math.floor(rnd() * 6));
    const next = teacherNextToken(q, d);
    const top = completionLogprobs(next, SIM_MAX_LOGPROBS).top_logprobs[0]!;
    t.equal(Object.keys(top).length, 20);
    const mass = [1, 2, 3, 4, 5].map((k) => Math.exp(top[String(k)]!) + Math.exp(top[` ${k}`]!));
    const total = mass.reduce((s, x) => s + x, 0);
    t.ok(Math.abs(total - teacherLabelMass(q, d)) < 1e-12, "labels hold mass m");
    t.ok(total < 1 && total > 0.85);
    const all = Object.values(top).reduce((s, lp) => s + Math.exp(lp), 0);
    t.ok(all < 1, "the top-20 holds less than all the mass");
    const expected = teacherProbabilities(q, d);
    const worst = Math.max(...mass.map((m, k) => Math.abs(m / total - expected[k]!)));
    t.ok(worst < 1e-12, `renormalised equals classify (${worst})`);
    const ranked = next.ranked.map(([, lp]) => lp);
    t.same(
      ranked,
      [...ranked].sort((a, b) => b - a),
      "ranked most likely first",
    );
    t.ok(ranked[9]! > ranked[10]!, "every label token outranks every filler");
    t.equal(next.token, String(argmax5(expected) + 1));
  }
});

t.test("small top-k: only the most likely tokens, labels may fall out", async (t) => {
  const next = teacherNextToken("chocolate chip cookies", "Best chocolate chip cookies");
  const five = completionLogprobs(next, 5);
  // Compared as sets: JS objects list integer-like keys ("1".."5") first, whatever the rank.
  t.same(
    Object.keys(five.top_logprobs[0]!).sort(),
    next.ranked
      .slice(0, 5)
      .map(([tok]) => tok)
      .sort(),
  );
  t.equal(next.ranked[0]![0], next.token, "the sampled token is the most likely");
  t.ok(Object.keys(five.top_logprobs[0]!).length === 5);
  t.same(five.tokens, [next.token]);
  t.same(five.token_logprobs, [next.logprob]);
  t.same(five.text_offset, [0]);
  t.same(completionLogprobs(next, 0).top_logprobs, [{ [next.token]: next.logprob }], "0: the sampled token");
});
