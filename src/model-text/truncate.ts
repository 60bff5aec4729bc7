/**
 * Byte-budgeted truncation of text for model input.
 *
 * Model servers and their tokenizers see UTF-8, so budgets are in UTF-8
 * bytes as `Buffer` encodes them (a lone surrogate becomes U+FFFD, 3 bytes).
 * A cut must not leave half a character, nor half of what a reader sees as
 * one character (a family emoji, a flag, an Indic conjunct, a letter with
 * its combining accent), so the cut is moved back to a grapheme-cluster
 * boundary.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * Code points whose grapheme-break decision depends on what precedes them
 * beyond the adjacent character: extenders (Grapheme_Cluster_Break=Extend is
 * Grapheme_Extend plus the emoji skin-tone modifiers) and ZWJ, which emoji ZWJ
 * sequences and Indic conjuncts look back across, and regional indicators
 * (flags pair up by parity). A segmentation window must not start on one of these, or
 * the segmenter would see a different context than the full text has.
 */
const contextDependent = /[\p{Grapheme_Extend}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d]/uy;

/** Code units of context segmented before the cut on the first attempt. */
const INITIAL_LOOKBACK = 64;

/**
 * The longest prefix of `text` whose UTF-8 encoding is at most `maxBytes`,
 * ending on a grapheme-cluster boundary.
 *
 * Beyond the byte limit at most one grapheme is dropped: the one the limit
 * falls inside. A first grapheme that alone exceeds `maxBytes` (pathological
 * stacks of combining marks) is cut at a code-point boundary instead, so
 * such text is shortened rather than emptied. Time is linear in the length of
 * the kept prefix; only a small window around the cut is segmented.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Every UTF-16 code unit encodes to 1..3 bytes (a surrogate pair is 2 units
  // and 4 bytes): the first test settles most calls without a scan, and text
  // longer in code units than the budget cannot fit, so is not measured.
  const n = text.length;
  if (n * 3 <= maxBytes || (n <= maxBytes && Buffer.byteLength(text) <= maxBytes)) return text;
  if (!(maxBytes > 0)) return "";
  const cut = byteFittingIndex(text, maxBytes);
  if (cut === 0) return "";
  const end = cut + codePointUnits(text, cut);
  let lookback = INITIAL_LOOKBACK;
  for (;;) {
    const start = windowStart(text, cut - lookback);
    const boundary = lastBoundaryAtOrBefore(text, start, end, cut);
    // Boundaries strictly after the window start are the full text's; the
    // window start itself is only known to be one at index 0.
    if (boundary > start) return text.slice(0, boundary);
    if (start === 0) return text.slice(0, cut);
    // The grapheme around the cut began before the window: widen it
    // geometrically, so a long cluster costs linear time, not quadratic.
    lookback = (cut - start) * 2 + INITIAL_LOOKBACK;
  }
}

/**
 * Code-unit index of the end of the longest code-point-aligned prefix that
 * encodes to at most `maxBytes` UTF-8 bytes.
 */
function byteFittingIndex(text: string, maxBytes: number): number {
  let bytes = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    let units = 1;
    let size: number;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      size = 4;
      units = 2;
    } else size = 3; // rest of the BMP, and lone surrogates (encoded as U+FFFD)
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += units;
  }
  return i;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** 2 when a surrogate pair starts at `i`, otherwise 1 (0 at the end). */
function codePointUnits(text: string, i: number): number {
  if (i >= text.length) return 0;
  const c = text.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1)) ? 2 : 1;
}

/**
 * A window start at or before `from` where segmenting can begin without
 * changing any later boundary: on a code point, and not on a character whose
 * break depends on earlier context.
 */
function windowStart(text: string, from: number): number {
  let i = Math.max(0, from);
  if (i > 0 && isLowSurrogate(text.charCodeAt(i)) && codePointUnits(text, i - 1) === 2) i -= 1;
  while (i > 0) {
    contextDependent.lastIndex = i;
    if (!contextDependent.test(text)) break;
    i -= isLowSurrogate(text.charCodeAt(i - 1)) && i >= 2 && codePointUnits(text, i - 2) === 2 ? 2 : 1;
  }
  return i;
}

/**
 * The last grapheme boundary ≤ `cut` in text[start, end). `end` includes the
 * code point after the cut: whether the cut is itself a boundary depends on it.
 */
function lastBoundaryAtOrBefore(text: string, start: number, end: number, cut: number): number {
  const limit = cut - start;
  let last = 0;
  for (const { index } of graphemes.segment(text.slice(start, end))) {
    if (index > limit) break;
    last = index;
  }
  return start + last;
}
