import { status } from "@grpc/grpc-js";
import t, { type Test } from "tap";
import type { BackendClient, EndpointState } from "../../../src/backends/backend-client.js";
import {
  type BreakerState,
  createResilientBackend,
  isEndpointFault,
  type ResilienceHooks,
  type ResilientBackend,
} from "../../../src/backends/resilience/resilient-backend.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { type ErrorReason, GatewayError } from "../../../src/util/gateway-error.js";
import { capturedLogger } from "../../helpers/captured-logger.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { ManualEndpoint } from "../../helpers/manual-endpoint.js";
import { waitFor } from "../../helpers/triton-raw-client.js";

// The endpoint's side of the resilience layer, one behaviour at a time: which failures count,
// what the breaker and outlier detection report, and how endpoints keep their breakers
// across discovery changes. Breakers run on opossum's own timers (short reset timeouts);
// outlier ejection runs on a fake clock.

const batch = { queries: ["q"], documents: ["d#1"] };
const ctx = () => ({ signal: new AbortController().signal });
const down = () => new GatewayError("BACKEND_UNAVAILABLE", "down");

/** A backend whose endpoint list the test changes, as discovery would (a new array each time). */
class Inner implements BackendClient {
  readonly name = "student";
  readonly kind = "triton" as const;
  list: ManualEndpoint[];
  started = 0;
  disposed = 0;
  constructor(list: ManualEndpoint[]) {
    this.list = list;
  }
  endpoints(): readonly ManualEndpoint[] {
    return this.list;
  }
  async start(): Promise<void> {
    this.started++;
  }
  isReady(): boolean {
    return true;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.disposed++;
  }
}

interface Setup {
  readonly inner: Inner;
  readonly backend: ResilientBackend;
  readonly clock: FakeClock;
  /** "<endpoint> <state>" for every breaker state reported. */
  readonly states: string[];
  readonly ejections: string[];
}

function setup(
  t: Test,
  list: ManualEndpoint[],
  o: {
    volumeThreshold?: number;
    resetTimeoutMs?: number;
    consecutiveFailures?: number;
    hooks?: boolean;
    logger?: ReturnType<typeof silentLogger>;
  } = {},
): Setup {
  const inner = new Inner(list);
  const clock = new FakeClock();
  const states: string[] = [];
  const ejections: string[] = [];
  const hooks: ResilienceHooks = {
    breakerState: (id: string, s: BreakerState) => states.push(`${id} ${s}`),
    ejected: (id: string, ms: number) => ejections.push(`${id} ${ms}`),
  };
  const backend = createResilientBackend(inner, {
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: o.volumeThreshold ?? 2,
      resetTimeoutMs: o.resetTimeoutMs ?? 60_000,
      rollingWindowMs: 10_000,
    },
    outlier: {
      consecutiveFailures: o.consecutiveFailures ?? 1000,
      baseEjectionTimeMs: 1000,
      maxEjectionTimeMs: 1000,
      maxEjectionPercent: 100,
    },
    clock,
    logger: o.logger ?? silentLogger(),
    hooks: o.hooks === false ? undefined : hooks,
  });
  t.teardown(() => backend[Symbol.asyncDispose]());
  return { inner, backend, clock, states, ejections };
}

/** Sends one call to `inner` through the backend and fails it with `err`, or answers it when `err` is null. */
async function call(backend: ResilientBackend, inner: ManualEndpoint, err: unknown | null): Promise<unknown> {
  const endpoint = backend.endpoints().find((e) => e.id === inner.id)!;
  const before = inner.received;
  const p = endpoint.infer(batch, ctx());
  // Refused before reaching the endpoint (an open breaker): the refusal is the outcome.
  if (inner.received === before)
    return p.then(
      () => "ok",
      (e: unknown) => e,
    );
  const pending = inner.calls.at(-1)!;
  if (err === null) pending.answer();
  else pending.fail(err);
  return p.then(
    () => "ok",
    (e: unknown) => e,
  );
}

const stateOf = (backend: ResilientBackend, id: string): EndpointState | undefined =>
  backend.endpoints().find((e) => e.id === id)?.state;

