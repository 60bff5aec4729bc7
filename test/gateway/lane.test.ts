import t from "tap";
import { AdaptiveController } from "../../src/batching/adaptive.js";
import type { Batcher } from "../../src/batching/batcher.js";
import { createLane, type LaneKind } from "../../src/gateway/lane.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { metricValue, track } from "../helpers/batcher-harness.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";
import { gatewayConfig, manualClient } from "./helpers.js";

function env() {
  return {
    clock: new FakeClock(),
    logger: silentLogger(),
    metrics: createMetrics({ collectDefault: false }),
  };
}

const submit = (batcher: Batcher, n: number, id: string) =>
  batcher.submit("q", docs(id, 0, n), { requestId: id, priority: "interactive" });

t.test("a batching change reaches the primary lane's batcher: the next batches obey it", async (t) => {
  const e = env();
  const ep = new ManualEndpoint("a");
  const cfg = gatewayConfig();
  const lane = createLane(cfg, {
    kind: "primary",
    backend: "student",
    client: manualClient("student", "triton", [ep]),
    ...e,
  });
  t.equal(lane.name, "student");
  track(submit(lane.batcher, 8, "r1"));
  await e.clock.advance(0);
  t.same(ep.sizes, [4, 4], "maxBatchSize 4 from the config");
  for (const c of ep.calls.splice(0)) c.answer();

  lane.reconfigure(gatewayConfig({ backends: { student: { batching: { maxBatchSize: 8 } } } }));
  t.equal(lane.batcher.limits.maxBatchSize, 8);
  track(submit(lane.batcher, 16, "r2"));
  await e.clock.advance(0);
  t.same(ep.sizes, [8, 8], "maxBatchSize 8 after the change");
  for (const c of ep.calls.splice(0)) c.answer();
  await e.clock.advance(0);
  t.equal(
    await metricValue(e.metrics.registry, "batches_total", { backend: "student", trigger: "full" }),
    4,
    "the primary lane's batches are counted under its backend",
  );
});

t.test("an adaptive controller is kept across a change, with its new target", async (t) => {
  const e = env();
  const adaptive = (targetLatencyMs: number) => ({
    backends: { student: { batching: { mode: "adaptive", targetLatencyMs } } },
  });
  const lane = createLane(gatewayConfig(adaptive(50)), {
    kind: "primary",
    backend: "student",
    client: manualClient("student", "triton"),
    ...e,
  });
  const controller = lane.batcher.limits.controller;
  t.ok(controller instanceof AdaptiveController);
  lane.reconfigure(gatewayConfig(adaptive(80)));
  t.equal(lane.batcher.limits.controller, controller, "the same controller (its learned model kept)");
  t.equal((controller as AdaptiveController).snapshot().targetLatencyMs, 80);
  lane.reconfigure(gatewayConfig());
  t.equal(lane.batcher.limits.controller, undefined, "back to static: no controller");
});

t.test(
  "the shadow lane is built by the same function: the teacher's batch shape, routing.shadow's queue",
  async (t) => {
    const e = env();
    const ep = new ManualEndpoint("t");
    const client = manualClient("teacher", "vllm", [ep]);
    const cfg = gatewayConfig();
    const lane = (kind: LaneKind) => createLane(cfg, { kind, backend: "teacher", client, ...e });
    const primary = lane("primary");
    const shadow = lane("shadow");
    t.equal(shadow.kind, "shadow");
    const { controller, ...limits } = shadow.batcher.limits;
    t.same(limits, {
      maxBatchSize: 4,
      maxQueueDelayMs: 5,
      preferredBatchSizes: [],
      maxQueueItems: 7,
      maxConcurrentBatches: 3,
      bandMinShare: { bulk: 0, background: 0 },
    });
    t.equal(controller, undefined, "the shadow lane never adapts");

    // A teacher batching change reaches it; routing.shadow's bounds are restart-only and stay.
    shadow.reconfigure(
      gatewayConfig({
        backends: { teacher: { batching: { maxBatchSize: 2 } } },
        routing: { shadow: { maxQueueItems: 99 } },
      }),
    );
    t.equal(shadow.batcher.limits.maxBatchSize, 2);
    t.equal(shadow.batcher.limits.maxQueueItems, 7);
    t.equal(primary.batcher.limits.maxBatchSize, 4, "the primary lane is its own");

    const overflow = track(submit(shadow.batcher, 8, "too-many"));
    const mirrored = track(submit(shadow.batcher, 4, "s1"));
    await e.clock.advance(0);
    t.equal(overflow.error?.reason, "BATCH_QUEUE_FULL", "8 items do not fit routing.shadow.maxQueueItems 7");
    t.same(ep.sizes, [2, 2]);
    for (const c of ep.calls.splice(0)) c.answer();
    await e.clock.advance(0);
    t.equal(mirrored.settled, 1);
    t.equal(mirrored.value?.probabilities.length, 4 * 5);

    track(submit(primary.batcher, 4, "p1"));
    await e.clock.advance(0);
    for (const c of ep.calls.splice(0)) c.answer();
    await e.clock.advance(0);
    t.equal(
      await metricValue(e.metrics.registry, "batches_total", { backend: "teacher", trigger: "full" }),
      1,
      "only the primary lane's batch is counted in the backend's metrics",
    );
  },
);

