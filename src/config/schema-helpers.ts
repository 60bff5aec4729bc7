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