t.test("isEndpointFault: which failures count against an endpoint", async (t) => {
  const faults: ErrorReason[] = [
    "BACKEND_UNAVAILABLE",
    "BACKEND_ERROR",
    "BACKEND_TIMEOUT",
    "BACKEND_MALFORMED_RESPONSE",
    "BACKEND_MODEL_UNAVAILABLE",
    "INTERNAL",
  ];
  // Client-side outcomes, refusals of the request as built, and the gateway's own refusals.
  const notFaults: ErrorReason[] = [
    "INVALID_REQUEST",
    "DOCUMENT_REJECTED",
    "BATCH_QUEUE_FULL",
    "DEADLINE_EXCEEDED",
    "CLIENT_CANCELLED",
    "NO_READY_ENDPOINT",
    "NO_BACKEND_FOR_ROLE",
    "NOT_PERMITTED",
    "UNAUTHENTICATED",
    "RATE_LIMITED",
    "BACKEND_CIRCUIT_OPEN",
    "PREDICTED_DEADLINE_MISS",
    "BACKEND_REJECTED",
    "SHUTTING_DOWN",
    "UNSUPPORTED",
  ];
  for (const reason of faults) t.equal(isEndpointFault(new GatewayError(reason, "x")), true, reason);
  for (const reason of notFaults) {
    t.equal(isEndpointFault(new GatewayError(reason, "x")), false, reason);
  }
  t.equal(
    isEndpointFault(new Error("socket hang up")),
    true,
    "an error that is not a GatewayError is a fault",
  );
  t.equal(isEndpointFault(null), true, "so is a rejection with no error at all");
});

t.test("the breaker's and the ejection's log lines and hooks", async (t) => {
  const captured = capturedLogger("info");
  const a = new ManualEndpoint("a");
  const { backend, clock, states, ejections } = setup(t, [a], {
    resetTimeoutMs: 100,
    consecutiveFailures: 2,
    logger: captured.logger,
  });
  t.same(states, [], "breakers are made as endpoints are first listed");
  backend.endpoints();
  t.same(states, ["a closed"], "a new endpoint's breaker starts closed");
  for (let i = 0; i < 2; i++)
    t.equal(((await call(backend, a, down())) as GatewayError).reason, "BACKEND_UNAVAILABLE");
  t.same(states, ["a closed", "a open"]);
  t.same(ejections, ["a 1000"], "ejected for the base ejection time");
  await clock.advance(1000); // the ejection ends; the breaker's reset timeout runs on its own timer
  await waitFor(() => states.length === 3, "the breaker to half-open");
  t.equal(await call(backend, a, null), "ok", "the trial succeeds");
  t.same(states, ["a closed", "a open", "a half-open", "a closed"]);
  const lines = captured
    .lines()
    .filter((l) => l.component === "resilience")
    .map(({ level, msg, endpoint, backend, durationMs, resetTimeoutMs }) => ({
      level,
      msg,
      endpoint,
      backend,
      durationMs,
      resetTimeoutMs,
    }));
  t.same(lines, [
    {
      level: 40,
      msg: "endpoint ejected: consecutive failures",
      endpoint: "a",
      backend: "student",
      durationMs: 1000,
      resetTimeoutMs: undefined,
    },
    {
      level: 40,
      msg: "circuit breaker opened",
      endpoint: "a",
      backend: "student",
      durationMs: undefined,
      resetTimeoutMs: 100,
    },
    {
      level: 30,
      msg: "circuit breaker half-open: trying a batch",
      endpoint: "a",
      backend: "student",
      durationMs: undefined,
      resetTimeoutMs: undefined,
    },
    {
      level: 30,
      msg: "circuit breaker closed",
      endpoint: "a",
      backend: "student",
      durationMs: undefined,
      resetTimeoutMs: undefined,
    },
  ]);
});

