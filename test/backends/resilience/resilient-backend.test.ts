import { status } from "@grpc/grpc-js";
import t from "tap";
import type { BackendClient } from "../../../src/backends/backend-client.js";
import { createResilientBackend } from "../../../src/backends/resilience/resilient-backend.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { systemClock } from "../../../src/util/clock.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { ManualEndpoint } from "../../helpers/manual-endpoint.js";

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
      a.calls.at(-1)!.fail(new GatewayError(status.UNAVAILABLE, "BACKEND_UNAVAILABLE", "down"));
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
    new GatewayError(status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "client deadline"),
    new GatewayError(status.CANCELLED, "CLIENT_CANCELLED", "gone"),
    new GatewayError(status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "client deadline"),
  ]) {
    const p = guarded!.infer(batch, ctx());
    a.calls.at(-1)!.fail(err);
    await p.catch(() => {});
  }
  t.equal(guarded!.state, "ready", "still in");
});

t.test("running out of the backend's own call timeout is the endpoint's fault", async (t) => {
  const a = new ManualEndpoint("a");
  const backend = createResilientBackend(backendOf([a]), {
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 100,
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
  });
  t.teardown(() => backend[Symbol.asyncDispose]());
  const [guarded] = backend.endpoints();
  for (let i = 0; i < 2; i++) {
    const p = guarded!.infer(batch, { ...ctx(), timeoutMs: 250, timeoutIsBackendLimit: true });
    a.calls.at(-1)!.fail(new GatewayError(status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "timeout"));
    const err = (await p.catch((e: GatewayError) => e)) as GatewayError;
    t.equal(err.reason, "BACKEND_TIMEOUT");
    t.match(err.message, /a did not answer within 250 ms/);
  }
  t.equal(guarded!.state, "ejected", "two consecutive timeouts eject it");
});
