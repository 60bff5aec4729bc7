import type { z } from "zod";
import { EXPECTED_INTEGER, TIMER_LIMIT } from "./schema-helpers.js";

/**
 * Turns zod's issues into one-line messages an operator can act on, in the
 * vocabulary of the YAML file (mappings, lists) rather than of JavaScript:
 * `backends.student.batching.maxBatchSize: must be ≥ 1`.
 */

type Issue = z.core.$ZodIssue;

export interface FormattedIssue {
  /** Dotted key path, `[i]` for list items, "" for the document itself. */
  readonly path: string;
  /** What is wrong, without the path. */
  readonly message: string;
}

/** Formats every issue; an issue about several unknown keys becomes one entry per key. */
export function formatIssues(issues: readonly Issue[]): FormattedIssue[] {
  return issues.flatMap((issue): FormattedIssue[] =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: "unknown key" }))
      : [{ path: formatPath(issue.path), message: oneLine(describeIssue(issue)) }],
  );
}

/** `<path>: <message>`, naming the document itself when the path is empty. */
export function issueLine(issue: FormattedIssue): string {
  return `${issue.path === "" ? "(top level)" : issue.path}: ${issue.message}`;
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `["backends", "student", "endpoints", 0]` → `backends.student.endpoints[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && PLAIN_KEY.test(segment))
      out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

function describeIssue(issue: Issue): string {
  switch (issue.code) {
    case "invalid_type":
      return describeInvalidType(issue);
    case "too_small":
      return describeBound(issue.origin, issue.minimum, issue.inclusive ?? true, issue.exact, "min");
    case "too_big":
      // The timer limit says why there is a limit at all.
      if (issue.message === TIMER_LIMIT) return TIMER_LIMIT;
      return describeBound(issue.origin, issue.maximum, issue.inclusive ?? true, issue.exact, "max");
    case "invalid_value":
      return issue.values.length === 1
        ? `must be ${formatChoice(issue.values[0])}`
        : `must be one of ${issue.values.map(formatChoice).join(", ")}`;
    case "invalid_union": {
      // A discriminated union (backend `kind`, model-text `field`) that matched no variant.
      if (issue.discriminator !== undefined && "options" in issue && issue.options !== undefined) {
        const choices = issue.options.map(formatChoice).join(", ");
        const given = isRecord(issue.input) ? issue.input[issue.discriminator] : undefined;
        return given === undefined ? `required (one of ${choices})` : `must be one of ${choices}`;
      }
      return issue.message;
    }
    case "invalid_key":
      return issue.issues.map(describeIssue).join("; ");
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    case "unrecognized_keys":
      return `unknown keys: ${issue.keys.join(", ")}`;
    // Formats (regexes) and refinements carry messages written for operators in the schema.
    case "invalid_format":
    case "invalid_element":
    case "custom":
      return issue.message;
    default: {
      const _: never = issue;
      return (_ as Issue).message;
    }
  }
}

function describeInvalidType(issue: Extract<Issue, { code: "invalid_type" }>): string {
  // `never` marks a key that is only valid elsewhere; its schema says where.
  if (issue.expected === "never") return issue.message;
  const expected =
    issue.expected === "int" || issue.message === EXPECTED_INTEGER ? "an integer" : typeName(issue.expected);
  if (issue.input === undefined && !("received" in issue)) return `required (${expected})`;
  return `expected ${expected}, got ${describeValue(issue)}`;
}

function typeName(expected: string): string {
  switch (expected) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean (true or false)";
    case "array":
    case "tuple":
      return "a list";
    case "object":
    case "record":
    case "map":
      return "a mapping";
    default:
      return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
  }
}

const MAX_SHOWN_CHARS = 40;

function describeValue(issue: Extract<Issue, { code: "invalid_type" }>): string {
  // zod drops inputs it cannot serialize (Infinity, NaN) and says what it received instead.
  const received = (issue as { received?: unknown }).received;
  if (typeof received === "string") return received;
  const value = issue.input;
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    const shown = value.length > MAX_SHOWN_CHARS ? `${value.slice(0, MAX_SHOWN_CHARS)}…` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}

function describeBound(
  origin: string,
  bound: number | bigint,
  inclusive: boolean,
  exact: boolean | undefined,
  side: "min" | "max",
): string {
  switch (origin) {
    case "string":
      if (side === "min" && bound === 1) return "must not be empty";
      if (exact) return `must be exactly ${bound} characters long`;
      return side === "min"
        ? `must be at least ${bound} characters long`
        : `must be at most ${bound} characters long`;
    case "array":
    case "set":
      if (side === "min" && bound === 1) return "must not be empty";
      if (exact) return `must have exactly ${bound} items`;
      return side === "min" ? `must have at least ${bound} items` : `must have at most ${bound} items`;
    default:
      if (side === "min") return inclusive ? `must be ≥ ${bound}` : `must be > ${bound}`;
      return inclusive ? `must be ≤ ${bound}` : `must be < ${bound}`;
  }
}

function formatChoice(value: unknown): string {
  return typeof value === "string" ? value : String(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function oneLine(message: string): string {
  return message.replace(/\r?\n/g, "\\n");
}
