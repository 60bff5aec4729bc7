import t, { type Test } from "tap";
import type { DocumentMessage } from "../../src/codec/index.js";
import { cachedFlags, checkExact, docs, metric, POLICY, QUERY, score } from "../helpers/cache-requests.js";
import type { ScoreClient } from "../helpers/grpc-client.js";
import { type RedisServer, useRedisServer } from "../helpers/redis-server.js";
import { type TcpProxy, useTcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/until.js";
import { type Stack, useGateway } from "../helpers/use-gateway.js";

/**
 * The score cache's shared tier end to end: gateways in front of their own
 * Triton simulators sharing one real redis-server, faults made by killing it
 * or by a proxy that holds or garbles its answers.
 */

const M = "relevance_gateway_";
const STUDENT = 'backend="student"';
const SHARED = 'backend="student",tier="shared"';
const MEMORY = 'backend="student",tier="memory"';

/** A gateway whose student has the in-process tier and the shared tier at `port`. */
async function gatewayOn(t: Test, port: number, opts: { maxBytes?: number; timeoutMs?: number } = {}) {
  const stack = await useGateway(t, {
    student: {
      cache: {
        maxBytes: opts.maxBytes ?? 16 * 1024 * 1024,
        ttlMs: 60_000,
        shared: {
          url: `redis://127.0.0.1:${port}`,
          timeoutMs: opts.timeoutMs ?? 1000,
          breaker: { volumeThreshold: 3, resetTimeoutMs: 200 },
        },
      },
    },
  });
  await connected(stack);
  return stack;
}

async function metricOf(stack: Stack, name: string, labels: string): Promise<number> {
  return metric(await stack.metricsText(), `${M}${name}`, labels);
}

const connected = (stack: Stack) =>
  until(
    async () => (await metricOf(stack, "cache_shared_connected", STUDENT)) === 1,
    "the shared tier to connect",
  );

const sharedCalls = (stack: Stack, op: string, outcome: string) =>
  metricOf(stack, "cache_shared_requests_total", `backend="student",op="${op}",outcome="${outcome}"`);

/**
 * Scores `documents` until their writes to the shared tier have landed
 * (a write may time out on a loaded machine; REFRESH writes again).
 */
async function writeThrough(stack: Stack, documents: DocumentMessage[]): Promise<void> {
  const before = await sharedCalls(stack, "set", "ok");
  let policy: number = POLICY.use;
  await until(async () => {
    await score(stack.client, documents, policy);
    policy = POLICY.refresh;
    return (await sharedCalls(stack, "set", "ok")) > before;
  }, "a write to the shared tier");
}

t.test("two gateways sharing one server: pairs scored through one are hits through the other", async (t) => {
  const redis = await useRedisServer(t);
  const a = await gatewayOn(t, redis.port);
  const b = await gatewayOn(t, redis.port);
  const documents = docs("shared", 12);

  const first = await score(a.client, documents);
  checkExact(t, first, documents, "scored by gateway A");
  t.equal(a.sim.stats().items, 12, "A's model scored every pair");
  await writeThrough(a, documents);

  const fromB = await score(b.client, documents);
  checkExact(t, fromB, documents, "answered by gateway B");
  t.same(cachedFlags(fromB), Array(12).fill(true), "every pair marked cached");
  t.equal(b.sim.stats().items, 0, "B's model scored nothing");
  t.equal(await metricOf(b, "cache_hits_total", SHARED), 12, "12 shared hits at B");
  t.equal(await metricOf(b, "cache_misses_total", MEMORY), 12, "after 12 misses of B's own memory");

  // B keeps them in its own memory: the next request does not reach the shared tier.
  const again = await score(b.client, documents);
  checkExact(t, again, documents, "B again");
  t.equal(await metricOf(b, "cache_hits_total", MEMORY), 12, "from B's memory");
  t.equal(await sharedCalls(b, "get", "ok"), 1, "one multi-get in all");

  // A mix: half known, half new, in one request through B; only the new half reaches B's model.
  const mixed = [...documents.slice(0, 3), ...docs("new", 3), ...documents.slice(3, 6)];
  const fresh = await score(b.client, mixed, POLICY.bypass);
  checkExact(t, fresh, mixed, "bypass");
  t.equal(b.sim.stats().items, 9, "BYPASS scores all nine");
  const viaA = await score(a.client, mixed);
  checkExact(t, viaA, mixed, "A, a mix of its memory and B's bypassed pairs");
  t.same(
    cachedFlags(viaA),
    mixed.map((d) => !d.id.startsWith("new")),
    "BYPASS wrote nothing: the new pairs are not cached at A",
  );
});

/** `clients` loops scoring random picks of `pool` until `stop()`; every answer checked. */
function load(t: Test, client: ScoreClient, pool: DocumentMessage[], clients: number) {
  let running = true;
  let answered = 0;
  const failures: string[] = [];
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const picks = Array.from({ length: 8 }, () => pool[Math.floor(random() * pool.length)]!);
      // Distinct ids: a request may carry a text twice, not an id.
      const documents = picks.map((d, i) => ({ ...d, id: `${d.id}#${i}` }));
      const out = await client.score({ query: QUERY, documents }, { deadlineMs: 10_000 });
      if (!out.ok) failures.push(`${out.code}: ${out.details}`);
      else if (out.response.scores.length !== documents.length) failures.push("wrong number of scores");
      answered++;
    }
  });
  return {
    get answered() {
      return answered;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      t.same(failures, [], `no client error in ${answered} requests`);
      return answered;
    },
  };
}

