/**
 * Shared pieces of reading vLLM's list answers. vLLM fans a list input out
 * into one engine request per item and gathers the results; each result
 * carries the `index` of its input, and that index, not the position in the
 * list, says which pair it belongs to.
 */
import type { GatewayError } from "../../util/gateway-error.js";

export interface ParsedScores {
  /** n × 5 row-major, rows summing to 1. */
  readonly probabilities: Float32Array;
  /** The model id the server answered with, when it sent one. */
  readonly model: string | undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The entries of `list` ordered by their `index`; every index 0..n-1 must
 * occur exactly once. `bad` builds the error for a detail such as
 * "data index 7 duplicated".
 */
export function readIndexed(
  list: unknown,
  name: string,
  n: number,
  bad: (detail: string) => GatewayError,
): Record<string, unknown>[] {
  if (list === undefined || list === null) throw bad(`${name} is missing`);
  if (!Array.isArray(list)) throw bad(`${name} is not a list`);
  const slots: (Record<string, unknown> | undefined)[] = new Array(n).fill(undefined);
  for (const [pos, entry] of list.entries()) {
    if (!isRecord(entry)) throw bad(`${name} entry at position ${pos} is not an object`);
    const index = entry.index;
    if (typeof index !== "number" || !Number.isInteger(index)) {
      throw bad(`${name} entry at position ${pos} has index ${JSON.stringify(index)}, expected an integer`);
    }
    if (index < 0 || index >= n) {
      throw bad(`${name} index ${index} is out of range for ${n} inputs`);
    }
    if (slots[index] !== undefined) throw bad(`${name} index ${index} duplicated`);
    slots[index] = entry;
  }
  return slots.map((entry, i) => {
    if (entry === undefined) throw bad(`${name}[${i}] missing (${list.length} entries for ${n} inputs)`);
    return entry;
  });
}
