import t from "tap";
import type { ScoreResponseMessage } from "../../src/codec/index.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { type Clock, systemClock } from "../../src/util/clock.js";
import { cachedFlags, checkExact, docs, metric, POLICY, QUERY, score } from "../helpers/cache-requests.js";
import { until } from "../helpers/until.js";
import { useGateway } from "../helpers/use-gateway.js";

const CACHE = { cache: { maxBytes: 16 * 1024 * 1024, ttlMs: 60_000 } };

t.test(
  "cached, coalesced and new pairs under 64 concurrent clients: exact, in order, scored once",
  async (t) => {
    // A slow model keeps the first batch of the shared pairs in flight while the other clients arrive.
    const { client, sim, metricsText } = await useGateway(t, {
      student: CACHE,
      sim: { cost: { baseMs: 150, perItemMs: 0.01, instances: 4 } },
    });
    const warm = docs("warm", 6);
    const first = await score(client, warm);
    checkExact(t, first, warm, "first answer");
    t.same(cachedFlags(first), [false, false, false, false, false, false], "nothing cached yet");
    const warmed = sim.stats().items;
    t.equal(warmed, 6);

    const shared = docs("shared", 5);
    const clients = 64;
    const requests = Array.from({ length: clients }, (_, c) => {
      const own = docs(`own${c}`, 3);
      // The same text under another id: one backend item for both.
      const twin = { ...own[0]!, id: `own${c}-twin` };
      // Interleaved, so each part is spread over the request.
      const documents = [
        warm[c % 6]!,
        shared[c % 5]!,
        own[0]!,
        shared[(c + 1) % 5]!,
        own[1]!,
        twin,
        warm[(c + 3) % 6]!,
      ];
      documents.push(own[2]!);
      for (const s of shared) if (!documents.includes(s)) documents.push(s);
      return documents;
    });
    const answers = await Promise.all(requests.map((documents) => score(client, documents)));
    for (const [c, r] of answers.entries()) {
      const documents = requests[c]!;
      checkExact(t, r, documents, `client ${c}`);
      const flags = cachedFlags(r);
      t.ok(
        documents.every((d, i) => !d.id.startsWith("warm") || flags[i]),
        `client ${c}: the warmed pairs came from the cache`,
      );
      t.ok(
        documents.every((d, i) => !d.id.startsWith("own") || !flags[i]),
        `client ${c}: its own pairs were scored`,
      );
      t.same(r.model, { role: 1, name: "relevance_student", version: "1", backend: "student" });
    }
    // Each distinct pair once: the 5 shared ones and 3 of each client's own (the twin shares its item).
    t.equal(
      sim.stats().items - warmed,
      5 + clients * 3,
      "backend items: every distinct new pair exactly once",
    );

    const text = await metricsText();
    const labels = 'backend="student",tier="memory"';
    t.ok(metric(text, "relevance_gateway_cache_hits_total", labels) >= clients * 2, "hits counted");
    t.ok(
      metric(text, "relevance_gateway_cache_coalesced_total", 'backend="student"') >= clients,
      "coalesced counted",
    );
    t.ok(
      metric(text, "relevance_gateway_cache_misses_total", labels) >= 6 + 5 + clients * 3,
      "misses counted",
    );
    t.equal(metric(text, "relevance_gateway_cache_entries", labels), 6 + 5 + clients * 3);
    t.ok(metric(text, "relevance_gateway_cache_bytes", labels) > 0);
  },
);

