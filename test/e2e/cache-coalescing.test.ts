import t from "tap";
import type { DocumentMessage } from "../../src/codec/index.js";
import { expectedProbabilities } from "../helpers/expected-scores.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const CACHE = { cache: { maxBytes: 1024 * 1024, ttlMs: 60_000 } };
const QUERY = { text: "garden furniture", locale: "" };
const bits = (values: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(values).buffer));
const documents: DocumentMessage[] = [doc("a", { title: "garden bench" }), doc("b", { title: "teak table" })];

t.test("a request that joined another's items keeps its own deadline", async (t) => {
  const { client, sim } = await useGateway(t, { student: CACHE, sim: { cost: { baseMs: 400 } } });
  const leader = client.score({ query: QUERY, documents }, { deadlineMs: 5000 });
  await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  const joiner = await client.score({ query: QUERY, documents }, { deadlineMs: 100 });
  const waitedMs = performance.now() - started;
  t.equal(joiner.ok, false);
  if (!joiner.ok) t.equal(joiner.code, 4, "DEADLINE_EXCEEDED");
  t.ok(waitedMs < 350, `answered at its own deadline (${waitedMs.toFixed(0)} ms), not the shared item's`);
  const first = await leader;
  t.ok(first.ok, "the request that sent the items is answered");
  t.equal(sim.stats().items, 2, "one backend item per pair");
});

t.test("when the request that sent the items goes away, the joiner sends them itself", async (t) => {
  const { client, sim } = await useGateway(t, { student: CACHE, sim: { cost: { baseMs: 300 } } });
  const leader = client.score({ query: QUERY, documents }, { deadlineMs: 100 });
  await new Promise((r) => setTimeout(r, 20));
  const joiner = await client.score({ query: QUERY, documents }, { deadlineMs: 5000 });
  const first = await leader;
  t.equal(first.ok, false, "the leader ran out of time");
  t.ok(joiner.ok, "the joiner is answered");
  if (!joiner.ok) return;
  t.same(
    joiner.response.scores.flatMap((s) => bits(s.probabilities)),
    documents.flatMap((d) => bits(expectedProbabilities(QUERY.text, d))),
    "with the exact scores",
  );
  t.same(
    joiner.response.scores.map((s) => s.cached),
    [false, false],
  );
  t.ok(sim.stats().items >= 2);
  const again = await client.score({ query: QUERY, documents });
  t.ok(again.ok && again.response.scores.every((s) => s.cached), "and its answer was kept");
});
