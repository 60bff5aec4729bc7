import { pino } from "pino";
import t, { type Test } from "tap";
import { createEndpointSet, type EndpointSet, type EndpointSetChange } from "../../src/backends/discovery.js";
import { formatHostPort } from "../../src/backends/host-port.js";
import { parseTritonTarget as parse } from "../../src/backends/triton/target.js";
import { FakeClock, settle } from "../helpers/fake-clock.js";

interface LogLine {
  level: number;
  msg: string;
  backend?: string;
  target?: string;
  address?: string;
  endpoint?: string;
}

/** An endpoint whose calls are settled by the test; close() waits for them, like grpc-js and undici. */
class FakeEndpoint {
  readonly calls = new Set<Promise<void>>();
  closeCalls = 0;
  closed = false;

  constructor(
    readonly id: string,
    readonly address: string | undefined,
  ) {}

  /** Starts a call; the returned function finishes it. */
  call(): () => void {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    this.calls.add(done);
    void done.then(() => this.calls.delete(done));
    return finish;
  }

  async close(): Promise<void> {
    this.closeCalls++;
    await Promise.all(this.calls);
    this.closed = true;
  }
}

function lookupError(code: string, host: string): Error {
  return Object.assign(new Error(`getaddrinfo ${code} ${host}`), { code });
}

/** name → addresses, or an error code to fail with; a name not listed does not exist. */
type Zone = Map<string, string[] | string>;

interface Harness {
  readonly set: EndpointSet<FakeEndpoint>;
  readonly clock: FakeClock;
  readonly zone: Zone;
  readonly lines: LogLine[];
  readonly changes: EndpointSetChange<FakeEndpoint>[];
  readonly ids: () => string[];
  /** Hosts the resolver was asked for, in order. */
  readonly asked: string[];
}

/** Names whose lookups hang until the test answers them. */
class Held {
  readonly #waiting = new Map<string, ((addresses: string[]) => void)[]>();
  readonly #hosts = new Set<string>();

  hold(host: string): void {
    this.#hosts.add(host);
  }

  has(host: string): boolean {
    return this.#hosts.has(host);
  }

  wait(host: string): Promise<string[]> {
    return new Promise((resolve) => {
      this.#waiting.set(host, [...(this.#waiting.get(host) ?? []), resolve]);
    });
  }

  /** Answers the hung lookups of `host`; later lookups answer from the zone again. */
  release(host: string, addresses: string[]): void {
    this.#hosts.delete(host);
    for (const answer of this.#waiting.get(host) ?? []) answer(addresses);
    this.#waiting.delete(host);
  }
}

function harness(t: Test, targets: string[], zone: Zone = new Map(), held = new Held()) {
  const clock = new FakeClock();
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  const changes: EndpointSetChange<FakeEndpoint>[] = [];
  const asked: string[] = [];
  const set = createEndpointSet<FakeEndpoint>({
    targets,
    parse,
    create: (id, address) => new FakeEndpoint(id, address),
    resolve: async (host) => {
      asked.push(host);
      if (held.has(host)) return held.wait(host);
      const answer = zone.get(host);
      if (answer === undefined) throw lookupError("ENOTFOUND", host);
      if (typeof answer === "string") throw lookupError(answer, host);
      return answer;
    },
    intervalMs: 1_000,
    resolveTimeoutMs: 500,
    clock,
    logger: logger.child({ backend: "student" }),
    onChange: (change) => changes.push(change),
  });
  t.teardown(() => set.close());
  const ids = () => set.list().map((e) => e.id);
  return { set, clock, zone, lines, changes, ids, asked } satisfies Harness;
}

const logged = (lines: LogLine[], msg: string) => lines.filter((l) => l.msg === msg);

t.test("static targets are endpoints from the start and never re-resolved", async (t) => {
  const h = harness(t, ["10.0.0.1:8001", "triton:8001"]);
  t.same(h.ids(), ["10.0.0.1:8001", "triton:8001"]);
  t.equal(h.set.list()[0]!.address, undefined);
  await h.set.start();
  t.equal(h.clock.pendingTimers, 0, "nothing to re-resolve, so no timer");
  t.same(h.changes, []);
});

t.test("addresses join and leave as the name's records change", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7"]]]);
  const h = harness(t, ["dns:///triton.svc:8001", "10.0.0.1:8001"], zone);
  t.same(h.ids(), ["10.0.0.1:8001"], "before start only the static endpoint");
  await h.set.start();
  t.same(h.ids(), ["10.0.0.7:8001", "10.0.0.1:8001"], "in target order");
  t.equal(h.set.list()[0]!.address, "10.0.0.7");

  zone.set("triton.svc", ["10.0.0.8", "10.0.0.7", "10.0.0.9"]);
  await h.clock.advance(1_000);
  t.same(h.ids(), ["10.0.0.7:8001", "10.0.0.8:8001", "10.0.0.9:8001", "10.0.0.1:8001"]);
  t.same(
    h.changes.at(-1)!.joined.map((e) => e.id),
    ["10.0.0.8:8001", "10.0.0.9:8001"],
  );

  const leaving = h.set.list()[0]!;
  zone.set("triton.svc", ["10.0.0.9", "10.0.0.8"]);
  await h.clock.advance(1_000);
  t.same(h.ids(), ["10.0.0.8:8001", "10.0.0.9:8001", "10.0.0.1:8001"]);
  t.same(h.changes.at(-1)!.left, [leaving]);
  t.equal(leaving.closeCalls, 1);
  t.ok(leaving.closed);

  const joined = logged(h.lines, "endpoint joined");
  t.equal(joined.length, 3);
  t.match(joined[0], {
    level: 30,
    backend: "student",
    target: "dns:///triton.svc:8001",
    address: "10.0.0.7",
    endpoint: "10.0.0.7:8001",
  });
  t.match(logged(h.lines, "endpoint left"), [
    { level: 30, backend: "student", target: "dns:///triton.svc:8001", address: "10.0.0.7" },
  ]);
  t.equal(logged(h.lines, "endpoint draining: calls in flight finish before it closes").length, 1);
});