t.test("BYPASS neither reads nor writes; REFRESH scores again and keeps the new score", async (t) => {
  let offsetMs = 0;
  const clock: Clock = { now: () => systemClock.now() + offsetMs, setTimeout: systemClock.setTimeout };
  const { client, sim } = await useGateway(t, {
    student: { cache: { maxBytes: 1024 * 1024, ttlMs: 10_000 } },
    clock,
  });
  const items = () => sim.stats().items;
  const a = docs("a", 4);
  await score(client, a);
  t.equal(items(), 4);

  let r = await score(client, a, POLICY.bypass);
  checkExact(t, r, a, "bypass of cached pairs");
  t.same(cachedFlags(r), [false, false, false, false], "bypass: not read");
  t.equal(items(), 8, "bypass: every pair scored");

  const b = docs("b", 3);
  await score(client, b, POLICY.bypass);
  t.equal(items(), 11);
  r = await score(client, b);
  t.same(cachedFlags(r), [false, false, false], "bypass: not written");
  t.equal(items(), 14);

  // a was written at 0 s; refreshed at 9 s, it answers until 19 s, not 10 s.
  offsetMs += 9000;
  r = await score(client, a, POLICY.refresh);
  checkExact(t, r, a, "refresh");
  t.same(cachedFlags(r), [false, false, false, false], "refresh: not read");
  t.equal(items(), 18, "refresh: every pair scored again");
  offsetMs += 2000;
  r = await score(client, a);
  t.same(cachedFlags(r), [true, true, true, true], "refresh: written again (alive past the first TTL)");
  checkExact(t, r, a, "refreshed entries");
  t.equal(items(), 18);
  r = await score(client, b);
  t.same(cachedFlags(r), [false, false, false], "b, written at 0 s, expired at 10 s");
  t.equal(items(), 21);
  offsetMs += 8001;
  r = await score(client, a);
  t.same(cachedFlags(r), [false, false, false, false], "a expired 10 s after its refresh");
  t.equal(items(), 25);
});

t.test("a new model version retires every old entry: zero old hits", async (t) => {
  const { client, sim, metricsText } = await useGateway(t, {
    // Probes a second apart: without more, a cached answer could outlive its model by up to that.
    student: { ...CACHE, readiness: { intervalMs: 1000, timeoutMs: 1000 } },
  });
  const a = docs("v", 8);
  // Wait for the first probe to have read the model.
  await until(async () => (await client.score({ query: QUERY, documents: a })).ok, "version 1 to answer");
  t.same(cachedFlags(await score(client, a)), Array(8).fill(true), "cached under version 1");

  // While the model is replaced, every answer is from one version, and version 2 never answers from the cache.
  let stop = false;
  let v1Closed = false;
  const seen: ScoreResponseMessage[] = [];
  /** Answers to requests sent once version 1's server had closed. */
  const afterClose: ScoreResponseMessage[] = [];
  const load = (async () => {
    while (!stop) {
      const sentAfterClose = v1Closed;
      const out = await client.score({ query: QUERY, documents: a });
      if (out.ok) (sentAfterClose ? afterClose : seen).push(out.response);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const port = sim.port;
  await sim.close();
  v1Closed = true;
  const v2 = await createTritonSim({ port, models: [{ name: "relevance_student", version: "2" }] });
  t.teardown(() => v2.close());
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !seen.some((r) => r.model?.version === "2")) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));
  stop = true;
  await load;
  t.same(
    afterClose.filter((r) => r.scores.some((s) => s.cached === true) && r.model?.version === "1").length,
    0,
    `no answer from the cache under version 1 once its server had gone (${afterClose.length} answers)`,
  );
  seen.push(...afterClose);
  const v2Answers = seen.filter((r) => r.model?.version === "2");
  t.ok(v2Answers.length > 0, "version 2 answered");
  t.same(
    cachedFlags(v2Answers[0]!),
    Array(8).fill(false),
    "the first answer of version 2 is all scored by it",
  );
  t.ok(
    seen.every((r) => r.scores.every((s) => s.cached === r.scores[0]!.cached) || r.model?.version === "1"),
    "a version 2 answer never mixes cached and new rows",
  );
  const r = await score(client, a);
  t.equal(r.model?.version, "2");
  checkExact(t, r, a, "version 2");
  t.same(cachedFlags(r), Array(8).fill(true), "cached again, under version 2");
  t.ok(v2.stats().items >= 8, "version 2 scored the pairs itself");
  const text = await metricsText();
  t.ok(
    metric(
      text,
      "relevance_gateway_cache_retired_total",
      'backend="student",tier="memory",reason="model_change"',
    ) >= 8,
    "the old entries were retired",
  );
});

