import t from "tap";
import { truncateUtf8 } from "../../src/model-text/truncate.js";

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const bytes = (s: string) => Buffer.byteLength(s);

/** mulberry32: small, seeded, good enough to spread test cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Building blocks chosen to hit every kind of multi-code-point grapheme. */
const pieces = [
  "a",
  "Z",
  " ",
  "é",
  "e\u0301",
  "a\u0301\u0302\u0303",
  "ß",
  "中",
  "文字",
  "𠜎",
  "ملف",
  "\u0644\u0627",
  "क्ष",
  "\u0915\u094d",
  "\u094d",
  "ि",
  "👍",
  "👍🏽",
  "👨‍👩‍👧‍👦",
  "\u200d",
  "🇫🇷",
  "🇩",
  "\u{1F1EA}",
  "\u1100\u1161\u11a8",
  "\u1100",
  "\u1161",
  "\r\n",
  "\r",
  "\n",
  "\u0301",
  "\ud800",
  "\udc00",
  "❤️",
  "\ufe0f",
  "\u0600",
];

function randomText(rand: () => number): string {
  const n = Math.floor(rand() * 40);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.03) s += `x${"\u0301".repeat(Math.floor(rand() * 120))}`;
    else if (r < 0.05) s += "🇺🇸".repeat(Math.floor(rand() * 40));
    else s += pieces[Math.floor(rand() * pieces.length)];
  }
  return s;
}

/** Reference: segment the whole string and take the last fitting boundary. */
function reference(text: string, maxBytes: number): string {
  if (bytes(text) <= maxBytes) return text;
  let best = 0;
  let used = 0;
  let firstEnd = text.length;
  for (const { index, segment } of segmenter.segment(text)) {
    const end = index + segment.length;
    if (index === 0) firstEnd = end;
    used += bytes(segment);
    if (used <= maxBytes) best = end;
    else break;
  }
  if (best > 0 || firstEnd === 0) return text.slice(0, best);
  // The first grapheme alone exceeds the budget: cut at a code point.
  let cut = 0;
  for (const cp of text) {
    if (bytes(text.slice(0, cut + cp.length)) > maxBytes) break;
    cut += cp.length;
  }
  return text.slice(0, cut);
}

function isBoundary(text: string, i: number): boolean {
  if (i === 0 || i === text.length) return true;
  for (const { index } of segmenter.segment(text)) {
    if (index === i) return true;
    if (index > i) return false;
  }
  return false;
}

t.test("random unicode: prefix, budget, code points, grapheme boundary", async (t) => {
  const rand = prng(20240611);
  let failures = 0;
  const cases = 4000;
  let cut = 0;
  for (let k = 0; k < cases && failures < 5; k++) {
    const text = randomText(rand);
    const maxBytes = Math.floor(rand() * (bytes(text) + 3));
    const got = truncateUtf8(text, maxBytes);
    const want = reference(text, maxBytes);
    const ok =
      text.startsWith(got) &&
      bytes(got) <= maxBytes &&
      got === want &&
      !(/[\ud800-\udbff]$/.test(got) && /^[\udc00-\udfff]/.test(text.slice(got.length)));
    if (got.length < text.length) cut++;
    if (!ok) {
      failures++;
      t.fail("mismatch", {
        text: JSON.stringify(text),
        maxBytes,
        got: JSON.stringify(got),
        want: JSON.stringify(want),
      });
    }
  }
  t.equal(failures, 0, `${cases} random cases`);
  t.ok(cut > cases / 2, "most cases actually cut");
});

/**
 * Dense mixes of the characters whose break rules look far back (extenders,
 * ZWJ, regional indicators, viramas) in long runs, so the cut's segmentation
 * window regularly starts inside such a run.
 */
const tricky = [
  "\u0301",
  "\u{1F3FB}",
  "\u200d",
  "\u{1F1FA}",
  "\u{1F469}",
  "\u{1F52C}",
  "\u0915",
  "\u094d",
  "\u093f",
  "\u0600",
  "\u1100",
  "\u1161",
  "\u11a8",
  "\r",
  "\n",
  "a",
];

t.test("random runs of context-dependent characters match full segmentation", async (t) => {
  const rand = prng(99);
  let failures = 0;
  for (let k = 0; k < 1500 && failures < 5; k++) {
    let text = "";
    const runs = 1 + Math.floor(rand() * 8);
    for (let r = 0; r < runs; r++) {
      const piece = tricky[Math.floor(rand() * tricky.length)] ?? "a";
      text += piece.repeat(1 + Math.floor(rand() * (rand() < 0.3 ? 90 : 4)));
    }
    const maxBytes = Math.floor(rand() * (bytes(text) + 1));
    const got = truncateUtf8(text, maxBytes);
    const want = reference(text, maxBytes);
    if (got !== want) {
      failures++;
      t.fail("mismatch", { text: JSON.stringify(text), maxBytes, got: got.length, want: want.length });
    }
  }
  t.equal(failures, 0);
});

