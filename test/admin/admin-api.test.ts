import t from "tap";
import { capturedLogger } from "../helpers/captured-logger.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const TOKEN = "admin-token-for-tests-0123456789";

async function call(url: string, init: RequestInit & { token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  if (init.body) headers.set("content-type", "application/merge-patch+json");
  const res = await fetch(url, { ...init, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

function metric(text: string, line: RegExp): number {
  const m = new RegExp(`^${line.source} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

t.test("GET /admin/config shows the effective config and its generation", async (t) => {
  const { adminUrl } = await useGateway(t, { batching: { maxBatchSize: 48 } });
  const { status, body } = await call(`${adminUrl}/admin/config`);
  t.equal(status, 200);
  t.equal(body.generation, 1);
  t.match(body.config, { backends: { student: { batching: { maxBatchSize: 48, mode: "static" } } } });
  const batching = await call(`${adminUrl}/admin/batching`);
  t.match(batching.body, { student: { mode: "static", limits: { maxBatchSize: 48 }, queuedItems: 0 } });
  const limits = (batching.body.student as { limits: Record<string, unknown> }).limits;
  t.same(
    Object.keys(limits).sort(),
    ["maxBatchSize", "maxConcurrentBatches", "maxQueueDelayMs", "maxQueueItems", "preferredBatchSizes"],
    "the batching limits, and only them",
  );
});

t.test("without a configured token, writes are disabled", async (t) => {
  const { adminUrl } = await useGateway(t);
  const res = await call(`${adminUrl}/admin/config`, { method: "PATCH", body: "{}", token: TOKEN });
  t.equal(res.status, 403);
  t.match(res.body.error, /RELEVANCE_GATEWAY_ADMIN_TOKEN/);
});

t.test("writes need the token; bad values and restart-only keys are refused naming the field", async (t) => {
  const { adminUrl, metricsText } = await useGateway(t, { adminToken: TOKEN });
  const patch = JSON.stringify({ backends: { student: { batching: { maxBatchSize: 16 } } } });
  const anonymous = await call(`${adminUrl}/admin/config`, { method: "PATCH", body: patch });
  t.equal(anonymous.status, 401);
  t.match(anonymous.headers.get("www-authenticate"), /^Bearer /);
  const wrong = await call(`${adminUrl}/admin/config`, { method: "PATCH", body: patch, token: `${TOKEN}x` });
  t.equal(wrong.status, 401);
  t.match(wrong.body.error, /wrong admin token/);

  const bad = await call(`${adminUrl}/admin/config`, {
    method: "PATCH",
    token: TOKEN,
    body: JSON.stringify({ backends: { student: { batching: { maxBatchSize: -4 } } } }),
  });
  t.equal(bad.status, 400);
  t.match(bad.body.error, /^backends\.student\.batching\.maxBatchSize: /);

  const restart = await call(`${adminUrl}/admin/config`, {
    method: "PATCH",
    token: TOKEN,
    body: JSON.stringify({ backends: { student: { endpoints: ["127.0.0.1:1"] } } }),
  });
  t.equal(restart.status, 409);
  t.match(restart.body.error, /^backends\.student\.endpoints: cannot change while the gateway runs/);

  const notJson = await fetch(`${adminUrl}/admin/config`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/merge-patch+json" },
    body: "{maxBatchSize",
  });
  t.equal(notJson.status, 400);
  const wrongType = await fetch(`${adminUrl}/admin/config`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "text/plain" },
    body: patch,
  });
  t.equal(wrongType.status, 415);

  const text = await metricsText();
  t.equal(metric(text, /relevance_gateway_config_generation/), 1, "nothing applied: still generation 1");
  t.equal(metric(text, /relevance_gateway_config_reloads_total\{source="admin",outcome="rejected"\}/), 2);
  const config = await call(`${adminUrl}/admin/config`);
  t.match(config.body.config, { backends: { student: { batching: { maxBatchSize: 64 } } } });
});

t.test("an applied change is logged with old and new values and bumps the generation", async (t) => {
  const { logger, lines } = capturedLogger();
  const { adminUrl, metricsText, client } = await useGateway(t, {
    adminToken: TOKEN,
    logger,
    teacher: {},
    config: {
      routing: {
        default: "student",
        canary: { backend: "teacher", percent: 0 },
        shadow: { backend: "teacher", percent: 0 },
      },
    },
  });
  const res = await call(`${adminUrl}/admin/config`, {
    method: "PATCH",
    token: TOKEN,
    body: JSON.stringify({
      backends: { student: { batching: { maxBatchSize: 16 } } },
      routing: { canary: { percent: 100 }, shadow: { percent: 100 } },
    }),
  });
  t.equal(res.status, 200);
  t.equal(res.body.generation, 2);
  t.same(res.body.changes, [
    { path: "backends.student.batching.maxBatchSize", old: 64, new: 16 },
    { path: "routing.canary.percent", old: 0, new: 100 },
    { path: "routing.shadow.percent", old: 0, new: 100 },
  ]);
  const logged = lines().filter((l) => l.msg === "config change applied");
  t.same(
    logged.map((l) => [l.path, l.old, l.new, l.source, l.generation]),
    [
      ["backends.student.batching.maxBatchSize", 64, 16, "admin", 2],
      ["routing.canary.percent", 0, 100, "admin", 2],
      ["routing.shadow.percent", 0, 100, "admin", 2],
    ],
  );
  const text = await metricsText();
  t.equal(metric(text, /relevance_gateway_config_generation/), 2);
  t.equal(metric(text, /relevance_gateway_batch_max_size_items\{backend="student"\}/), 16);

  const scored = await client.score({ query: { text: "q", locale: "" }, documents: [doc("d1")] });
  t.ok(scored.ok);
  if (scored.ok) t.equal(scored.response.route, "canary", "the 100% canary applies to the next request");
  const config = await call(`${adminUrl}/admin/config`);
  t.match(config.body, {
    generation: 2,
    config: { routing: { canary: { percent: 100 }, shadow: { percent: 100 } } },
  });
});

t.test("switching a backend to adaptive batching live", async (t) => {
  const { adminUrl, metricsText } = await useGateway(t, { adminToken: TOKEN });
  let text = await metricsText();
  t.equal(
    metric(
      text,
      /relevance_gateway_backend_info\{backend="student",kind="triton",role="student",default="true"\}/,
    ),
    1,
  );
  t.notMatch(text, /relevance_gateway_batch_target_latency_seconds\{/, "no latency target in static mode");
  const res = await call(`${adminUrl}/admin/config`, {
    method: "PATCH",
    token: TOKEN,
    body: JSON.stringify({ backends: { student: { batching: { mode: "adaptive", targetLatencyMs: 40 } } } }),
  });
  t.equal(res.status, 200);
  const batching = await call(`${adminUrl}/admin/batching`);
  t.match(batching.body, { student: { mode: "adaptive", adaptive: { targetLatencyMs: 40 } } });
  text = await metricsText();
  t.equal(metric(text, /relevance_gateway_batch_target_latency_seconds\{backend="student"\}/), 0.04);
});
