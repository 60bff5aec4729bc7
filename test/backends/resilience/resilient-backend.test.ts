import t, { type Test } from "tap";
import type { BackendClient, BackendEndpoint } from "../../../src/backends/backend-client.js";
import {
  type BreakerOptions,
  type BreakerState,
  createResilientBackend,
  type ResilientBackend,
} from "../../../src/backends/resilience/resilient-backend.js";
import { createTritonBackend } from "../../../src/backends/triton/client.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { createTritonSim, type TritonSim } from "../../../src/tools/sim/triton/server.js";
import { systemClock } from "../../../src/util/clock.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { ManualEndpoint } from "../../helpers/manual-endpoint.js";
import { waitFor } from "../../helpers/triton-raw-client.js";

function backendOf(endpoints: ManualEndpoint[]): BackendClient {
  return {
    name: "student",
    kind: "triton",
    endpoints: () => endpoints,
    start: async () => {},
    isReady: () => true,
    [Symbol.asyncDispose]: async () => {},
  };
}

const batch = { queries: ["q"], documents: ["d#1"] };
const ctx = () => ({ signal: new AbortController().signal });

t.test(
  "a breaker opens on failures, takes the endpoint out, half-opens after its reset timeout, closes on success",
  async (t) => {
    const a = new ManualEndpoint("a");
    const states: string[] = [];
    const backend = createResilientBackend(backendOf([a]), {
      // opossum keeps its own timers; a short reset timeout keeps the test quick.
      breaker: {
        errorThresholdPercentage: 50,
        volumeThreshold: 4,
        resetTimeoutMs: 100,
        rollingWindowMs: 10_000,
      },
      outlier: {
        consecutiveFailures: 100,
        baseEjectionTimeMs: 1000,
        maxEjectionTimeMs: 1000,
        maxEjectionPercent: 100,
      },
      clock: systemClock,
      logger: silentLogger(),
      hooks: { breakerState: (_, s) => states.push(s), ejected: () => {} },
    });
    t.teardown(() => backend[Symbol.asyncDispose]());
    const [guarded] = backend.endpoints();
    for (let i = 0; i < 4; i++) {
      const p = guarded!.infer(batch, ctx());
      a.calls.at(-1)!.fail(new GatewayError("BACKEND_UNAVAILABLE", "down"));
      await p.catch(() => {});
    }
    t.equal(guarded!.state, "ejected", "open breaker: endpoint taken out");
    t.notOk(backend.available());
    t.ok(backend.isReady(), "readiness (probe-based) is unaffected: the gateway stays in its Service");
    const rejected = await guarded!.infer(batch, ctx()).catch((e: GatewayError) => e);
    t.equal(
      (rejected as GatewayError).reason,
      "BACKEND_CIRCUIT_OPEN",
      "a call through an open breaker fails fast",
    );

    const started = Date.now();
    while (guarded!.state === "ejected" && Date.now() - started < 5000)
      await new Promise((r) => setTimeout(r, 10));
    t.not(guarded!.state, "ejected", "half-open after the reset timeout");
    const trial = guarded!.infer(batch, ctx());
    a.calls.at(-1)!.answer();
    await trial;
    t.same(states, ["closed", "open", "half-open", "closed"], "transitions reported");
    t.ok(backend.available());
  },
);

t.test("client-side outcomes do not count against an endpoint", async (t) => {
  const a = new ManualEndpoint("a");
  const backend = createResilientBackend(backendOf([a]), {
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 2,
      resetTimeoutMs: 10_000,
      rollingWindowMs: 10_000,
    },
    outlier: {
      consecutiveFailures: 2,
      baseEjectionTimeMs: 1000,
      maxEjectionTimeMs: 1000,
      maxEjectionPercent: 100,
    },
    clock: systemClock,
    logger: silentLogger(),
  });
  t.teardown(() => backend[Symbol.asyncDispose]());
  const [guarded] = backend.endpoints();
  for (const err of [
    new GatewayError("DEADLINE_EXCEEDED", "client deadline"),
    new GatewayError("CLIENT_CANCELLED", "gone"),
    new GatewayError("DEADLINE_EXCEEDED", "client deadline"),
  ]) {
    const p = guarded!.infer(batch, ctx());
    a.calls.at(-1)!.fail(err);
    await p.catch(() => {});
  }
  t.equal(guarded!.state, "ready", "still in");
});