t.test("without hooks, breakers and ejection work the same", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, clock } = setup(t, [a], { resetTimeoutMs: 100, consecutiveFailures: 2, hooks: false });
  for (let i = 0; i < 2; i++) {
    t.equal(
      ((await call(backend, a, down())) as GatewayError).reason,
      "BACKEND_UNAVAILABLE",
      "the failure passes through",
    );
  }
  t.equal(stateOf(backend, "a"), "ejected");
  t.equal(((await call(backend, a, null)) as GatewayError).reason, "BACKEND_CIRCUIT_OPEN");
  await clock.advance(1000);
  await waitFor(() => stateOf(backend, "a") === "ready", "the breaker to half-open");
  t.equal(await call(backend, a, null), "ok", "the trial succeeds");
  t.equal(stateOf(backend, "a"), "ready");
  t.equal(await call(backend, a, null), "ok", "closed: calls go through");
});

t.test(
  "a call refused by an open breaker: UNAVAILABLE, BACKEND_CIRCUIT_OPEN, naming the endpoint",
  async (t) => {
    const a = new ManualEndpoint("10.0.0.1:8001");
    const { backend } = setup(t, [a]);
    for (let i = 0; i < 2; i++) await call(backend, a, down());
    const received = a.received;
    const err = (await backend
      .endpoints()[0]!
      .infer(batch, ctx())
      .catch((e: unknown) => e)) as GatewayError;
    t.ok(err instanceof GatewayError);
    t.equal(err.code, status.UNAVAILABLE);
    t.equal(err.reason, "BACKEND_CIRCUIT_OPEN");
    t.equal(err.message, "backend student: circuit breaker of 10.0.0.1:8001 is open");
    t.equal(a.received, received, "the endpoint was not called");
  },
);

t.test("which failures pass through unchanged", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, states } = setup(t, [a], { volumeThreshold: 1000 });
  const endpoint = backend.endpoints()[0]!;
  const limit = { timeoutMs: 300, timeoutIsBackendLimit: true };
  // The backend's own limit ran out: the endpoint's fault, reported as such, the cause kept.
  const deadline = new GatewayError("DEADLINE_EXCEEDED", "deadline");
  let p = endpoint.infer(batch, { ...ctx(), ...limit });
  a.calls.at(-1)!.fail(deadline);
  const timeout = (await p.catch((e: unknown) => e)) as GatewayError;
  t.equal(timeout.code, status.UNAVAILABLE);
  t.equal(timeout.reason, "BACKEND_TIMEOUT");
  t.equal(timeout.message, "backend student: a did not answer within 300 ms");
  t.equal(timeout.cause, deadline, "the call's own error is the cause");
  // Another failure under the backend's limit keeps its reason.
  const unavailable = down();
  p = endpoint.infer(batch, { ...ctx(), ...limit });
  a.calls.at(-1)!.fail(unavailable);
  t.equal(await p.catch((e: unknown) => e), unavailable, "BACKEND_UNAVAILABLE stays itself");
  // The batch was abandoned (every request gone): the deadline is the clients', not the endpoint's.
  const abandoned = new AbortController();
  abandoned.abort();
  p = endpoint.infer(batch, { signal: abandoned.signal, ...limit });
  a.calls.at(-1)!.fail(deadline);
  t.equal(
    await p.catch((e: unknown) => e),
    deadline,
    "an abandoned batch's deadline stays DEADLINE_EXCEEDED",
  );
  // A client's deadline (not the backend's limit) is the client's.
  p = endpoint.infer(batch, { ...ctx(), timeoutMs: 300, timeoutIsBackendLimit: false });
  a.calls.at(-1)!.fail(deadline);
  t.equal(await p.catch((e: unknown) => e), deadline);
  // A plain error, and a rejection with nothing, pass through as they are.
  const plain = new Error("socket hang up");
  p = endpoint.infer(batch, ctx());
  a.calls.at(-1)!.fail(plain);
  t.equal(await p.catch((e: unknown) => e), plain);
  p = endpoint.infer(batch, ctx());
  a.calls.at(-1)!.fail(null);
  t.equal(
    await p.then(
      () => "resolved",
      (e: unknown) => e,
    ),
    null,
  );
  t.same(states, ["a closed"], "volume threshold 1000: the breaker never opened");
});

