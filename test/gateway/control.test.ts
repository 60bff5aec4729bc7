import t from "tap";
import type { GatewayConfig } from "../../src/config/index.js";
import { createConfigControl } from "../../src/gateway/control.js";
import { createLane, type Lane, type LaneKind } from "../../src/gateway/lane.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { ShadowSender } from "../../src/shadow/shadow-sender.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { gatewayConfig, manualClient } from "./helpers.js";

/** A control plane over real lanes (student, teacher, the shadow lane to the teacher). */
function setup() {
  const cfg = gatewayConfig();
  const env = {
    clock: new FakeClock(),
    logger: silentLogger(),
    metrics: createMetrics({ collectDefault: false }),
  };
  const teacherClient = manualClient("teacher", "vllm");
  const lane = (kind: LaneKind, backend: string) =>
    createLane(cfg, {
      kind,
      backend,
      client: backend === "teacher" ? teacherClient : manualClient(backend, "triton"),
      ...env,
    });
  const lanes = new Map<string, Lane>([
    ["student", lane("primary", "student")],
    ["teacher", lane("primary", "teacher")],
  ]);
  const percents: number[] = [];
  const sender: ShadowSender = {
    selects: () => false,
    setPercent: (p) => percents.push(p),
    mirror: () => {},
    close: async () => {},
  };
  const shadow = { lane: lane("shadow", "teacher"), sender };
  const routed: GatewayConfig[] = [];
  const applied: number[] = [];
  const control = createConfigControl({
    initial: cfg,
    lanes,
    shadow,
    router: { reconfigure: (next) => routed.push(next) },
    metrics: env.metrics,
    logger: env.logger,
    configFile: undefined,
    adminToken: () => "token",
    onApplied: () => applied.push(control.generation()),
  });
  const size = (l: Lane) => l.batcher.limits.maxBatchSize;
  return { control, lanes, shadow, percents, routed, applied, size };
}

t.test("a student batching change reaches the student lane only", async (t) => {
  const s = setup();
  const teacherLimits = s.lanes.get("teacher")!.batcher.limits;
  const result = s.control.patch({ backends: { student: { batching: { maxBatchSize: 9 } } } });
  t.ok(result.ok);
  t.equal(s.size(s.lanes.get("student")!), 9);
  t.equal(s.lanes.get("teacher")!.batcher.limits, teacherLimits, "the teacher lane is not reconfigured");
  t.equal(s.size(s.shadow.lane), 4);
  t.same(s.routed, [], "no routing change: the router is not rebuilt");
  t.same(s.applied, [2]);
  t.match(
    s.control.batching(),
    { student: { mode: "static", limits: { maxBatchSize: 9 } } },
    "the admin view shows the lane's batcher",
  );
});

t.test("a teacher batching change reaches the teacher's primary and shadow lanes", async (t) => {
  const s = setup();
  t.ok(s.control.patch({ backends: { teacher: { batching: { maxBatchSize: 2 } } } }).ok);
  t.equal(s.size(s.lanes.get("teacher")!), 2);
  t.equal(s.size(s.shadow.lane), 2);
  t.equal(s.size(s.lanes.get("student")!), 4);
});

t.test("a routing change rebuilds the router once and sets the shadow percent", async (t) => {
  const s = setup();
  t.ok(s.control.patch({ routing: { shadow: { percent: 40 } } }).ok);
  t.equal(s.routed.length, 1);
  t.equal(s.routed[0]?.routing.shadow?.percent, 40);
  t.same(s.percents, [40]);
  t.equal(s.control.current().routing.shadow?.percent, 40);
});

t.test("a restart-only change through the admin API is refused and nothing changes", async (t) => {
  const s = setup();
  const result = s.control.patch({
    backends: { student: { batching: { maxBatchSize: 9 } } },
    routing: { shadow: { maxQueueItems: 99 } },
  });
  t.equal(result.ok, false);
  t.equal(result.ok ? 0 : result.status, 409);
  t.equal(s.size(s.lanes.get("student")!), 4);
  t.equal(s.shadow.lane.batcher.limits.maxQueueItems, 7);
  t.same(s.applied, []);
  t.equal(s.control.generation(), 1);
});
