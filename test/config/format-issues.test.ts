import t from "tap";
import { z } from "zod";
import { formatIssues, formatPath, issueLine } from "../../src/config/format-issues.js";

function lines(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) throw new Error("expected a failure");
  return formatIssues(result.error.issues).map(issueLine);
}

t.test("paths are dotted, with [i] for list items and quotes for odd keys", async (t) => {
  t.equal(formatPath([]), "");
  t.equal(formatPath(["a", "b", 0, "c", 12]), "a.b[0].c[12]");
  t.equal(formatPath(["backends", "my-teacher", "model"]), "backends.my-teacher.model");
  t.equal(formatPath(["a", "b.c", "d e"]), 'a["b.c"]["d e"]');
});

t.test("inclusive and exclusive bounds", async (t) => {
  const s = z.object({
    a: z.number().gt(0),
    b: z.number().lt(10),
    c: z.number().min(1),
    d: z.number().max(5),
  });
  t.same(lines(s, { a: 0, b: 10, c: 0, d: 6 }), [
    "a: must be > 0",
    "b: must be < 10",
    "c: must be ≥ 1",
    "d: must be ≤ 5",
  ]);
});

t.test("lengths of strings and lists", async (t) => {
  const s = z.object({
    a: z.string().min(3),
    b: z.string().max(2),
    c: z.array(z.number()).max(1),
    d: z.array(z.number()).min(2),
    e: z.string().length(2),
  });
  t.same(lines(s, { a: "x", b: "xyz", c: [1, 2], d: [1], e: "x" }), [
    "a: must be at least 3 characters long",
    "b: must be at most 2 characters long",
    "c: must have at most 1 items",
    "d: must have at least 2 items",
    "e: must be exactly 2 characters long",
  ]);
});

t.test("values, multiples, types", async (t) => {
  const s = z.object({
    a: z.literal("only"),
    b: z.number().multipleOf(4),
    c: z.number(),
    d: z.array(z.string()),
    e: z.string(),
  });
  t.same(lines(s, { a: "other", b: 6, c: Number.POSITIVE_INFINITY, d: {} }), [
    "a: must be only",
    "b: must be a multiple of 4",
    "c: expected a number, got Infinity",
    "d: expected a list, got a mapping",
    "e: required (a string)",
  ]);
});

t.test("long strings are shortened and newlines escaped so the message stays one line", async (t) => {
  const s = z.object({ a: z.number() });
  t.same(lines(s, { a: `${"x".repeat(45)}\n` }), [`a: expected a number, got "${"x".repeat(40)}…"`]);
  const custom = z.object({ a: z.string().refine(() => false, { error: "bad\nvalue" }) });
  t.same(lines(custom, { a: "" }), ["a: bad\\nvalue"]);
});
