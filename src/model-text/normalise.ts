/**
 * Whitespace and control-character normalisation of client text, and the
 * matching "is there anything left" test used by request validation, so a
 * field validation accepts as non-empty never renders as empty model text.
 */

/**
 * Control characters (Cc: C0, DEL, C1) carry no meaning for a model and are
 * removed, except the ones that are whitespace (tab, LF, VT, FF, CR) and NEL
 * (U+0085, a line break), which become spaces below.
 */
const CONTROLS = /[^\P{Cc}\s\u0085]+/gu;

/**
 * Whitespace that is not already a single space: any run of two or more, or
 * one character other than U+0020. Separators between fields are whitespace
 * (a newline by default), so a field must not be able to produce them.
 * Linear: no nested quantifiers.
 */
const WHITESPACE = /[\s\u0085]{2,}|[^\S ]|\u0085/g;

/**
 * A lone UTF-16 surrogate (half of a pair). Text decoded from the wire never
 * has one, but text built in process can; a backend must not get one (JSON
 * to vLLM would carry it as `\udXXX`, which Python cannot encode), so it
 * becomes U+FFFD, as UTF-8 encoding would make it anyway.
 */
const LONE_SURROGATES = /\p{Cs}/gu;

/** Any character that survives normalisation. */
const VISIBLE = /[^\p{Cc}\s]/u;

/**
 * `text` with control characters removed, lone surrogates replaced by U+FFFD,
 * each whitespace run (newlines and tabs included) collapsed to one space, and
 * leading/trailing space trimmed.
 */
export function normaliseText(text: string): string {
  if (!needsNormalising(text)) return text;
  return text.replace(CONTROLS, "").replace(LONE_SURROGATES, "\uFFFD").replace(WHITESPACE, " ").trim();
}

/**
 * Whether `normaliseText` would change `text`: a control character, a lone
 * surrogate, whitespace other than U+0020 (what `\s` matches, and NEL), two
 * spaces in a row, or a space at either end. Typical text needs no change,
 * so this runs on every field of every document; a loop over char codes is
 * about twice as fast as the equivalent regular expression
 * (`/[^\S ]|[\p{Cc}\p{Cs}]| {2}/u` plus the ends), which the tests check it
 * against.
 */
export function needsNormalising(text: string): boolean {
  const n = text.length;
  let afterSpace = true; // a leading space needs trimming
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20) {
      if (afterSpace) return true;
      afterSpace = true;
      continue;
    }
    afterSpace = false;
    if (c > 0x20 && c < 0x7f) continue;
    if (c <= 0xa0) return true; // C0 controls, DEL, C1 controls (NEL among them), NBSP
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = c <= 0xdbff && i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (low >= 0xdc00 && low <= 0xdfff) {
        i++; // a well-formed pair
        continue;
      }
      return true;
    }
    if (isWideWhitespace(c)) return true;
  }
  return afterSpace && n > 0; // a trailing space
}

/** The characters above U+00A0 that `\s` matches. */
function isWideWhitespace(c: number): boolean {
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Whether `normaliseText(text)` is non-empty, without building it. */
export function hasVisibleText(text: string): boolean {
  return text !== "" && VISIBLE.test(text);
}
