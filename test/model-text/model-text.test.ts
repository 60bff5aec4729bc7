import t from "tap";
import type { DocumentMessage } from "../../src/codec/index.js";
import {
  createModelText,
  defaultModelTextOptions,
  type ModelTextOptions,
} from "../../src/model-text/index.js";
import { heapAfterGc } from "../helpers/heap.js";

function doc(fields: Partial<DocumentMessage>): DocumentMessage {
  return {
    id: "d1",
    title: "",
    description: "",
    imageCaption: "",
    boardTitles: [],
    engagedQueries: [],
    linkText: "",
    locale: "",
    ...fields,
  };
}

const full = doc({
  title: "Easy sourdough",
  description: "A no-knead loaf.",
  imageCaption: "A round loaf on a board",
  boardTitles: ["Bread", "Weekend baking"],
  engagedQueries: ["sourdough recipe", "no knead bread"],
  linkText: "Read the recipe",
});

t.test("every field appears, labelled, in the default order", async (t) => {
  const mt = createModelText(defaultModelTextOptions);
  t.equal(
    mt.document(full),
    [
      "Title: Easy sourdough",
      "Description: A no-knead loaf.",
      "Image: A round loaf on a board",
      "Boards: Bread | Weekend baking",
      "Queries: sourdough recipe | no knead bread",
      "Link: Read the recipe",
    ].join("\n"),
  );
});

t.test("no field is silently dropped", async (t) => {
  const mt = createModelText(defaultModelTextOptions);
  const text = mt.document(full);
  const values = [
    full.title,
    full.description,
    full.imageCaption,
    ...full.boardTitles,
    ...full.engagedQueries,
    full.linkText,
  ];
  for (const v of values) t.ok(text.includes(v), v);
  t.equal(defaultModelTextOptions.fields.length, 6);
  for (const f of defaultModelTextOptions.fields) t.ok(text.includes(`${f.label}: `), f.field);
});

