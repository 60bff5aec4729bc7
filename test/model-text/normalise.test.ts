import t from "tap";
import { hasVisibleText, normaliseText } from "../../src/model-text/normalise.js";

/** The rule spelled out one character at a time. */
function reference(s: string): string {
  let out = "";
  let pendingSpace = false;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    const isSpace = /\s/.test(ch) || c === 0x85;
    const isControl = c < 0x20 || (c >= 0x7f && c <= 0x9f);
    if (isSpace) pendingSpace = out !== "";
    else if (!isControl) {
      if (pendingSpace) out += " ";
      pendingSpace = false;
      out += ch;
    }
  }
  return out;
}

t.test("examples", async (t) => {
  t.equal(normaliseText(""), "");
  t.equal(normaliseText(" a"), "a");
  t.equal(normaliseText("a "), "a");
  t.equal(normaliseText("a  b"), "a b");
  t.equal(normaliseText("a\tb"), "a b");
  t.equal(normaliseText("a\r\n\r\nb"), "a b");
  t.equal(normaliseText("a\u00a0b\u3000c\u2028d\ufeffe"), "a b c d e");
  t.equal(normaliseText("a\u0085b"), "a b");
  t.equal(normaliseText("a\u0000b\u001bc\u007fd\u009be"), "abcde");
  t.equal(normaliseText("a \u0001 b"), "a b");
  t.equal(normaliseText("中文 👍🏽 e\u0301"), "中文 👍🏽 e\u0301");
});

t.test("text needing no change is returned as is", async (t) => {
  const s = "already normal text, with single spaces.";
  t.equal(normaliseText(s), s);
});

t.test("matches the character-by-character rule on random text", async (t) => {
  const alphabet = [
    "a",
    "b",
    " ",
    " ",
    "\t",
    "\n",
    "\r",
    "\u0000",
    "\u0007",
    "\u007f",
    "\u0085",
    "\u009f",
    "\u00a0",
    "\u2028",
    "\u3000",
    "中",
    "👍",
    "\u0301",
  ];
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  let bad = 0;
  for (let k = 0; k < 5000; k++) {
    let s = "";
    const n = Math.floor(rand() * 12);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    const want = reference(s);
    if (normaliseText(s) !== want) bad++;
    if (hasVisibleText(s) !== (want !== "")) bad++;
  }
  t.equal(bad, 0);
});

t.test("hasVisibleText", async (t) => {
  t.notOk(hasVisibleText(""));
  t.notOk(hasVisibleText(" \t\n\u00a0\u3000"));
  t.notOk(hasVisibleText("\u0000\u0085\u009f"));
  t.ok(hasVisibleText("  x "));
  t.ok(hasVisibleText("\u0301"));
});