t.test("POST /admin/cache/purge empties a backend's cache (admin token)", async (t) => {
  const { client, sim, adminUrl } = await useGateway(t, { student: CACHE, adminToken: "s3cret" });
  const a = docs("p", 5);
  await score(client, a);
  t.same(cachedFlags(await score(client, a)), Array(5).fill(true));
  const purge = (query: string, token?: string) =>
    fetch(`${adminUrl}/admin/cache/purge${query}`, {
      method: "POST",
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  t.equal((await purge("?backend=student")).status, 401, "no token: refused");
  t.equal((await purge("?backend=student", "wrong")).status, 401, "wrong token: refused");
  const unknown = await purge("?backend=nope", "s3cret");
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: /backend: no backend named "nope"/ });
  const res = await purge("?backend=student", "s3cret");
  t.equal(res.status, 200);
  t.same(await res.json(), { ok: true, purged: { student: 5 } });
  const before = sim.stats().items;
  const r = await score(client, a);
  t.same(cachedFlags(r), Array(5).fill(false), "scored again after the purge");
  t.equal(sim.stats().items - before, 5);
  const all = await purge("", "s3cret");
  t.same(await all.json(), { ok: true, purged: { student: 5 } }, "no backend named: every backend");
  const get = await fetch(`${adminUrl}/admin/cache/purge`, { headers: { authorization: "Bearer s3cret" } });
  t.equal(get.status, 405, "GET is not allowed");
  t.equal(get.headers.get("allow"), "POST");
});

t.test("cache size and TTL change live through PATCH /admin/config", async (t) => {
  const { client, sim, adminUrl } = await useGateway(t, { student: CACHE, adminToken: "s3cret" });
  const patch = (cache: Record<string, number>) =>
    fetch(`${adminUrl}/admin/config`, {
      method: "PATCH",
      headers: { authorization: "Bearer s3cret", "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ backends: { student: { cache } } }),
    });
  const a = docs("l", 4);
  await score(client, a);
  t.same(cachedFlags(await score(client, a)), Array(4).fill(true));
  const off = await patch({ maxBytes: 0 });
  t.equal(off.status, 200);
  t.match(await off.json(), { changes: [{ path: "backends.student.cache.maxBytes", new: 0 }] });
  const before = sim.stats().items;
  t.same(cachedFlags(await score(client, a)), Array(4).fill(false), "off: scored");
  t.same(cachedFlags(await score(client, a)), Array(4).fill(false), "off: not kept");
  t.equal(sim.stats().items - before, 8);
  t.equal((await patch({ maxBytes: 1024 * 1024 })).status, 200);
  await score(client, a);
  t.same(cachedFlags(await score(client, a)), Array(4).fill(true), "on again");
  const bad = await patch({ maxBytes: 10 });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: /backends\.student\.cache\.maxBytes/ });
});

t.test("off by default: every request is scored and nothing is marked cached", async (t) => {
  const { client, sim } = await useGateway(t);
  const a = docs("d", 3);
  await score(client, a);
  const r = await score(client, a);
  t.same(cachedFlags(r), [false, false, false]);
  t.equal(sim.stats().items, 6);
});

t.test("the teacher's answers are cached by the teacher's own key", async (t) => {
  const { client, sim, teacherSim } = await useGateway(t, {
    student: CACHE,
    teacher: { backend: CACHE },
    config: { routing: { default: "student", experiments: [{ name: "teacher-eval", backend: "teacher" }] } },
  });
  const a = docs("t", 4);
  const teacher = async () => {
    const out = await client.score({ query: QUERY, documents: a, experiment: "teacher-eval" });
    if (!out.ok) throw new Error(out.details);
    return out.response;
  };
  t.same(cachedFlags(await teacher()), Array(4).fill(false));
  const again = await teacher();
  t.same(cachedFlags(again), Array(4).fill(true), "teacher pairs cached");
  t.equal(again.model?.backend, "teacher");
  t.equal(teacherSim!.stats().items, 4, "the teacher scored each pair once");
  const student = await score(client, a);
  t.same(cachedFlags(student), Array(4).fill(false), "the student's cache is its own");
  t.equal(sim.stats().items, 4);
});
