import t from "tap";
import type { CacheObserver, EvictionReason, RetireReason } from "../../src/cache/index.js";
import { ENTRY_BYTES, ScoreStore } from "../../src/cache/index.js";
import { FakeClock } from "../helpers/fake-clock.js";

function recordingObserver() {
  const seen = {
    evicted: [] as EvictionReason[],
    retired: [] as [RetireReason, number][],
    bytes: 0,
    entries: 0,
  };
  const observer: CacheObserver = {
    hits() {},
    misses() {},
    coalesced() {},
    evicted: (reason) => seen.evicted.push(reason),
    retired: (reason, n) => seen.retired.push([reason, n]),
    size(bytes, entries) {
      seen.bytes = bytes;
      seen.entries = entries;
    },
  };
  return { seen, observer };
}

const row = (x: number) => Float32Array.of(x, x + 0.1, x + 0.2, x + 0.3, x + 0.4);

function read(store: ScoreStore, key: string): number[] | undefined {
  const out = new Float32Array(5);
  return store.read(key, out, 0) ? Array.from(out) : undefined;
}

t.test("a row comes back bit for bit (float32), at any offset", async (t) => {
  const store = new ScoreStore({ maxBytes: 1 << 20, ttlMs: 0 }, { clock: new FakeClock() });
  // Random float32 bit patterns, subnormals and extremes included (NaN excluded: probabilities are numbers).
  const bits = new Uint32Array(5 * 200);
  let s = 12345;
  for (let i = 0; i < bits.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    bits[i] = s;
  }
  bits[0] = 0x00000001; // smallest subnormal
  bits[1] = 0x7f7fffff; // largest finite
  bits[2] = 0x80000000; // -0
  const floats = new Float32Array(bits.buffer);
  for (let i = 0; i < floats.length; i++) if (Number.isNaN(floats[i]!)) bits[i] = 0x3f800000;
  for (let r = 0; r < 200; r++) store.write(`k${r}`, floats, r * 5);
  const out = new Float32Array(5 * 201);
  for (let r = 0; r < 200; r++) t.ok(store.read(`k${r}`, out, (r + 1) * 5));
  const back = new Uint32Array(out.buffer, 20, 5 * 200);
  t.same(Array.from(back), Array.from(bits), "every bit pattern kept");
});

t.test("bounded by bytes: the least recently used entries leave first", async (t) => {
  const { seen, observer } = recordingObserver();
  const store = new ScoreStore({ maxBytes: 3 * ENTRY_BYTES, ttlMs: 0 }, { clock: new FakeClock(), observer });
  store.write("a", row(1), 0);
  store.write("b", row(2), 0);
  store.write("c", row(3), 0);
  t.ok(read(store, "a"), "a used: now the most recent");
  store.write("d", row(4), 0);
  t.equal(read(store, "b"), undefined, "b, the least recently used, was evicted");
  t.ok(read(store, "a") && read(store, "c") && read(store, "d"));
  t.equal(store.entries, 3);
  t.equal(store.bytes, 3 * ENTRY_BYTES);
  t.same(seen.evicted, ["evict"]);
  store.report();
  t.equal(seen.bytes, 3 * ENTRY_BYTES);
  t.equal(seen.entries, 3);
});

t.test("TTL on the injected clock: an entry answers for ttlMs after its write, not longer", async (t) => {
  const clock = new FakeClock();
  const { seen, observer } = recordingObserver();
  const store = new ScoreStore({ maxBytes: 1 << 20, ttlMs: 1000 }, { clock, observer });
  store.write("a", row(1), 0);
  await clock.advance(600);
  store.write("b", row(2), 0);
  await clock.advance(400);
  t.ok(read(store, "a"), "a at 1000 ms");
  t.ok(read(store, "a"), "a read again: reads do not extend its life");
  await clock.advance(1);
  t.equal(read(store, "a"), undefined, "a at 1001 ms: expired");
  t.ok(read(store, "b"), "b at 401 ms");
  await clock.advance(600);
  t.equal(read(store, "b"), undefined, "b at 1001 ms: expired");
  t.same(seen.evicted, ["expire", "expire"]);
  t.equal(clock.pendingTimers, 0, "no timers: expiry is checked on reads");
});

t.test("ttlMs 0: entries live until evicted", async (t) => {
  const clock = new FakeClock();
  const store = new ScoreStore({ maxBytes: 1 << 20, ttlMs: 0 }, { clock });
  store.write("a", row(1), 0);
  await clock.advance(365 * 24 * 3600 * 1000);
  t.ok(read(store, "a"));
});

t.test("maxBytes 0 is off: nothing is kept", async (t) => {
  const store = new ScoreStore({ maxBytes: 0, ttlMs: 1000 }, { clock: new FakeClock() });
  t.equal(store.enabled, false);
  store.write("a", row(1), 0);
  t.equal(read(store, "a"), undefined);
  t.equal(store.bytes, 0);
});

t.test("reconfigure: smaller keeps the most recent, a shorter TTL applies by age, 0 empties", async (t) => {
  const clock = new FakeClock();
  const store = new ScoreStore({ maxBytes: 4 * ENTRY_BYTES, ttlMs: 10_000 }, { clock });
  store.write("a", row(1), 0);
  await clock.advance(3000);
  store.write("b", row(2), 0);
  store.write("c", row(3), 0);
  store.write("d", row(4), 0);
  t.ok(read(store, "a"), "a is now the most recently used");
  store.reconfigure({ maxBytes: 3 * ENTRY_BYTES, ttlMs: 10_000 });
  t.equal(store.entries, 3);
  t.equal(read(store, "b"), undefined, "b, least recently used, did not fit");
  t.ok(read(store, "a") && read(store, "c") && read(store, "d"));
  // a is 3000 ms old, c and d 0 ms: with a 2500 ms TTL, a is expired at once and c, d live 2500 ms.
  store.reconfigure({ maxBytes: 3 * ENTRY_BYTES, ttlMs: 2500 });
  t.equal(read(store, "a"), undefined, "a older than the new TTL");
  await clock.advance(2500);
  t.ok(read(store, "c"), "c at 2500 ms");
  await clock.advance(1);
  t.equal(read(store, "c"), undefined, "c at 2501 ms");
  store.write("e", row(5), 0);
  store.reconfigure({ maxBytes: 0, ttlMs: 2500 });
  t.equal(store.enabled, false);
  t.equal(store.entries, 0);
  store.reconfigure({ maxBytes: 1 << 20, ttlMs: 2500 });
  t.equal(store.enabled, true);
  t.equal(read(store, "e"), undefined, "turned off and on: starts empty");
});

t.test("clear counts what it retired, by reason", async (t) => {
  const { seen, observer } = recordingObserver();
  const store = new ScoreStore({ maxBytes: 1 << 20, ttlMs: 0 }, { clock: new FakeClock(), observer });
  store.write("a", row(1), 0);
  store.write("b", row(2), 0);
  t.equal(store.clear("purge"), 2);
  t.equal(store.clear("model_change"), 0, "nothing left");
  t.same(seen.retired, [["purge", 2]]);
  t.equal(seen.entries, 0);
  t.same(seen.evicted, [], "a clear is not an eviction");
});
