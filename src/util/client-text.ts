/**
 * Client-supplied strings (request_id, experiment, routing_key, document ids,
 * certificate names) as they may appear in log lines, span attributes, status
 * messages and the comparison log. Validation lets such a string be as long as
 * `limits.maxFieldBytes` (64 KiB by default), and a rejected one up to the
 * message size; echoed whole, one request could write megabytes of logs and
 * spans. Echoes are cut to a fixed length with a visible marker, so a reader
 * knows the value was longer and by how much.
 */

/** Longest client string echoed, in UTF-16 code units; longer ones are cut and marked. */
export const MAX_ECHOED_CHARS = 128;

/**
 * Longest message (a status's, a log line's, a span's status) in code units:
 * a backend's error text may itself quote a client's document.
 */
export const MAX_MESSAGE_CHARS = 1024;

/**
 * `s` when it has at most `max` code units; otherwise its first `max` (one
 * fewer rather than half a surrogate pair) followed by `…(+N chars)`, N the
 * code units left out.
 */
export function capClientText(s: string, max = MAX_ECHOED_CHARS): string {
  if (s.length <= max) return s;
  const cut = cutPoint(s, max);
  return `${s.slice(0, cut)}…(+${s.length - cut} chars)`;
}

/**
 * `s` as a quoted, escaped JSON string literal for a message, cut like
 * capClientText with the marker outside the quotes: `"abc…"…(+N chars)` would
 * read as part of the value.
 */
export function quoteClientText(s: string, max = MAX_ECHOED_CHARS): string {
  if (s.length <= max) return JSON.stringify(s);
  const cut = cutPoint(s, max);
  return `${JSON.stringify(s.slice(0, cut))}…(+${s.length - cut} chars)`;
}

/** `max`, or `max - 1` when the unit before it starts a surrogate pair. */
function cutPoint(s: string, max: number): number {
  const last = s.charCodeAt(max - 1);
  return last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
}