t.test("running out of the backend's own call timeout is the endpoint's fault", async (t) => {
  const a = new ManualEndpoint("a");
  const states: string[] = [];
  const ejections: string[] = [];
  const backend = createResilientBackend(backendOf([a]), {
    // Both the breaker and outlier detection act on two timeouts: each must count them.
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 2,
      resetTimeoutMs: 10_000,
      rollingWindowMs: 10_000,
    },
    outlier: {
      consecutiveFailures: 2,
      baseEjectionTimeMs: 60_000,
      maxEjectionTimeMs: 60_000,
      maxEjectionPercent: 100,
    },
    clock: systemClock,
    logger: silentLogger(),
    hooks: { breakerState: (_, s) => states.push(s), ejected: (id) => ejections.push(id) },
  });
  t.teardown(() => backend[Symbol.asyncDispose]());
  const [guarded] = backend.endpoints();
  for (let i = 0; i < 2; i++) {
    const p = guarded!.infer(batch, { ...ctx(), timeoutMs: 250, timeoutIsBackendLimit: true });
    a.calls.at(-1)!.fail(new GatewayError("DEADLINE_EXCEEDED", "timeout"));
    const err = (await p.catch((e: GatewayError) => e)) as GatewayError;
    t.equal(err.reason, "BACKEND_TIMEOUT");
    t.match(err.message, /a did not answer within 250 ms/);
  }
  t.equal(guarded!.state, "ejected", "two consecutive timeouts take it out");
  t.same(states, ["closed", "open"], "the breaker opened");
  t.same(ejections, ["a"], "and outlier detection ejected it");
});

/** Outlier detection that never ejects, so that only the breaker can take an endpoint out. */
const noEjection = {
  consecutiveFailures: 1000,
  baseEjectionTimeMs: 1000,
  maxEjectionTimeMs: 1000,
  maxEjectionPercent: 100,
};

interface Guarded {
  readonly backend: ResilientBackend;
  readonly endpoint: BackendEndpoint;
  /** Every breaker state reported, in order (the first is the initial "closed"). */
  readonly states: BreakerState[];
  readonly ejections: string[];
}

async function guard(
  t: Test,
  inner: BackendClient,
  breaker: Partial<BreakerOptions> = {},
  outlier = noEjection,
): Promise<Guarded> {
  const states: BreakerState[] = [];
  const ejections: string[] = [];
  const backend = createResilientBackend(inner, {
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 3,
      resetTimeoutMs: 200,
      rollingWindowMs: 10_000,
      ...breaker,
    },
    outlier,
    clock: systemClock,
    logger: silentLogger(),
    hooks: { breakerState: (_, s) => states.push(s), ejected: (id) => ejections.push(id) },
  });
  t.teardown(() => backend[Symbol.asyncDispose]());
  await backend.start();
  return { backend, endpoint: backend.endpoints()[0]!, states, ejections };
}

/** A Triton simulator and the real Triton client in front of it, one endpoint. */
async function tritonStack(t: Test): Promise<{ sim: TritonSim; client: BackendClient }> {
  const sim = await createTritonSim({ port: 0 });
  const client = createTritonBackend({
    name: "student",
    endpoints: [sim.address],
    model: "relevance_student",
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
  });
  t.teardown(async () => {
    await sim.close();
  });
  return { sim, client };
}

/** The backend's own call timeout, as the batcher passes it when it is shorter than the deadlines. */
const backendLimit = (timeoutMs: number) => ({
  signal: new AbortController().signal,
  timeoutMs,
  timeoutIsBackendLimit: true,
});