t.test("the endpoint's own properties show through; not-ready wins over ejected", async (t) => {
  const a = new ManualEndpoint("a", 16);
  const { backend } = setup(t, [a]);
  const endpoint = backend.endpoints()[0]!;
  t.equal(endpoint.id, "a");
  t.equal(endpoint.maxBatchSize, 16);
  t.equal(endpoint.notReady, undefined);
  t.equal(endpoint.onTrial, false);
  a.state = "unknown";
  t.equal(endpoint.state, "unknown", "not yet probed: still offered");
  for (let i = 0; i < 2; i++) await call(backend, a, down());
  t.equal(endpoint.state, "ejected", "breaker open");
  a.state = "not-ready";
  (a as { notReady?: unknown }).notReady = { cause: "model_not_found", reason: "no such model" };
  t.equal(endpoint.state, "not-ready", "the probe's verdict shows even while the breaker is open");
  t.same(endpoint.notReady, { cause: "model_not_found", reason: "no such model" });
});

t.test("onTrial: true only while the half-open breaker's trial batch is in flight", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, states } = setup(t, [a], { resetTimeoutMs: 100 });
  const endpoint = backend.endpoints()[0]!;
  for (let i = 0; i < 2; i++) await call(backend, a, down());
  t.equal(endpoint.onTrial, false, "open: no trial");
  await waitFor(() => states.at(-1) === "a half-open", "the breaker to half-open");
  t.equal(endpoint.onTrial, false, "half-open, trial not yet sent");
  const trial = endpoint.infer(batch, ctx());
  t.equal(endpoint.onTrial, true);
  a.calls.at(-1)!.answer();
  await trial;
  t.equal(endpoint.onTrial, false, "the trial ended");
  t.same(states, ["a closed", "a open", "a half-open", "a closed"]);
});

t.test("a call let through before the breaker opened does not decide its trial", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, states } = setup(t, [a], { resetTimeoutMs: 100 });
  const endpoint = backend.endpoints()[0]!;
  const early = endpoint.infer(batch, ctx()); // sent while closed, answered only after the half-open
  const earlyCall = a.calls.at(-1)!;
  for (let i = 0; i < 2; i++) await call(backend, a, down());
  await waitFor(() => states.at(-1) === "a half-open", "the breaker to half-open");
  earlyCall.answer();
  await early;
  t.same(states, ["a closed", "a open", "a half-open"], "its success does not close the breaker");
  t.equal(endpoint.state, "ready", "the trial is still to be sent");
  const trial = endpoint.infer(batch, ctx());
  t.equal(endpoint.onTrial, true);
  t.equal(endpoint.state, "ejected", "the trial is in flight");
  a.calls.at(-1)!.fail(down());
  await trial.catch(() => {});
  t.same(states, ["a closed", "a open", "a half-open", "a open"], "the real trial's failure opens it again");
});

t.test("a call from before the opening that ends during the trial leaves the trial in flight", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, states } = setup(t, [a], { resetTimeoutMs: 100 });
  const endpoint = backend.endpoints()[0]!;
  const early = endpoint.infer(batch, ctx());
  const earlyCall = a.calls.at(-1)!;
  for (let i = 0; i < 2; i++) await call(backend, a, down());
  await waitFor(() => states.at(-1) === "a half-open", "the breaker to half-open");
  const trial = endpoint.infer(batch, ctx());
  const trialCall = a.calls.at(-1)!;
  earlyCall.answer();
  await early;
  t.equal(endpoint.onTrial, true, "still on trial");
  t.equal(endpoint.state, "ejected", "so not offered for a second trial");
  t.equal(
    ((await call(backend, a, null)) as GatewayError).reason,
    "BACKEND_CIRCUIT_OPEN",
    "a second batch is refused",
  );
  trialCall.answer();
  await trial;
  t.same(states, ["a closed", "a open", "a half-open", "a closed"]);
  t.equal(endpoint.onTrial, false);
});