t.test("cut lies on a grapheme boundary unless the first grapheme alone is too long", async (t) => {
  const rand = prng(7);
  let bad = 0;
  for (let k = 0; k < 1000; k++) {
    const text = randomText(rand);
    const maxBytes = Math.floor(rand() * (bytes(text) + 1));
    const got = truncateUtf8(text, maxBytes);
    const first = segmenter.segment(text)[Symbol.iterator]().next().value?.segment ?? "";
    if (!isBoundary(text, got.length) && bytes(first) <= maxBytes) bad++;
  }
  t.equal(bad, 0);
});

t.test("fast path returns the same string", async (t) => {
  const s = "hello world";
  t.equal(truncateUtf8(s, 33), s);
  t.equal(truncateUtf8(s, 11), s);
  t.equal(truncateUtf8("", 0), "");
  t.equal(truncateUtf8("中文", 6), "中文");
});

t.test("examples", async (t) => {
  t.equal(truncateUtf8("hello world", 5), "hello");
  t.equal(truncateUtf8("hello", 0), "");
  t.equal(truncateUtf8("hello", -1), "");
  // CJK: 3 bytes each, never half a character.
  t.equal(truncateUtf8("中文字符", 7), "中文");
  t.equal(truncateUtf8("中文字符", 9), "中文字");
  // Arabic: 2 bytes per letter.
  t.equal(truncateUtf8("مرحبا", 5), "مر");
  // Astral code point: 4 bytes, never a lone surrogate.
  t.equal(truncateUtf8("a𠜎b", 4), "a");
  t.equal(truncateUtf8("a𠜎b", 5), "a𠜎");
  // Family emoji (ZWJ sequence, 25 bytes): whole or absent.
  const family = "👨‍👩‍👧‍👦";
  t.equal(bytes(family), 25);
  t.equal(truncateUtf8(`ok ${family}`, 27), "ok ");
  t.equal(truncateUtf8(`ok ${family}`, 28), `ok ${family}`);
  // Flags pair regional indicators; a cut never separates a pair.
  t.equal(truncateUtf8("🇫🇷🇩🇪🇮🇹", 12), "🇫🇷");
  t.equal(truncateUtf8("🇫🇷🇩🇪🇮🇹", 16), "🇫🇷🇩🇪");
  // Base letter + combining mark.
  t.equal(truncateUtf8("cafe\u0301", 5), "caf");
  t.equal(truncateUtf8("cafe\u0301", 6), "cafe\u0301");
  // Devanagari conjunct क्ष (9 bytes) stays whole.
  t.equal(truncateUtf8("अक्ष", 8), "अ");
  t.equal(truncateUtf8("अक्ष", 12), "अक्ष");
  // Skin-tone modifier stays with its emoji.
  t.equal(truncateUtf8("a👍🏽", 5), "a");
  // CR LF is one grapheme.
  t.equal(truncateUtf8("a\r\nb", 2), "a");
  // A lone surrogate counts as U+FFFD (3 bytes), as Buffer encodes it.
  t.equal(truncateUtf8("a\ud800b", 4), "a\ud800");
  t.equal(truncateUtf8("a\ud800b", 3), "a");
});

t.test("long runs of flags keep pairing parity far from the cut", async (t) => {
  for (const prefix of ["", "x", "🇩"]) {
    const text = prefix + "🇺🇸".repeat(200);
    for (let max = 0; max < 300; max += 7)
      t.equal(truncateUtf8(text, max), reference(text, max), `${prefix} ${max}`);
  }
});

t.test("ZWJ sequence behind a long run of extenders", async (t) => {
  const text = `ab👩${"\u{1F3FB}".repeat(1)}${"\u0301".repeat(100)}\u200d🔬 tail`;
  for (let max = 0; max < bytes(text); max++)
    t.equal(truncateUtf8(text, max), reference(text, max), `${max}`);
});

t.test("pathological zalgo: shortened, never emptied, linear time", async (t) => {
  const zalgo = `Z${"\u0301".repeat(200_000)}`;
  const start = performance.now();
  const got = truncateUtf8(zalgo, 1000);
  t.ok(got.length > 0 && bytes(got) <= 1000 && zalgo.startsWith(got), "cut inside the one grapheme");
  t.equal(bytes(got), 999);
  // A zalgo grapheme after normal text is dropped whole instead.
  t.equal(truncateUtf8(`abc ${zalgo}`, 5000), "abc ");
  t.equal(truncateUtf8(`abc ${zalgo}`, 300_000), "abc ");
  const many = `${"x\u0301\u0302".repeat(100_000)}`;
  t.equal(truncateUtf8(many, 250_000), "x\u0301\u0302".repeat(50_000));
  t.ok(performance.now() - start < 2000, "fast enough");
});