async function reasonOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof GatewayError ? e.reason : String(e)),
  );
}

t.test("calls that run out of the backend's timeout open the breaker (Triton simulator)", async (t) => {
  const { sim, client } = await tritonStack(t);
  const { endpoint, states } = await guard(t, client, { volumeThreshold: 3, resetTimeoutMs: 60_000 });
  sim.setFaults({ hangRate: 1 });
  for (let i = 0; i < 3; i++) {
    t.equal(
      await reasonOf(endpoint.infer(batch, backendLimit(100))),
      "BACKEND_TIMEOUT",
      `call ${i} timed out`,
    );
  }
  t.same(states, ["closed", "open"], "three timeouts out of three calls open the breaker");
  t.equal(endpoint.state, "ejected");
  t.equal(sim.stats().requests, 3, "every call reached the simulator");
  t.equal(
    await reasonOf(endpoint.infer(batch, backendLimit(100))),
    "BACKEND_CIRCUIT_OPEN",
    "the next call fails fast",
  );
  t.equal(sim.stats().requests, 3, "without reaching the simulator");
});

t.test("a half-open trial that times out opens the breaker again (Triton simulator)", async (t) => {
  const { sim, client } = await tritonStack(t);
  const { endpoint, states } = await guard(t, client, { volumeThreshold: 3, resetTimeoutMs: 200 });
  sim.setFaults({ errorRate: 1 });
  for (let i = 0; i < 3; i++) await reasonOf(endpoint.infer(batch, backendLimit(1000)));
  t.same(states, ["closed", "open"], "opened by errors");
  await waitFor(() => states.at(-1) === "half-open", "the breaker to half-open");
  sim.setFaults({ hangRate: 1 });
  t.equal(await reasonOf(endpoint.infer(batch, backendLimit(100))), "BACKEND_TIMEOUT");
  t.same(states, ["closed", "open", "half-open", "open"], "the timed-out trial opened it again");
  t.equal(endpoint.state, "ejected");
});

t.test(
  "half-open: only the trial batch goes to the endpoint, which reads as ejected until the trial ends",
  async (t) => {
    const { sim, client } = await tritonStack(t);
    const { backend, endpoint, states } = await guard(t, client, { volumeThreshold: 3, resetTimeoutMs: 200 });
    sim.setFaults({ errorRate: 1 });
    for (let i = 0; i < 3; i++) await reasonOf(endpoint.infer(batch, backendLimit(1000)));
    await waitFor(() => states.at(-1) === "half-open", "the breaker to half-open");
    t.equal(endpoint.state, "ready", "half-open with no trial yet: offered to the batcher");
    t.ok(backend.available());
    const before = sim.stats().requests;
    sim.setFaults({ hangRate: 1 }); // the trial stays in flight until the faults are cleared
    const trial = endpoint.infer(batch, backendLimit(5000));
    await waitFor(() => sim.stats().requests === before + 1, "the trial to reach the simulator");
    t.equal(endpoint.state, "ejected", "trial in flight: not offered to the batcher");
    t.notOk(backend.available());
    t.equal(
      await reasonOf(endpoint.infer(batch, backendLimit(5000))),
      "BACKEND_CIRCUIT_OPEN",
      "a second batch is refused at once",
    );
    t.equal(sim.stats().requests, before + 1, "and never reaches the simulator");
    sim.clearFaults(); // releases the held trial, which then succeeds
    t.equal(await reasonOf(trial), undefined, "the trial succeeds");
    t.same(states, ["closed", "open", "half-open", "closed"]);
    t.equal(endpoint.state, "ready");
  },
);

const rejection = () =>
  new GatewayError("BACKEND_ERROR", "tokenizer failed on one input", {
    inputRejection: true,
  });