t.test("a success through the guarded endpoint ends the outlier detector's failure streak", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, ejections } = setup(t, [a], { volumeThreshold: 1000, consecutiveFailures: 2 });
  await call(backend, a, down());
  t.equal(await call(backend, a, null), "ok");
  await call(backend, a, down());
  t.same(ejections, [], "failure, success, failure: no two in a row");
  await call(backend, a, down());
  t.same(ejections, ["a 1000"], "the second failure in a row ejects");
});

t.test("reportFault: nothing more while open; fails a half-open breaker's trial", async (t) => {
  const a = new ManualEndpoint("a");
  const { backend, states } = setup(t, [a], { resetTimeoutMs: 100 });
  const endpoint = backend.endpoints()[0]!;
  for (let i = 0; i < 2; i++) await call(backend, a, down());
  endpoint.reportFault!(down());
  t.same(states, ["a closed", "a open"]);
  await waitFor(() => states.at(-1) === "a half-open", "the breaker to half-open");
  t.equal(endpoint.state, "ready");
  endpoint.reportFault!(down());
  t.equal(endpoint.state, "ejected", "at once: the reported fault has used up the trial");
  await waitFor(() => states.length === 4, "the breaker to move");
  t.same(
    states,
    ["a closed", "a open", "a half-open", "a open"],
    "a fault reported while half-open opens it",
  );
});

t.test(
  "discovery: endpoints keep their wrapper and breaker by id; leavers' breakers are dropped",
  async (t) => {
    const a = new ManualEndpoint("a");
    const b = new ManualEndpoint("b");
    const { inner, backend, states } = setup(t, [a, b]);
    const [wa, wb] = backend.endpoints();
    t.equal(backend.endpoints()[0], wa, "same list: same wrappers");
    for (let i = 0; i < 2; i++) await call(backend, b, down());
    t.equal(wb!.state, "ejected", "b's breaker is open");
    t.ok(backend.available(), "a is still available");
    for (let i = 0; i < 2; i++) await call(backend, a, down());
    t.notOk(backend.available(), "both out");

    // b is replaced by a new object under the same id (a new list, as discovery makes one).
    const b2 = new ManualEndpoint("b");
    inner.list = [a, b2];
    const [wa2, wb2] = backend.endpoints();
    t.equal(wa2, wa, "a stayed: the same wrapper");
    t.not(wb2, wb, "b2 is a new endpoint object");
    t.equal(wb2!.state, "ejected", "but the breaker of id b is still open");
    t.equal(((await call(backend, b2, null)) as GatewayError).reason, "BACKEND_CIRCUIT_OPEN");
    t.equal(b2.received, 0);

    // b leaves, then an endpoint with its id joins again: it starts with a closed breaker.
    inner.list = [a];
    t.same(
      backend.endpoints().map((e) => e.id),
      ["a"],
    );
    const b3 = new ManualEndpoint("b");
    inner.list = [a, b3];
    t.equal(stateOf(backend, "b"), "ready", "the returning id's breaker is new and closed");
    t.equal(await call(backend, b3, null), "ok");
    t.same(states, ["a closed", "b closed", "b open", "a open", "b closed"]);
    t.equal(stateOf(backend, "a"), "ejected", "a's breaker, never dropped, is still open");
  },
);

t.test("start, isReady and dispose reach the inner backend; dispose shuts the breakers", async (t) => {
  const a = new ManualEndpoint("a");
  const { inner, backend, states } = setup(t, [a], { resetTimeoutMs: 100 });
  await backend.start();
  t.equal(inner.started, 1);
  t.equal(backend.isReady(), true);
  for (let i = 0; i < 2; i++) await call(backend, a, down());
  t.same(states, ["a closed", "a open"]);
  await backend[Symbol.asyncDispose]();
  t.equal(inner.disposed, 1);
  // A shut-down breaker never half-opens: wait past its reset timeout for a breaker that still would.
  const other = setup(t, [new ManualEndpoint("x")], { resetTimeoutMs: 100 });
  for (let i = 0; i < 2; i++) await call(other.backend, other.inner.list[0]!, down());
  await waitFor(() => other.states.at(-1) === "x half-open", "a live breaker to half-open");
  t.same(states, ["a closed", "a open"], "the disposed backend's breaker did not half-open");
});