t.test("a leaving endpoint is closed only after its call in flight finishes", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7", "10.0.0.8"]]]);
  const h = harness(t, ["dns:///triton.svc:8001"], zone);
  await h.set.start();
  const leaving = h.set.list().find((e) => e.id === "10.0.0.7:8001")!;
  const finish = leaving.call();

  zone.set("triton.svc", ["10.0.0.8"]);
  await h.clock.advance(1_000);
  t.same(h.ids(), ["10.0.0.8:8001"], "out of the list at once: no new batches");
  t.equal(leaving.closeCalls, 1, "asked to close (draining)");
  t.notOk(leaving.closed, "still open while its call is in flight");
  t.equal(logged(h.lines, "endpoint closed").length, 0);

  finish();
  await settle();
  t.ok(leaving.closed, "closed once the call finished");
  t.equal(logged(h.lines, "endpoint closed").length, 1);
});

t.test("close() waits for draining endpoints and closes the rest", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7"]]]);
  const h = harness(t, ["dns:///triton.svc:8001", "10.0.0.1:8001"], zone);
  await h.set.start();
  const [dynamic, fixed] = h.set.list() as [FakeEndpoint, FakeEndpoint];
  const finish = dynamic.call();
  let closed = false;
  const closing = h.set.close().then(() => {
    closed = true;
  });
  await settle();
  t.ok(fixed.closed);
  t.notOk(closed, "waits for the call in flight");
  t.equal(h.clock.pendingTimers, 0, "no more resolution rounds");
  finish();
  await closing;
  t.ok(dynamic.closed);
  t.equal(h.set.list().length, 2, "closed endpoints stay listed, so late callers get their own error");
});

t.test("a transient lookup failure keeps the previous endpoints", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7", "10.0.0.8"]]]);
  const h = harness(t, ["dns:///triton.svc:8001"], zone);
  await h.set.start();
  const before = h.set.list();

  zone.set("triton.svc", "EAI_AGAIN");
  await h.clock.advance(1_000);
  await h.clock.advance(1_000);
  t.equal(h.set.list(), before, "same endpoints, same array");
  t.notOk(before.some((e) => e.closeCalls > 0));
  const warnings = logged(h.lines, "endpoint discovery: lookup failed; keeping the previous endpoints");
  t.equal(warnings.length, 1, "a lasting failure is logged once");
  t.match(warnings[0], { level: 40, target: "dns:///triton.svc:8001", kept: 2 });

  zone.set("triton.svc", ["10.0.0.8"]);
  await h.clock.advance(1_000);
  t.same(h.ids(), ["10.0.0.8:8001"], "follows DNS again once it answers");
  t.equal(logged(h.lines, "endpoint discovery: resolved").length, 1);
});

t.test("a lookup that does not answer in time counts as transient", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7"]]]);
  const held = new Held();
  const h = harness(t, ["dns:///triton.svc:8001"], zone, held);
  await h.set.start();
  const before = h.set.list();

  held.hold("triton.svc");
  await h.clock.advance(1_000);
  t.equal(h.set.list(), before, "nothing decided while the lookup is pending");
  await h.clock.advance(500);
  t.equal(h.set.list(), before);
  t.match(logged(h.lines, "endpoint discovery: lookup failed; keeping the previous endpoints"), [
    { reason: "no answer within 500 ms" },
  ]);

  // The next round waits on the lookup still running rather than starting another.
  await h.clock.advance(1_000);
  t.same(h.asked, ["triton.svc", "triton.svc"]);
  held.release("triton.svc", ["10.0.0.9"]);
  await h.clock.advance(0);
  t.same(h.ids(), ["10.0.0.9:8001"], "its late answer is used by the round waiting on it");

  zone.set("triton.svc", ["10.0.0.8"]);
  await h.clock.advance(1_000);
  t.same(h.asked.length, 3, "a fresh lookup once the old one answered");
  t.same(h.ids(), ["10.0.0.8:8001"]);
});