t.test(
  "the shadow lane has breakers of its own: its failures do not take the primary's endpoint out",
  async (t) => {
    const e = env();
    const ep = new ManualEndpoint("t");
    const client = manualClient("teacher", "vllm", [ep]);
    const cfg = gatewayConfig({
      backends: { teacher: { breaker: { volumeThreshold: 2, errorThresholdPercentage: 50 } } },
    });
    const primary = createLane(cfg, { kind: "primary", backend: "teacher", client, ...e });
    const shadow = createLane(cfg, { kind: "shadow", backend: "teacher", client, ...e });
    t.teardown(() => primary.dispose());
    const [guarded] = shadow.backend.endpoints();
    for (let i = 0; i < 2; i++) {
      const call = guarded!.infer(
        { queries: ["q"], documents: ["d#1"] },
        { signal: new AbortController().signal },
      );
      ep.calls.at(-1)!.fail(new GatewayError("BACKEND_UNAVAILABLE", "down"));
      await call.catch(() => {});
    }
    t.equal(guarded!.state, "ejected", "the shadow lane's breaker opened");
    t.equal(primary.backend.endpoints()[0]!.state, "ready", "the primary lane's endpoint is untouched");
    t.ok(primary.backend.available());
  },
);

t.test("the primary lane starts and closes the client; the shadow lane borrows it", async (t) => {
  const e = env();
  const client = manualClient("teacher", "vllm");
  const cfg = gatewayConfig();
  const primary = createLane(cfg, { kind: "primary", backend: "teacher", client, ...e });
  const shadow = createLane(cfg, { kind: "shadow", backend: "teacher", client, ...e });
  await shadow.start();
  await primary.start();
  t.equal(client.started, 1);
  await shadow.dispose();
  t.equal(client.disposed, 0, "the shadow lane leaves the shared client open");
  await primary.dispose();
  t.equal(client.disposed, 1);
});

t.test("drain waits for the work in flight; abort answers what remains with the error", async (t) => {
  const e = env();
  const ep = new ManualEndpoint("a");
  const lane = createLane(gatewayConfig(), {
    kind: "primary",
    backend: "student",
    client: manualClient("student", "triton", [ep]),
    ...e,
  });
  const first = track(submit(lane.batcher, 4, "r1"));
  await e.clock.advance(0);
  const drained = track(lane.drain());
  await e.clock.advance(0);
  t.equal(drained.settled, 0, "not drained while a batch is in flight");
  ep.calls.shift()!.answer();
  await e.clock.advance(0);
  t.equal(first.value?.probabilities.length, 4 * 5);
  t.equal(drained.settled, 1, "drained once the batch was answered");

  const other = createLane(gatewayConfig(), {
    kind: "primary",
    backend: "student",
    client: manualClient("student", "triton", [new ManualEndpoint("b")]),
    ...e,
  });
  const pending = track(submit(other.batcher, 4, "r2"));
  await e.clock.advance(0);
  other.abort(new GatewayError("SHUTTING_DOWN", "stop"));
  await e.clock.advance(0);
  t.equal(pending.error?.reason, "SHUTTING_DOWN");
});

t.test("a lane for a backend the config does not name is refused", async (t) => {
  const e = env();
  const client = manualClient("student", "triton");
  t.throws(
    () => createLane(gatewayConfig(), { kind: "primary", backend: "nope", client, ...e }),
    /no backend nope/,
  );
  t.throws(
    () => createLane(gatewayConfig(), { kind: "shadow", backend: "student", client, ...e }),
    /routing\.shadow\.backend student/,
  );
});
