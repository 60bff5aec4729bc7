import t from "tap";
import type { BackendEndpoint, EndpointState } from "../../src/backends/backend-client.js";
import { Balancer } from "../../src/backends/balancer.js";

/** An endpoint as the balancer sees it: an id and a state (it never calls `infer`). */
function endpoint(id: string, state: EndpointState = "ready", onTrial = false): BackendEndpoint {
  return {
    id,
    state,
    onTrial,
    maxBatchSize: undefined,
    infer: () => Promise.reject(new Error("the balancer never calls infer")),
  };
}

function pickedId(balancer: Balancer, maxConcurrent: number, exclude?: string): string {
  const pick = balancer.pick(maxConcurrent, exclude);
  return pick.kind === "pick" ? pick.endpoint.id : pick.kind;
}

t.test("picks the least-loaded usable endpoint", (t) => {
  const eps = [endpoint("a"), endpoint("b"), endpoint("c")];
  const balancer = new Balancer(() => eps);
  balancer.acquire("a"); // rotation now starts at b
  balancer.acquire("b"); // rotation now starts at c
  balancer.acquire("b");
  t.equal(pickedId(balancer, 4), "c", "c has none in flight");
  balancer.acquire("c");
  balancer.acquire("c");
  balancer.acquire("c");
  // loads: a 1, b 2, c 3
  t.equal(pickedId(balancer, 4), "a");
  t.end();
});

t.test("ties are broken round-robin: the rotation moves with every batch sent, not with every look", (t) => {
  const eps = [endpoint("a"), endpoint("b"), endpoint("c")];
  const balancer = new Balancer(() => eps);
  t.equal(pickedId(balancer, 1), "a");
  t.equal(pickedId(balancer, 1), "a", "looking again without sending picks the same");
  const sent: string[] = [];
  for (let i = 0; i < 6; i++) {
    const id = pickedId(balancer, 10);
    sent.push(id);
    balancer.acquire(id);
    balancer.release(id);
  }
  t.same(sent, ["a", "b", "c", "a", "b", "c"]);
  t.end();
});

t.test("busy: usable endpoints exist but each is at the cap; a release frees a slot", (t) => {
  const eps = [endpoint("a"), endpoint("b")];
  const balancer = new Balancer(() => eps);
  for (const id of ["a", "a", "b", "b"]) balancer.acquire(id);
  t.same(balancer.pick(2), { kind: "busy" });
  t.equal(balancer.totalInFlight, 4);
  t.equal(balancer.inFlight("a"), 2);
  balancer.release("b");
  t.equal(pickedId(balancer, 2), "b");
  t.equal(balancer.totalInFlight, 3);
  t.end();
});

t.test("unavailable, with the cause: a breaker open somewhere, or nothing ready", (t) => {
  const eps = [endpoint("a", "not-ready"), endpoint("b", "ejected")];
  const balancer = new Balancer(() => eps);
  t.same(balancer.pick(4), { kind: "unavailable", cause: "circuit_open" });
  eps[1] = endpoint("b", "not-ready");
  t.same(balancer.pick(4), { kind: "unavailable", cause: "no_ready_endpoint" });
  t.same(new Balancer(() => []).pick(4), { kind: "unavailable", cause: "no_ready_endpoint" });
  t.end();
});

t.test("an endpoint in state unknown is tried; not-ready and ejected ones are not", (t) => {
  const eps = [endpoint("a", "ejected"), endpoint("b", "not-ready"), endpoint("c", "unknown")];
  const balancer = new Balancer(() => eps);
  t.equal(pickedId(balancer, 1), "c");
  t.equal(balancer.usableCount(), 1);
  t.end();
});

t.test("exclude: a retry never goes back to the endpoint that failed it", (t) => {
  const eps = [endpoint("a"), endpoint("b")];
  const balancer = new Balancer(() => eps);
  t.equal(pickedId(balancer, 1, "a"), "b");
  balancer.acquire("b");
  t.same(balancer.pick(1, "a"), { kind: "busy" }, "b is full and a excluded");
  t.same(new Balancer(() => [endpoint("a")]).pick(1, "a"), {
    kind: "unavailable",
    cause: "no_ready_endpoint",
  });
  t.end();
});

t.test("the endpoints are read at every pick (discovery and readiness change them)", (t) => {
  let eps = [endpoint("a", "not-ready")];
  const balancer = new Balancer(() => eps);
  t.equal(pickedId(balancer, 1), "unavailable");
  eps = [endpoint("a", "not-ready"), endpoint("10.0.0.2:8001")];
  t.equal(pickedId(balancer, 1), "10.0.0.2:8001");
  t.end();
});

t.test(
  "availability: a half-open trial of its own batch lets requests wait; another balancer's does not",
  (t) => {
    const eps = [endpoint("a", "ejected", true)];
    const own = new Balancer(() => eps);
    const other = new Balancer(() => eps);
    t.same(own.availability(), {
      kind: "unavailable",
      cause: "circuit_open",
      description: "a ejected",
    });
    own.acquire("a"); // the trial batch is this balancer's
    t.same(own.availability(), { kind: "usable" });
    t.equal(other.availability().kind, "unavailable");
    t.end();
  },
);

t.test("describe names every endpoint and its state, or says there is none", (t) => {
  t.equal(new Balancer(() => [endpoint("a"), endpoint("b", "ejected")]).describe(), "a ready, b ejected");
  t.match(new Balancer(() => []).describe(), /^no endpoints: none configured/);
  t.end();
});