t.test("reordering fields in options changes the order", async (t) => {
  const opts: ModelTextOptions = {
    ...defaultModelTextOptions,
    separator: " ## ",
    fields: [...defaultModelTextOptions.fields].reverse(),
  };
  const text = createModelText(opts).document(full);
  t.match(text, /^Link: Read the recipe ## Queries: .* ## Title: Easy sourdough$/);
  const only = createModelText({
    ...opts,
    fields: [
      { field: "imageCaption", label: "Caption", maxBytes: 100 },
      { field: "title", label: "T", maxBytes: 100 },
    ],
  });
  t.equal(only.document(full), "Caption: A round loaf on a board ## T: Easy sourdough");
});

t.test("empty fields are skipped; an empty document renders as empty", async (t) => {
  const mt = createModelText(defaultModelTextOptions);
  t.equal(mt.document(doc({ linkText: "only link" })), "Link: only link");
  t.equal(mt.document(doc({ title: "  \n\t ", boardTitles: [" ", ""], description: "\u0000" })), "");
  t.equal(mt.document(doc({})), "");
});

t.test("whitespace and control characters are normalised", async (t) => {
  const mt = createModelText(defaultModelTextOptions);
  t.equal(
    mt.document(doc({ title: "  two\n\nlines\tand  tabs  ", description: "bell\u0007 del\u007f end" })),
    "Title: two lines and tabs\nDescription: bell del end",
  );
  // A field cannot forge the separator structure.
  const forged = mt.document(doc({ title: "x\nDescription: fake", linkText: "y\r\nTitle: z" }));
  t.equal(forged, "Title: x Description: fake\nLink: y Title: z");
  t.equal(forged.split("\n").length, 2);
  t.equal(mt.document(doc({ title: "a\u2028b\u00a0\u00a0c\u0085d" })), "Title: a b c d");
  t.equal(mt.document(doc({ title: "a \u0001 b" })), "Title: a b");
});

t.test("lists: items trimmed, empties dropped, maxItems, budget", async (t) => {
  const mt = createModelText({
    ...defaultModelTextOptions,
    fields: [{ field: "boardTitles", label: "Boards", maxBytes: 20, maxItems: 3 }],
  });
  t.equal(mt.document(doc({ boardTitles: [" a ", "", "  ", "b\nc", "d", "e"] })), "Boards: a | b c | d");
  // Joined then cut to 20 bytes: "aaaaaaaa | bbbbbbbb" is 19, the next item does not fit.
  t.equal(mt.document(doc({ boardTitles: ["aaaaaaaa", "bbbbbbbb", "cc"] })), "Boards: aaaaaaaa | bbbbbbbb");
  // A long item is cut to the remaining budget, never mid-character.
  t.equal(mt.document(doc({ boardTitles: ["ab", "中文字符中文字符"] })), "Boards: ab | 中文字符中");
  t.equal(mt.document(doc({ boardTitles: ["x".repeat(50)] })), `Boards: ${"x".repeat(20)}`);

  const defaults = createModelText(defaultModelTextOptions);
  const many = Array.from({ length: 15 }, (_, i) => `q${i}`);
  const text = defaults.document(doc({ engagedQueries: many }));
  t.equal(text, `Queries: ${many.slice(0, 10).join(" | ")}`);
});

t.test("byte budgets hold for scalar fields and the query", async (t) => {
  const mt = createModelText({
    ...defaultModelTextOptions,
    queryMaxBytes: 10,
    fields: [{ field: "description", label: "D", maxBytes: 10 }],
  });
  t.equal(mt.document(doc({ description: "hello wonderful world" })), "D: hello wond");
  // A space left at the cut is not content.
  t.equal(mt.document(doc({ description: "hello1234 world" })), "D: hello1234");
  t.equal(mt.document(doc({ description: "ab 👨‍👩‍👧 family" })), "D: ab");
  // A first grapheme longer than the whole budget is cut at a code point rather than lost.
  t.equal(mt.document(doc({ description: "👨‍👩‍👧 family" })), "D: 👨\u200d");
  t.equal(mt.query("  red \n shoes for winter "), "red shoes");
  t.equal(mt.query("中文字符"), "中文字");
  t.equal(mt.query("🇫🇷🇩🇪🇮🇹"), "🇫🇷");
});

t.test("query text is trimmed and normalised", async (t) => {
  const mt = createModelText(defaultModelTextOptions);
  t.equal(mt.query("  summer\tdress\n"), "summer dress");
  t.equal(mt.query("plain"), "plain");
  t.equal(Buffer.byteLength(mt.query("é".repeat(1000))), 512);
});

t.test("every field's budget is respected with long multilingual input", async (t) => {
  const mt = createModelText(defaultModelTextOptions);
  const long = "Ünïcödé 中文 مرحبا 👍🏽 ".repeat(200);
  const text = mt.document(
    doc({
      title: long,
      description: long,
      imageCaption: long,
      boardTitles: [long, long],
      engagedQueries: Array.from({ length: 20 }, () => "short"),
      linkText: long,
    }),
  );
  const lines = text.split("\n");
  t.equal(lines.length, 6);
  for (const [i, f] of defaultModelTextOptions.fields.entries()) {
    const line = lines[i] ?? "";
    t.ok(line.startsWith(`${f.label}: `), f.field);
    t.ok(Buffer.byteLength(line.slice(f.label.length + 2)) <= f.maxBytes, `${f.field} within budget`);
    t.notOk(/[\ud800-\udbff]$/.test(line), `${f.field} ends on a code point`);
  }
});

t.test("a document's text does not keep the document's strings alive", async (t) => {
  // A queued request holds its texts while it waits: a text cut from a long
  // field must not hold the whole field. 100 documents of 3 fields of about
  // 200 kB each are 60 MB; their texts are under 3 kB each.
  const mt = createModelText(defaultModelTextOptions);
  const long = (i: number, what: string) => `${what} ${i} ${"word ".repeat(40_000)}end`;
  let docs: DocumentMessage[] | undefined = Array.from({ length: 100 }, (_, i) =>
    doc({
      title: long(i, "title"),
      description: long(i, "description"),
      boardTitles: ["short board", long(i, "board")],
    }),
  );
  const before = heapAfterGc();
  const texts = docs.map((d) => mt.document(d));
  docs = undefined;
  const grownBytes = heapAfterGc() - before;
  t.equal(texts.length, 100);
  t.ok(texts.every((x) => x.startsWith("Title: title ")));
  t.ok(grownBytes < 5_000_000, `the texts of 100 documents hold ${grownBytes} bytes`);
});
