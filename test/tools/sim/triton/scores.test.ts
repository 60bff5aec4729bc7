import t from "tap";
import {
  fnv1a32,
  simLogits,
  simOverlap,
  simWords,
  softmax5,
} from "../../../../src/tools/sim/triton/scores.js";

t.test("words are lowercased Unicode letter/digit runs", async (t) => {
  t.same([...simWords("Red-running SHOES, size 42!")], ["red", "running", "shoes", "size", "42"]);
  t.same([...simWords("Café crème_brûlée")], ["café", "crème", "brûlée"]);
  t.same([...simWords("  ...  ")], []);
});

t.test("overlap counts distinct query words found in the document", async (t) => {
  t.equal(simOverlap("red red shoes", "shoes"), 0.5);
  t.equal(simOverlap("", "anything"), 0);
  t.equal(simOverlap("a b c d", "D c"), 0.5);
});

t.test("FNV-1a 32-bit matches the reference vectors", async (t) => {
  t.equal(fnv1a32(""), 0x811c9dc5);
  t.equal(fnv1a32("a"), 0xe40c292c);
  t.equal(fnv1a32("foobar"), 0xbf9cf968);
});

t.test("logits follow the documented formula", async (t) => {
  const pairs: [string, string][] = [
    ["red running shoes", "Red shoes for running"],
    ["wedding dress", "Blue jeans"],
    ["日本 料理", "日本の料理 レシピ"],
  ];
  for (const [q, d] of pairs) {
    const overlap = simOverlap(q, d);
    const h = fnv1a32(`${q}\u0000${d}`);
    const expected = [0, 1, 2, 3, 4].map((k) =>
      Math.fround(-((k - 4 * overlap) ** 2) / 2 + ((h >>> (k * 5)) & 31) / 31 - 0.5),
    );
    t.same(simLogits(q, d), expected, `${q} / ${d}`);
  }
});

t.test("pinned vectors (computed outside this code base)", async (t) => {
  t.same(
    simLogits("red running shoes", "Red shoes for running"),
    [-8.5, -4.677419185638428, -2.112903118133545, -0.3870967626571655, -0.14516128599643707],
  );
  t.same(
    simLogits("Café crème", "CAFÉ au lait"),
    [
      -2.4677419662475586, -0.22580644488334656, -0.14516128599643707, -0.09677419066429138,
      -2.4677419662475586,
    ],
  );
  t.same(
    simLogits("", "anything"),
    [0.4354838728904724, -0.29032257199287415, -2.3709676265716553, -4.290322780609131, -8.112903594970703],
  );
});

t.test("logits are float32-representable and deterministic", async (t) => {
  const a = simLogits("query", "document text");
  t.same(simLogits("query", "document text"), a);
  for (const v of a) t.equal(Math.fround(v), v);
});

t.test("softmax5 is a stable probability distribution", async (t) => {
  const p = softmax5([1, 2, 3, 4, 5]);
  t.ok(Math.abs(p.reduce((s, x) => s + x, 0) - 1) < 1e-12);
  t.ok(Math.abs(p[4] - 0.6364086465588308) < 1e-12);
  const big = softmax5([1000, 1000, 1000, 1000, 1000]);
  for (const v of big) t.ok(Math.abs(v - 0.2) < 1e-12);
  const logits = simLogits("red running shoes", "Red shoes for running");
  const probs = softmax5(logits);
  t.ok(probs[4] > probs[0], "full overlap favours label 5");
});
