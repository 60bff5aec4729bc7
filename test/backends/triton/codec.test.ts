import t from "tap";
import { packBytesTensor, readProbabilities } from "../../../src/backends/triton/codec.js";
import type { ModelInferResponseMessage } from "../../../src/codec/index.js";
import { softmax5 } from "../../../src/tools/sim/triton/scores.js";

function unpack(buf: Buffer): string[] {
  const out: string[] = [];
  for (let off = 0; off < buf.length; ) {
    const len = buf.readUInt32LE(off);
    out.push(buf.toString("utf8", off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

t.test("packBytesTensor writes uint32 LE lengths and UTF-8 bytes", async (t) => {
  t.same(packBytesTensor([]), Buffer.alloc(0));
  t.same(packBytesTensor(["", "ab"]), Buffer.from([0, 0, 0, 0, 2, 0, 0, 0, 0x61, 0x62]));
  const texts = ["Café", "日本", "👟", "", "x".repeat(300)];
  const buf = packBytesTensor(texts);
  t.equal(
    buf.length,
    texts.reduce((s, x) => s + 4 + Buffer.byteLength(x), 0),
  );
  t.same(unpack(buf), texts);
  // A lone surrogate is sized and written as U+FFFD, so lengths stay consistent.
  t.same(unpack(packBytesTensor(["a\ud800b", "c"])), ["a\ufffdb", "c"]);
});

function response(raw: Uint8Array, n: number): ModelInferResponseMessage {
  return {
    modelName: "m",
    modelVersion: "1",
    id: "",
    parameters: {},
    outputs: [{ name: "OUT", datatype: "FP32", shape: [n, 5], parameters: {}, contents: undefined }],
    rawOutputContents: [raw],
  };
}

t.test("readProbabilities softmaxes logits read from an unaligned view", async (t) => {
  const backing = Buffer.alloc(3 + 40);
  const raw = backing.subarray(3);
  const logits = [1000, 1001, 1002, 1003, 1004, -3, 0, 0, 0, 2];
  for (const [i, v] of logits.entries()) raw.writeFloatLE(v, i * 4);
  const probs = readProbabilities(response(raw, 2), { name: "OUT", kind: "logits", n: 2, where: "w" });
  const want = [...softmax5(logits.slice(0, 5)), ...softmax5(logits.slice(5))];
  for (const [i, v] of want.entries()) t.ok(Math.abs(probs[i]! - v) < 1e-6, `value ${i}`);
});

t.test("readProbabilities renormalises probability rows", async (t) => {
  const raw = Buffer.alloc(20);
  for (const [i, v] of [1, 1, 1, 1, 0].entries()) raw.writeFloatLE(v, i * 4);
  const probs = readProbabilities(response(raw, 1), { name: "OUT", kind: "probabilities", n: 1, where: "w" });
  t.same([...probs], [0.25, 0.25, 0.25, 0.25, 0]);
  t.throws(
    () =>
      readProbabilities(response(Buffer.alloc(20), 1), {
        name: "OUT",
        kind: "probabilities",
        n: 1,
        where: "w",
      }),
    { reason: "BACKEND_MALFORMED_RESPONSE", message: /all-zero probability row 0 in output 'OUT'/ },
  );
  const inf = Buffer.alloc(20);
  inf.writeFloatLE(Number.POSITIVE_INFINITY, 0);
  t.throws(() => readProbabilities(response(inf, 1), { name: "OUT", kind: "logits", n: 1, where: "w" }), {
    message: /invalid logit Infinity/,
  });
});