/** A pool larger than the in-process tier holds, so lookups keep reaching the shared tier. */
const POOL_SIZE = 1200;
const SMALL_MEMORY = 65_536; // about 240 pairs

t.test(
  "the server killed under load, then restarted: no client error, and shared hits come back",
  async (t) => {
    const redis: RedisServer = await useRedisServer(t);
    const gw = await gatewayOn(t, redis.port, { maxBytes: SMALL_MEMORY, timeoutMs: 1000 });
    const pool = docs("pool", POOL_SIZE);
    // Fill the shared tier with the whole pool (16 requests of 75 pairs).
    for (let i = 0; i < POOL_SIZE; i += 75) await writeThrough(gw, pool.slice(i, i + 75));

    const run = load(t, gw.client, pool, 16);
    await until(async () => (await metricOf(gw, "cache_hits_total", SHARED)) > 200, "shared hits under load");
    await redis.stop();
    await until(
      async () => (await metricOf(gw, "cache_shared_connected", STUDENT)) === 0,
      "the gateway to notice",
    );
    const during = run.answered;
    await until(async () => (await sharedCalls(gw, "get", "unavailable")) > 20, "lookups skipped while down");
    t.ok(run.answered > during, "requests kept being answered while the server was down");

    await redis.start(); // empty, as after a crash
    await connected(gw);
    const hitsBack = await metricOf(gw, "cache_hits_total", SHARED);
    // The pool is written again as it is scored, and lookups hit it again.
    await until(
      async () => (await metricOf(gw, "cache_hits_total", SHARED)) > hitsBack + 200,
      "shared hits after the restart",
      30_000,
    );
    await run.stop();
  },
);

async function faultyProxy(t: Test) {
  const redis = await useRedisServer(t);
  const proxy: TcpProxy = await useTcpProxy(t, redis.port);
  const gw = await gatewayOn(t, proxy.port, { maxBytes: SMALL_MEMORY, timeoutMs: 200 });
  return { gw, proxy };
}

t.test(
  "a server answering slowly: lookups time out, are counted, the breaker opens; answers stay exact",
  async (t) => {
    const { gw, proxy } = await faultyProxy(t);
    const documents = docs("slow", 10);
    await writeThrough(gw, documents);
    const scored = gw.sim.stats().items;

    proxy.mode = "hold";
    const pool = docs("slow-pool", 400);
    for (let i = 0; i < 5; i++) {
      const r = await score(gw.client, pool.slice(i * 80, i * 80 + 80));
      checkExact(t, r, pool.slice(i * 80, i * 80 + 80), `request ${i} while the server holds its answers`);
    }
    t.ok((await sharedCalls(gw, "get", "timeout")) >= 1, "timeouts counted");
    t.equal(await metricOf(gw, "cache_shared_breaker_open", STUDENT), 1, "the breaker opened");
    t.ok((await sharedCalls(gw, "get", "rejected")) >= 1, "later lookups skipped without a call");
    t.equal(gw.sim.stats().items, scored + 400, "every pair went to the model");

    proxy.mode = "pass";
    await until(async () => {
      await score(gw.client, documents, POLICY.refresh);
      return (await metricOf(gw, "cache_shared_breaker_open", STUDENT)) === 0;
    }, "the breaker to close after a trial");
  },
);

t.test("a server answering garbage: counted, bypassed, answers stay exact", async (t) => {
  const { gw, proxy } = await faultyProxy(t);
  const pool = docs("garbled", 300);
  proxy.mode = "garbage";
  for (let i = 0; i < 3; i++) {
    const r = await score(gw.client, pool.slice(i * 100, i * 100 + 100));
    checkExact(t, r, pool.slice(i * 100, i * 100 + 100), `request ${i} while the server answers garbage`);
  }
  const errors =
    (await sharedCalls(gw, "get", "error")) +
    (await sharedCalls(gw, "get", "unavailable")) +
    (await sharedCalls(gw, "get", "timeout"));
  t.ok(errors >= 1, `failed lookups counted (${errors})`);
  t.equal(gw.sim.stats().items, 300, "every pair went to the model");
  proxy.mode = "pass";
  await connected(gw);
});
