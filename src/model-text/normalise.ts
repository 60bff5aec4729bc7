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

/**
 * Anything `normaliseText` would change, bar a space at either end. One
 * test is about twice as fast as the replacements on typical text, which
 * rarely needs any change.
 */
const NEEDS_NORMALISING = /[^\S ]|[\p{Cc}\p{Cs}]| {2}/u;

/** Any character that survives normalisation. */
const VISIBLE = /[^\p{Cc}\s]/u;

/**
 * `text` with control characters removed, lone surrogates replaced by U+FFFD,
 * each whitespace run (newlines and tabs included) collapsed to one space, and
 * leading/trailing space trimmed.
 */
export function normaliseText(text: string): string {
  if (
    text === "" ||
    (!NEEDS_NORMALISING.test(text) &&
      text.charCodeAt(0) !== 0x20 &&
      text.charCodeAt(text.length - 1) !== 0x20)
  ) {
    return text;
  }
  return text.replace(CONTROLS, "").replace(LONE_SURROGATES, "\uFFFD").replace(WHITESPACE, " ").trim();
}

/** Whether `normaliseText(text)` is non-empty, without building it. */
export function hasVisibleText(text: string): boolean {
  return text !== "" && VISIBLE.test(text);
}
