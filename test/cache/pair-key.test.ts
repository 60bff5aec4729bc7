import { createHash } from "node:crypto";
import t from "tap";
import { configDigest, PairKeys } from "../../src/cache/index.js";

const id = { name: "relevance_student", version: "1" };

/** The key as documented in pair-key.ts, computed in one pass. */
function independentKey(parts: string[], query: string, document: string): string {
  const h = createHash("sha256");
  for (const p of [...parts, query]) h.update(`${Buffer.byteLength(p)}:${p}`);
  return h.update(document).digest("base64url");
}

t.test("the key is the SHA-256 of the length-prefixed parts, then the document", async (t) => {
  const keys = new PairKeys("student", id, "abc");
  const keyOf = keys.forQuery("chocolate 🍪 cookies");
  for (const doc of ["Title: a", "", "Title: é\nBoards: x | y"]) {
    t.equal(
      keyOf(doc),
      independentKey(["student", "relevance_student", "1", "abc"], "chocolate 🍪 cookies", doc),
    );
  }
  t.equal(keyOf("Title: a"), keyOf("Title: a"), "the query's state is copied, not consumed");
  t.match(keyOf("x"), /^[A-Za-z0-9_-]{43}$/);
});

t.test("every part of the key tells pairs apart", async (t) => {
  const base = new PairKeys("student", id, "abc").forQuery("q")("d");
  t.not(new PairKeys("teacher", id, "abc").forQuery("q")("d"), base, "backend");
  t.not(new PairKeys("student", { ...id, version: "2" }, "abc").forQuery("q")("d"), base, "version");
  t.not(new PairKeys("student", { ...id, name: "other" }, "abc").forQuery("q")("d"), base, "model name");
  t.not(new PairKeys("student", id, "abd").forQuery("q")("d"), base, "config digest");
  t.not(new PairKeys("student", id, "abc").forQuery("q2")("d"), base, "query");
  t.not(new PairKeys("student", id, "abc").forQuery("q")("d2"), base, "document");
  // Without the length prefix, moving text between query and document would collide.
  t.not(
    new PairKeys("student", id, "abc").forQuery("ab")("c"),
    new PairKeys("student", id, "abc").forQuery("a")("bc"),
  );
});

t.test("configDigest ignores key order and changes with any value", async (t) => {
  const a = configDigest({ x: 1, y: { b: [1, 2], a: "s" } });
  t.equal(configDigest({ y: { a: "s", b: [1, 2] }, x: 1 }), a);
  t.not(configDigest({ x: 1, y: { b: [2, 1], a: "s" } }), a);
  t.not(configDigest({ x: 2, y: { b: [1, 2], a: "s" } }), a);
  t.match(a, /^[0-9a-f]{16}$/);
});
