import { createServer, get } from "node:http";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { listen } from "../../src/admin/server.js";
import { bindServer } from "../../src/api/server.js";
import type { Batcher } from "../../src/batching/batcher.js";
import { createLane, type Lane } from "../../src/gateway/lane.js";
import { createLifecycle, type Servers } from "../../src/gateway/lifecycle.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { ShadowSender } from "../../src/shadow/shadow-sender.js";
import { metricValue, track } from "../helpers/batcher-harness.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";
import { gatewayConfig, manualClient } from "./helpers.js";

const GRACE_MS = 1000;
/** The drain's share of the grace period: the rest (a quarter, at most 500 ms) is kept for closing. */
const DRAIN_MS = GRACE_MS - Math.min(500, GRACE_MS / 4);

/** A lifecycle over real lanes and real loopback listeners (gRPC and HTTP), on a fake clock. */
function setup(t: Test, opts: { prepareFails?: boolean } = {}) {
  const clock = new FakeClock();
  const env = { clock, logger: silentLogger(), metrics: createMetrics({ collectDefault: false }) };
  const cfg = gatewayConfig();
  const studentEp = new ManualEndpoint("s");
  const teacherEp = new ManualEndpoint("t");
  const student = manualClient("student", "triton", [studentEp]);
  const teacher = manualClient("teacher", "vllm", [teacherEp]);
  const lanes = new Map<string, Lane>([
    ["student", createLane(cfg, { kind: "primary", backend: "student", client: student, ...env })],
    ["teacher", createLane(cfg, { kind: "primary", backend: "teacher", client: teacher, ...env })],
  ]);
  const counts = { senderClosed: 0, tracingStarted: 0, tracingStopped: 0 };
  const sender: ShadowSender = {
    selects: () => false,
    setPercent: () => {},
    mirror: () => {},
    close: async () => {
      counts.senderClosed++;
    },
  };
  const shadow = {
    lane: createLane(cfg, { kind: "shadow", backend: "teacher", client: teacher, ...env }),
    sender,
  };
  const serving: boolean[] = [];
  const servers: Servers = {
    prepare() {
      if (opts.prepareFails) throw new Error("server.grpc.tls.certFile: unusable certificate");
      return {
        async listenGrpc() {
          const server = new grpc.Server();
          const port = await bindServer(server, "127.0.0.1", 0);
          return { server: { server, setServing: (s: boolean) => serving.push(s) }, port };
        },
        async listenAdmin(notReadyReasons) {
          const server = createServer((_req, res) => res.end(JSON.stringify(notReadyReasons())));
          return { server, port: await listen(server, "127.0.0.1", 0) };
        },
        describe: () => ({}),
      };
    },
  };
  let defaultName = "student";
  const lifecycle = createLifecycle({
    ...env,
    lanes,
    shadow,
    tracing: {
      start: async () => {
        counts.tracingStarted++;
      },
      shutdown: async () => {
        counts.tracingStopped++;
      },
    },
    servers,
    defaultBackend: () => defaultName,
    shutdownGraceMs: GRACE_MS,
  });
  t.teardown(() => lifecycle.shutdown());
  return {
    clock,
    metrics: env.metrics,
    lifecycle,
    lanes,
    shadow,
    student,
    teacher,
    studentEp,
    teacherEp,
    serving,
    counts,
    setDefault: (name: string) => {
      defaultName = name;
    },
  };
}

const submit = (batcher: Batcher, id: string) =>
  track(batcher.submit("q", docs(id, 0, 4), { requestId: id, priority: "interactive" }));

function httpText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/" }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

t.test("an unusable certificate fails the start before any lane or tracing starts", async (t) => {
  const s = setup(t, { prepareFails: true });
  await t.rejects(s.lifecycle.start(), /unusable certificate/);
  t.equal(s.student.started + s.teacher.started, 0);
  t.equal(s.counts.tracingStarted, 0);
});

t.test(
  "readiness follows the default lane: published at start, on a live change and at each poll",
  async (t) => {
    const s = setup(t);
    s.lifecycle.refreshReadiness();
    t.same(s.serving, [], "nothing is published before the listeners are open");
    const { grpcPort, adminPort } = await s.lifecycle.start();
    t.ok(grpcPort > 0 && adminPort > 0);
    t.equal(s.student.started, 1);
    t.equal(s.teacher.started, 1, "the teacher's client is started once (by its primary lane)");
    t.equal(s.counts.tracingStarted, 1);
    t.same(s.serving, [true]);
    t.equal(await metricValue(s.metrics.registry, "backend_ready", { backend: "student" }), 1);

    s.student.ready = false;
    t.notOk(s.lifecycle.isReady());
    t.same(s.lifecycle.notReadyReasons(), ["default backend student has no ready endpoint (s ready)"]);
    t.same(
      JSON.parse(await httpText(adminPort)),
      s.lifecycle.notReadyReasons(),
      "the admin listener is handed them",
    );
    s.lifecycle.refreshReadiness();
    t.same(s.serving, [true, false]);
    t.equal(await metricValue(s.metrics.registry, "backend_ready", { backend: "student" }), 0);

    s.setDefault("teacher");
    s.lifecycle.refreshReadiness();
    t.same(s.serving, [true, false, true], "a new default backend moves readiness at once");

    s.setDefault("student");
    await s.clock.advance(1000);
    t.same(s.serving, [true, false, true, false], "the poll reads it again");

    s.setDefault("ghost");
    t.same(s.lifecycle.notReadyReasons(), ["default backend ghost is not built"]);
  },
);

t.test("shutdown: what does not drain within the grace period is answered SHUTTING_DOWN", async (t) => {
  const s = setup(t);
  await s.lifecycle.start();
  const primary = submit(s.lanes.get("student")!.batcher, "p");
  const mirrored = submit(s.shadow.lane.batcher, "m");
  await s.clock.advance(0);
  t.equal(s.studentEp.received + s.teacherEp.received, 2, "both batches in flight");

  const stopping = s.lifecycle.shutdown();
  await s.clock.advance(0);
  t.same(s.lifecycle.notReadyReasons(), ["shutting down"]);
  t.equal(s.serving.at(-1), false, "health turns NOT_SERVING at once");
  await s.clock.advance(DRAIN_MS - 1);
  t.equal(primary.settled + mirrored.settled, 0, "still draining just before the end of the drain");
  await s.clock.advance(1);
  t.equal(primary.error?.reason, "SHUTTING_DOWN");
  t.equal(mirrored.error?.reason, "SHUTTING_DOWN", "the shadow lane is cut at the same end");
  await stopping;
  t.equal(s.student.disposed, 1);
  t.equal(s.teacher.disposed, 1, "the shared teacher client is closed once");
  t.equal(s.counts.senderClosed, 1);
  t.equal(s.counts.tracingStopped, 1);
  await s.lifecycle.shutdown();
  t.equal(s.student.disposed, 1, "a second shutdown does nothing");
});

t.test("shutdown: work answered within the grace period is delivered, nothing is cut", async (t) => {
  const s = setup(t);
  await s.lifecycle.start();
  const primary = submit(s.lanes.get("student")!.batcher, "p");
  await s.clock.advance(0);
  const stopping = s.lifecycle.shutdown();
  await s.clock.advance(0);
  s.studentEp.calls.shift()!.answer();
  await stopping;
  t.equal(primary.value?.probabilities.length, 4 * 5, "answered by the backend");
  t.equal(primary.error, undefined);
  t.equal(s.student.disposed, 1);
});