t.test("an input rejection counts neither against the breaker nor the outlier detector", async (t) => {
  const a = new ManualEndpoint("a");
  const { endpoint, states, ejections } = await guard(
    t,
    backendOf([a]),
    { volumeThreshold: 2, resetTimeoutMs: 60_000 },
    { ...noEjection, consecutiveFailures: 2 },
  );
  for (let i = 0; i < 4; i++) {
    const p = endpoint.infer(batch, ctx());
    a.calls.at(-1)!.fail(rejection());
    t.equal(await reasonOf(p), "BACKEND_ERROR", "the rejection reaches the caller unchanged");
  }
  t.same(states, ["closed"], "four rejections in a row: the breaker stays closed");
  t.same(ejections, [], "and nothing is ejected");
  t.equal(endpoint.state, "ready");
  // A plain failure after them is the first one counted: one failure is below both thresholds.
  const p = endpoint.infer(batch, ctx());
  a.calls.at(-1)!.fail(new GatewayError("BACKEND_UNAVAILABLE", "down"));
  await reasonOf(p);
  t.same(states, ["closed"]);
  t.same(ejections, []);
});

t.test("an input rejection as the half-open trial neither closes nor reopens the breaker", async (t) => {
  const a = new ManualEndpoint("a");
  const { endpoint, states } = await guard(t, backendOf([a]), { volumeThreshold: 2, resetTimeoutMs: 100 });
  for (let i = 0; i < 2; i++) {
    const p = endpoint.infer(batch, ctx());
    a.calls.at(-1)!.fail(new GatewayError("BACKEND_UNAVAILABLE", "down"));
    await reasonOf(p);
  }
  await waitFor(() => states.at(-1) === "half-open", "the breaker to half-open");
  const trial = endpoint.infer(batch, ctx());
  t.equal(endpoint.state, "ejected", "trial in flight");
  a.calls.at(-1)!.fail(rejection());
  t.equal(await reasonOf(trial), "BACKEND_ERROR");
  t.same(states, ["closed", "open", "half-open"], "still half-open: the rejection is neutral");
  t.equal(endpoint.state, "ready", "the next batch is a new trial");
  const second = endpoint.infer(batch, ctx());
  a.calls.at(-1)!.answer();
  await second;
  t.same(states, ["closed", "open", "half-open", "closed"], "a successful trial closes it");
});

t.test("reportFault counts one failure against the breaker", async (t) => {
  const a = new ManualEndpoint("a");
  const { endpoint, states, ejections } = await guard(t, backendOf([a]), {
    volumeThreshold: 3,
    resetTimeoutMs: 60_000,
  });
  endpoint.reportFault!(rejection());
  const ok = endpoint.infer(batch, ctx());
  a.calls.at(-1)!.answer();
  await ok; // judged after the report
  t.same(states, ["closed"], "one failure, one success: below the volume threshold of three");
  endpoint.reportFault!(rejection());
  await waitFor(() => states.length === 2, "the breaker to change state");
  t.same(states, ["closed", "open"], "the second reported fault opens it (2 of 3 calls failed)");
  t.equal(endpoint.state, "ejected");
  t.same(ejections, []);
  t.equal(a.calls.length, 1, "reporting calls nothing");
});

t.test("reportFault counts one failure against the outlier detector", async (t) => {
  const a = new ManualEndpoint("a");
  const { endpoint, states, ejections } = await guard(
    t,
    backendOf([a]),
    { volumeThreshold: 1000, resetTimeoutMs: 60_000 },
    { ...noEjection, consecutiveFailures: 3 },
  );
  const failed = endpoint.infer(batch, ctx());
  a.calls.at(-1)!.fail(new GatewayError("BACKEND_UNAVAILABLE", "down"));
  await reasonOf(failed);
  endpoint.reportFault!(rejection());
  t.same(ejections, [], "two consecutive failures: below the threshold of three");
  endpoint.reportFault!(rejection());
  t.same(ejections, ["a"], "the third, reported, ejects the endpoint");
  t.equal(endpoint.state, "ejected");
  t.same(states, ["closed"], "the breaker (volume threshold 1000) stays closed");
});
