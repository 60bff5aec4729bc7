import t from "tap";
import { defaultModelTextOptions } from "../../../src/model-text/index.js";
import { createWorkload } from "../../../src/tools/common/workload.js";

t.test("requests carry the asked number of varied, realistic model texts", async (t) => {
  const w = createWorkload({ docsPerRequest: 8 });
  const requests = Array.from({ length: 100 }, () => w.next());
  t.ok(requests.every((r) => r.documents.length === 8));
  const docs = requests.flatMap((r) => r.documents);
  t.ok(new Set(docs).size > 300, `${new Set(docs).size} distinct documents in 800`);
  t.ok(new Set(requests.map((r) => r.query)).size > 10, "many queries");
  t.ok(
    docs.every((d) => d.startsWith("Title: ")),
    "documents are model text, as the gateway renders them",
  );
  const bytes = docs.map((d) => Buffer.byteLength(d));
  t.ok(Math.min(...bytes) < 100, "some documents are short");
  t.ok(Math.max(...bytes) > 700, "some are long");
  const limit = defaultModelTextOptions.fields.reduce((sum, f) => sum + f.maxBytes + f.label.length + 3, 0);
  t.ok(Math.max(...bytes) <= limit, "within the model-text budgets");
  t.ok(
    docs.some((d) => /[^\p{ASCII}]/u.test(d)),
    "some non-ASCII text (CJK, accents, emoji)",
  );
  t.ok(new Set(requests.slice(0, 2).flatMap((r) => r.documents)).size === 16, "consecutive requests differ");
});

t.test("the same seed gives the same texts", async (t) => {
  const a = createWorkload({ docsPerRequest: 3, seed: 7 });
  const b = createWorkload({ docsPerRequest: 3, seed: 7 });
  const c = createWorkload({ docsPerRequest: 3, seed: 8 });
  const first = [a.next(), a.next()];
  t.same([b.next(), b.next()], first);
  t.notSame([c.next(), c.next()], first);
});