t.test("a name that does not resolve yields no endpoints until it does", async (t) => {
  const h = harness(t, ["dns:///triton.svc:8001", "dns:///other.svc:8001"], new Map([["other.svc", []]]));
  await h.set.start();
  t.same(h.ids(), []);
  t.same(h.changes, [], "nothing changed");
  const warnings = logged(h.lines, "endpoint discovery: the name has no addresses");
  t.same(
    warnings.map((l) => l.target),
    ["dns:///triton.svc:8001", "dns:///other.svc:8001"],
    "ENOTFOUND and an empty answer alike",
  );

  await h.clock.advance(1_000);
  t.equal(logged(h.lines, "endpoint discovery: the name has no addresses").length, 2, "logged once");

  h.zone.set("triton.svc", ["10.0.0.7"]);
  await h.clock.advance(1_000);
  t.same(h.ids(), ["10.0.0.7:8001"]);
  t.equal(logged(h.lines, "endpoint discovery: resolved").length, 1);
});

t.test("a name that stops existing takes its endpoints away", async (t) => {
  // Unlike a failed lookup, NXDOMAIN is an answer: a headless Service with no ready pod gives it.
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7"]]]);
  const h = harness(t, ["dns:///triton.svc:8001"], zone);
  await h.set.start();
  const [gone] = h.set.list() as [FakeEndpoint];
  zone.delete("triton.svc");
  await h.clock.advance(1_000);
  t.same(h.ids(), []);
  t.ok(gone.closed);
});

t.test("list() is a new array only when the set changes", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7", "10.0.0.8"]]]);
  const h = harness(t, ["dns:///triton.svc:8001"], zone);
  await h.set.start();
  const first = h.set.list();

  // DNS servers rotate records between answers; the same set in another order is no change.
  zone.set("triton.svc", ["10.0.0.8", "10.0.0.7", "10.0.0.8"]);
  await h.clock.advance(1_000);
  t.equal(h.set.list(), first);
  t.equal(h.changes.length, 1, "only the first resolution changed anything");

  zone.set("triton.svc", ["10.0.0.8"]);
  await h.clock.advance(1_000);
  const second = h.set.list();
  t.not(second, first);
  t.same(
    first.map((e) => e.id),
    ["10.0.0.7:8001", "10.0.0.8:8001"],
    "the old array is left as it was for whoever iterates it",
  );
  t.equal(h.changes.at(-1)!.endpoints, second);
});

t.test("two targets reaching one address share its endpoint", async (t) => {
  const zone: Zone = new Map([
    ["a.svc", ["10.0.0.7"]],
    ["b.svc", ["10.0.0.7", "10.0.0.8"]],
  ]);
  const h = harness(t, ["dns:///a.svc:8001", "dns:///b.svc:8001", "10.0.0.8:8001"], zone);
  await h.set.start();
  t.same(h.ids(), ["10.0.0.7:8001", "10.0.0.8:8001"]);

  // When a.svc drops the address, b.svc's claim to it takes over in the same round.
  zone.set("a.svc", []);
  await h.clock.advance(1_000);
  t.same(h.ids(), ["10.0.0.7:8001", "10.0.0.8:8001"]);
  t.equal(h.set.list()[0]!.address, "10.0.0.7");
  t.equal(logged(h.lines, "endpoint left").length, 1);
  t.equal(logged(h.lines, "endpoint joined").length, 2);
});

t.test("re-resolution waits for the previous round and stops after close", async (t) => {
  const zone: Zone = new Map([["triton.svc", ["10.0.0.7"]]]);
  const held = new Held();
  held.hold("triton.svc");
  const h = harness(t, ["dns:///triton.svc:8001"], zone, held);
  let started = false;
  const starting = h.set.start().then(() => {
    started = true;
  });
  await h.clock.advance(499);
  t.notOk(started, "start() waits for the first answer (or its timeout)");
  t.equal(h.clock.pendingTimers, 1, "only the lookup timeout is pending");
  await h.clock.advance(1);
  await starting;
  t.same(h.ids(), []);
  t.equal(h.clock.pendingTimers, 1, "the next round is scheduled");
  await h.set.close();
  t.equal(h.clock.pendingTimers, 0);
  held.release("triton.svc", ["10.0.0.7"]);
  await h.clock.advance(5_000);
  t.same(h.ids(), [], "no round after close");
  t.same(h.asked, ["triton.svc"]);
});

t.test("host and port text", async (t) => {
  t.equal(formatHostPort("10.0.0.7", 8001), "10.0.0.7:8001");
  t.equal(formatHostPort("fd00::7", 8001), "[fd00::7]:8001");
});
