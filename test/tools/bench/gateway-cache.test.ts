import t from "tap";
import type { DocumentMessage } from "../../../src/codec/index.js";
import { cacheConfigured, gatewayConfig } from "../../../src/tools/bench/configs.js";
import { cacheWindow, scrapeCacheCounters } from "../../../src/tools/bench/gateway-cache.js";
import { doc, type ScoreClient } from "../../helpers/grpc-client.js";
import { useGateway } from "../../helpers/use-gateway.js";

const QUERY = { text: "chocolate chip cookies", locale: "en" };

const docs = (prefix: string, n: number): DocumentMessage[] =>
  Array.from({ length: n }, (_, i) => doc(`${prefix}-${i}`, { title: `${prefix} cookie recipe ${i}` }));

async function score(client: ScoreClient, documents: DocumentMessage[]): Promise<void> {
  const out = await client.score({ query: QUERY, documents });
  if (!out.ok) throw new Error(`${out.code}: ${out.details}`);
}

t.test("a window on a gateway's cache counts the hits and misses of the requests inside it", async (t) => {
  const { client, adminUrl } = await useGateway(t, {
    student: { cache: { maxBytes: 1024 * 1024, ttlMs: 60_000 } },
  });
  const a = docs("a", 4);
  await score(client, a); // 4 misses, before the window
  const window = cacheWindow({ adminUrl, cacheOn: true });
  await window.open();
  await score(client, a); // 4 hits
  await score(client, [a[0]!, ...docs("b", 2), a[1]!]); // 2 hits, 2 misses
  t.same(await window.close(), { kind: "on", hits: 6, misses: 2, coalesced: 0, hitRatio: 0.75 });

  const totals = await scrapeCacheCounters(adminUrl);
  t.match(totals, { hits: 6, misses: 6, coalesced: 0, evictions: 0, entries: 6 });
  t.ok(totals.bytes > 0, "bytes held");
});

t.test("a gateway without a cache reads as off, and counts nothing", async (t) => {
  const { client, adminUrl } = await useGateway(t);
  await score(client, docs("a", 3));
  await score(client, docs("a", 3));
  t.match(await scrapeCacheCounters(adminUrl), { hits: 0, misses: 0, coalesced: 0, entries: 0 });
  // Off is known from the config: nothing is scraped (this address answers nothing).
  const off = cacheWindow({ adminUrl: "http://127.0.0.1:9", cacheOn: false });
  await off.open();
  t.same(await off.close(), { kind: "off" });
  t.equal(await cacheWindow(undefined).close(), undefined, "no gateway, no figure");
});

t.test("a bench config turns the cache on only with maxBytes above 0", async (t) => {
  const student = "127.0.0.1:8001";
  t.equal(cacheConfigured(gatewayConfig({ student })), false, "no cache key: the default, off");
  t.equal(cacheConfigured(gatewayConfig({ student, cache: { maxBytes: 0, ttlMs: 1000 } })), false);
  t.equal(cacheConfigured(gatewayConfig({ student, cache: { maxBytes: 1 << 20, ttlMs: 1000 } })), true);
});
