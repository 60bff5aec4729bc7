import { Redis } from "iovalkey";
import t, { type Test } from "tap";
import type { SharedOutcome, SharedTierObserver } from "../../src/cache/observer.js";
import {
  decodeRow,
  encodeRow,
  redactedUrl,
  SHARED_ROW_BYTES,
  SharedTier,
  type SharedTierConfig,
  type SharedTierOptions,
  WRITE_CALL_KEYS,
} from "../../src/cache/shared-tier.js";
import { type Clock, systemClock } from "../../src/util/clock.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { useRedisServer } from "../helpers/redis-server.js";
import { useTcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/until.js";

/** Counts what the tier reports. */
class Recorder implements SharedTierObserver {
  hitCount = 0;
  missCount = 0;
  breaker: boolean[] = [];
  readonly calls = new Map<string, number>();
  hits(n: number) {
    this.hitCount += n;
  }
  misses(n: number) {
    this.missCount += n;
  }
  request(op: "get" | "set", outcome: SharedOutcome) {
    const k = `${op}:${outcome}`;
    this.calls.set(k, (this.calls.get(k) ?? 0) + 1);
  }
  breakerOpen(open: boolean) {
    this.breaker.push(open);
  }
  connections: boolean[] = [];
  connected(up: boolean) {
    this.connections.push(up);
  }
  count(key: string): number {
    return this.calls.get(key) ?? 0;
  }
}

const BREAKER = {
  errorThresholdPercentage: 50,
  volumeThreshold: 3,
  resetTimeoutMs: 100,
  rollingWindowMs: 10_000,
};

async function tierOn(
  t: Test,
  port: number,
  opts: {
    clock?: Clock;
    ttlMs?: number;
    timeoutMs?: number;
    keyPrefix?: string;
    log?: SharedTierOptions["log"];
  } = {},
) {
  const observer = new Recorder();
  const config: SharedTierConfig = {
    url: `redis://127.0.0.1:${port}`,
    timeoutMs: opts.timeoutMs ?? 1000,
    keyPrefix: opts.keyPrefix ?? "test:student:",
    breaker: BREAKER,
  };
  const tier = new SharedTier(config, opts.ttlMs ?? 60_000, {
    clock: opts.clock ?? systemClock,
    observer,
    log: opts.log,
  });
  t.teardown(() => tier.close());
  await until(() => tier.connected, "the tier to connect");
  return { tier, observer };
}

function rawClient(t: Test, port: number): Redis {
  const raw = new Redis({ port, host: "127.0.0.1", lazyConnect: false });
  t.teardown(() => raw.disconnect());
  return raw;
}

/** Rows of five probabilities each, not all representable in fewer bits than float32 has. */
function rows(n: number): Float32Array {
  const out = new Float32Array(n * 5);
  for (let i = 0; i < n; i++) {
    const raw = [1 / 3 + i * 1e-7, 1 / 7, 1 / 11, 1 / 13, 0];
    const sum = raw.reduce((a, b) => a + b, 0);
    for (let k = 0; k < 5; k++) out[i * 5 + k] = raw[k]! / sum;
  }
  return out;
}

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

t.test("a row encodes as five little-endian float32 and decodes bit for bit", async (t) => {
  const from = rows(3);
  const buf = encodeRow(from, 5);
  t.equal(buf.length, SHARED_ROW_BYTES);
  // Independent reading: a DataView over the bytes, little endian.
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const read = Array.from({ length: 5 }, (_, k) => view.getFloat32(k * 4, true));
  t.same(bitsOf(Float32Array.from(read)), bitsOf(from.subarray(5, 10)));
  t.same(bitsOf(decodeRow(buf)!), bitsOf(from.subarray(5, 10)));
  t.equal(decodeRow(Buffer.alloc(19)), undefined, "19 bytes: not a row");
  t.equal(decodeRow(Buffer.from("hello world, hello!!")), undefined, "20 bytes of text: not probabilities");
  const negative = Buffer.alloc(20);
  negative.writeFloatLE(-0.5, 8);
  t.equal(decodeRow(negative), undefined, "a negative probability: not a row");
  const nan = Buffer.alloc(20);
  nan.writeFloatLE(Number.NaN, 0);
  t.equal(decodeRow(nan), undefined, "NaN: not a row");
});

t.test("the password is not logged", async (t) => {
  t.equal(redactedUrl("redis://user:s3cret@10.0.0.1:6379/2"), "redis://user:***@10.0.0.1:6379/2");
  t.equal(redactedUrl("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
  t.equal(redactedUrl("not a url"), "(unparsable url)");
});

t.test("rows written are read back exactly, missing keys are misses, with the TTL", async (t) => {
  const redis = await useRedisServer(t);
  const { tier, observer } = await tierOn(t, redis.port, { ttlMs: 30_000 });
  const raw = rawClient(t, redis.port);
  const data = rows(4);
  tier.set(["a", "b", "c"], data, [0, 2, 3]);
  await until(() => observer.count("set:ok") === 1, "the write");

  const got = await tier.get(["b", "zz", "a", "c"]);
  t.ok(got, "answered");
  t.same(bitsOf(got![0]!), bitsOf(data.subarray(10, 15)), "b is row 2");
  t.equal(got![1], undefined, "zz was never written");
  t.same(bitsOf(got![2]!), bitsOf(data.subarray(0, 5)), "a is row 0");
  t.same(bitsOf(got![3]!), bitsOf(data.subarray(15, 20)), "c is row 3");
  t.equal(observer.hitCount, 3);
  t.equal(observer.missCount, 1);
  t.equal(observer.count("get:ok"), 1);

  // Stored under the prefix, 20 bytes, expiring within the TTL.
  const stored = await raw.getBuffer("test:student:a");
  t.equal(stored?.length, 20);
  const ttl = await raw.pttl("test:student:a");
  t.ok(ttl > 0 && ttl <= 30_000, `PTTL ${ttl} within (0, 30000]`);

  // ttlMs 0: no expiry.
  tier.ttlMs = 0;
  tier.set(["d"], data, [1]);
  await until(() => observer.count("set:ok") === 2, "the second write");
  t.equal(await raw.pttl("test:student:d"), -1, "no TTL when ttlMs is 0");
  t.same(await tier.get([]), [], "no keys: no call");
  t.equal(observer.count("get:ok"), 1, "the empty lookup made no call");
});

t.test("the writes of requests answered in one turn go in one call, after it", async (t) => {
  const redis = await useRedisServer(t);
  const { tier, observer } = await tierOn(t, redis.port, { ttlMs: 30_000 });
  const raw = rawClient(t, redis.port);
  const data = rows(3);
  // Three requests answered in the same turn, as the batcher answers a batch.
  tier.set(["r1"], data, [0]);
  tier.set(["r2a", "r2b"], data, [1, 2]);
  tier.set(["r3"], data, [2]);
  t.equal(observer.count("set:ok"), 0, "nothing is sent in the turn that answers");
  await until(() => observer.count("set:ok") >= 1, "the write call");
  const got = await tier.get(["r1", "r2a", "r2b", "r3"]);
  t.same(
    got?.map((r) => (r === undefined ? undefined : bitsOf(r))),
    [0, 1, 2, 2].map((i) => bitsOf(data.subarray(i * 5, i * 5 + 5))),
    "every row of the three requests is stored",
  );
  t.equal(observer.count("set:ok"), 1, "in one call");
  for (const key of ["r1", "r2b"]) {
    const ttl = await raw.pttl(`test:student:${key}`);
    t.ok(ttl > 0 && ttl <= 30_000, `${key}: PTTL ${ttl} within (0, 30000]`);
  }

  // More keys than one call carries: split, every key stored.
  const many = Array.from({ length: 2 * WRITE_CALL_KEYS + 1 }, (_, i) => `m${i}`);
  tier.set(many, rows(1), new Array<number>(many.length).fill(0));
  await until(() => observer.count("set:ok") === 4, "three more calls");
  t.equal(await raw.exists(...many.map((k) => `test:student:${k}`)), many.length, "all stored");
});

t.test("a server that refuses scripts: rows are written key by key, said once", async (t) => {
  const redis = await useRedisServer(t);
  const raw = rawClient(t, redis.port);
  await raw.call("ACL", "SETUSER", "default", "-@scripting");
  const warnings: string[] = [];
  const log = { warn: (_: object, msg: string) => warnings.push(msg), info: () => {} };
  const { tier, observer } = await tierOn(t, redis.port, { ttlMs: 30_000, log });
  const data = rows(2);
  tier.set(["a"], data, [0]);
  await until(() => observer.count("set:ok") === 1, "the first write");
  tier.set(["b"], data, [1]);
  await until(() => observer.count("set:ok") === 2, "the second write");
  t.same(bitsOf((await tier.get(["a"]))![0]!), bitsOf(data.subarray(0, 5)), "a stored");
  t.same(bitsOf((await tier.get(["b"]))![0]!), bitsOf(data.subarray(5, 10)), "b stored");
  const ttl = await raw.pttl("test:student:b");
  t.ok(ttl > 0 && ttl <= 30_000, `with the TTL (PTTL ${ttl})`);
  t.equal(observer.count("set:error"), 0, "no write failed");
  t.same(warnings, ["score cache: the shared server refuses scripts; writing key by key"], "said once");
});

t.test("a malformed value is a miss and is counted; a server of malformed values is bypassed", async (t) => {
  const redis = await useRedisServer(t);
  const { tier, observer } = await tierOn(t, redis.port);
  const raw = rawClient(t, redis.port);
  const data = rows(1);
  tier.set(["good"], data, [0]);
  await until(() => observer.count("set:ok") === 1, "the write");
  await raw.set("test:student:bad", "not a score");

  const mixed = await tier.get(["good", "bad"]);
  t.same(bitsOf(mixed![0]!), bitsOf(data.subarray(0, 5)), "the good row is answered");
  t.equal(mixed![1], undefined, "the malformed value is a miss");
  t.equal(observer.count("get:garbage"), 1, "counted as garbage");
  t.equal(observer.count("get:ok"), 0, "and not as ok");
  t.equal(observer.hitCount, 1);

  const allBad = await tier.get(["bad"]);
  t.equal(allBad, undefined, "nothing but malformed values: the tier is not used");
  t.equal(observer.count("get:garbage"), 2);
});

t.test("answers that are not the protocol: counted as errors, the lookup answers undefined", async (t) => {
  const redis = await useRedisServer(t);
  const proxy = await useTcpProxy(t, redis.port);
  const { tier, observer } = await tierOn(t, proxy.port);
  tier.set(["k"], rows(1), [0]);
  await until(() => observer.count("set:ok") === 1, "the write through the proxy");
  proxy.mode = "garbage";
  t.equal(await tier.get(["k"]), undefined, "no rows from a server speaking garbage");
  t.equal(observer.count("get:error"), 1, "counted as an error");
  proxy.mode = "pass";
  await until(async () => (await tier.get(["k"])) !== undefined, "the client to reconnect");
  t.ok(observer.count("get:ok") >= 1, "answers again once the server does");
});

t.test("a server that does not answer: the lookup ends at the timeout, on the gateway's clock", async (t) => {
  const redis = await useRedisServer(t);
  const proxy = await useTcpProxy(t, redis.port);
  const clock = new FakeClock();
  const { tier, observer } = await tierOn(t, proxy.port, { clock, timeoutMs: 20 });
  tier.set(["k"], rows(1), [0]);
  await until(() => observer.count("set:ok") === 1, "the write");

  proxy.mode = "hold";
  let answer: unknown = "pending";
  const lookup = tier.get(["k"]).then((a) => {
    answer = a;
  });
  await until(() => proxy.answersHeld > 0, "the server's answer to reach the proxy");
  await clock.advance(19);
  t.equal(answer, "pending", "still waiting 1 ms before the timeout");
  await clock.advance(1);
  await lookup;
  t.equal(answer, undefined, "no rows at the timeout");
  t.equal(observer.count("get:timeout"), 1, "counted as a timeout");
  proxy.mode = "pass";
});

t.test(
  "a killed server: calls are skipped at once while the client reconnects, and the tier recovers",
  async (t) => {
    const redis = await useRedisServer(t);
    const { tier, observer } = await tierOn(t, redis.port);
    tier.set(["k"], rows(1), [0]);
    await until(() => observer.count("set:ok") === 1, "the write");

    t.same(observer.connections, [false, true], "reported down at start, then connected");
    await redis.stop();
    await until(() => !tier.connected, "the client to notice");
    t.equal(observer.connections.at(-1), false, "reported disconnected");
    t.equal(await tier.get(["k"]), undefined, "no rows while the server is down");
    tier.set(["k"], rows(1), [0]);
    t.equal(observer.count("get:unavailable"), 1, "the lookup is counted unavailable");
    t.equal(observer.count("set:unavailable"), 1, "so is the write");
    t.equal(observer.count("get:error") + observer.count("get:timeout"), 0, "no call was made");

    await redis.start();
    // The restarted server is empty: once reconnected, a write lands and the next lookup hits.
    await until(() => tier.connected, "the client to reconnect");
    t.equal(observer.connections.at(-1), true, "reported connected again");
    tier.set(["k"], rows(1), [0]);
    await until(() => observer.count("set:ok") === 2, "the write after the restart");
    t.ok((await tier.get(["k"]))?.[0], "hits again");
  },
);

t.test(
  "a server that stops answering: timeouts open the breaker, which skips calls until a trial succeeds",
  async (t) => {
    const redis = await useRedisServer(t);
    const proxy = await useTcpProxy(t, redis.port);
    const clock = new FakeClock();
    const { tier, observer } = await tierOn(t, proxy.port, { clock, timeoutMs: 20 });
    t.same(observer.breaker, [false], "closed at start");

    proxy.mode = "hold";
    for (let i = 0; i < BREAKER.volumeThreshold; i++) {
      const lookup = tier.get(["k"]);
      // Auto-pipelining sends the next lookup once the first one's answer is in: only the first reaches the server.
      if (i === 0) await until(() => proxy.answersHeld > 0, "the server's answer to reach the proxy");
      await clock.advance(20);
      t.equal(await lookup, undefined, `lookup ${i + 1} times out`);
    }
    t.equal(observer.count("get:timeout"), BREAKER.volumeThreshold);
    t.ok(tier.breakerOpen, "the breaker opened");
    t.same(observer.breaker, [false, true], "reported open");
    const heldBefore = proxy.answersHeld;
    t.equal(await tier.get(["k"]), undefined, "open: skipped");
    t.equal(observer.count("get:rejected"), 1, "counted as rejected");
    t.equal(proxy.answersHeld, heldBefore, "without a call to the server");

    proxy.mode = "pass";
    // opossum's reset timer (100 ms, real time) half-opens the breaker; the trial lookup closes it.
    await until(async () => (await tier.get(["k"])) !== undefined, "a trial lookup to succeed");
    t.notOk(tier.breakerOpen, "closed again");
    t.equal(observer.breaker.at(-1), false, "reported closed");
  },
);

t.test("purge deletes this prefix's entries only", async (t) => {
  const redis = await useRedisServer(t);
  const { tier, observer } = await tierOn(t, redis.port, { keyPrefix: "p:student:" });
  const raw = rawClient(t, redis.port);
  const keys = Array.from({ length: 2500 }, (_, i) => `k${i}`);
  const data = rows(1);
  tier.set(
    keys,
    data,
    keys.map(() => 0),
  );
  // 2,500 keys: four full calls and one of the rest.
  await until(() => observer.count("set:ok") === Math.ceil(2500 / WRITE_CALL_KEYS), "the writes");
  await raw.set("p:teacher:k1", "other backend");
  await raw.set("p:student*", "a glob character in a name");
  t.equal(await tier.purge(), 2500, "every entry of the prefix");
  t.equal(await raw.dbsize(), 2, "the other backend's key and the look-alike are kept");
  await redis.stop();
  await t.rejects(tier.purge(), "an unreachable server: the purge says so");
});
