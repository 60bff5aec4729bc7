import { z } from "zod";

/**
 * zod reports a non-number given to an integer field as "expected number",
 * which would tell an operator who wrote `port: "abc"` the wrong thing. Integer
 * fields carry this marker as their type error, and the issue formatter turns
 * it into "expected an integer".
 */
export const EXPECTED_INTEGER = "expected an integer";

/** An integer field (safe-integer range), with the integer wording in type errors. */
export function int() {
  return z.int({ error: (issue) => (issue.code === "invalid_type" ? EXPECTED_INTEGER : undefined) });
}

/** Bytes in a mebibyte, for readable defaults. */
export const MiB = 1024 * 1024;

/** The largest message size gRPC accepts (a signed 32-bit length). */
export const MAX_GRPC_MESSAGE_BYTES = 2 ** 31 - 1;

/** Node's timer limit: setTimeout/setInterval with a longer delay fire at once (after a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration in milliseconds that is handed to a timer (a timeout, an
 * interval, a grace period): an integer no larger than Node's timer limit,
 * with an error that says why, since a "30 days" timeout would otherwise
 * silently become no timeout at all. Bounds of its own chain on as usual.
 */
export function timerMs() {
  return int().max(MAX_TIMER_MS, { error: TIMER_LIMIT });
}

/** The error of a duration past the timer limit; the issue formatter keeps it as written. */
export const TIMER_LIMIT = `must be ≤ ${MAX_TIMER_MS} (Node's timer limit, about 24.8 days; a longer delay fires at once)`;
