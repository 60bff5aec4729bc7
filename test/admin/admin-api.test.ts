import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { validateConfig } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { capturedLogger } from "../helpers/captured-logger.js";
import { doc, ScoreClient } from "../helpers/grpc-client.js";
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
    [
      "bandMinShare",
      "maxBatchSize",
      "maxConcurrentBatches",
      "maxQueueDelayMs",
      "maxQueueItems",
      "maxQueueItemsPerClient",
      "maxQueueWaitMs",
      "preferredBatchSizes",
    ],
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
  const config = await call(`${adminUrl}/admin/config`, { token: TOKEN });
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
  const config = await call(`${adminUrl}/admin/config`, { token: TOKEN });
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
  const batching = await call(`${adminUrl}/admin/batching`, { token: TOKEN });
  t.match(batching.body, { student: { mode: "adaptive", adaptive: { targetLatencyMs: 40 } } });
  text = await metricsText();
  t.equal(metric(text, /relevance_gateway_batch_target_latency_seconds\{backend="student"\}/), 0.04);
});

t.test(
  "with a token set, every /admin/ route needs it, reads too; probes and metrics stay open",
  async (t) => {
    const { adminUrl } = await useGateway(t, { adminToken: TOKEN });
    for (const path of ["/admin/config", "/admin/batching", "/admin/nothing-here"]) {
      const anonymous = await fetch(`${adminUrl}${path}`);
      t.equal(anonymous.status, 401, `GET ${path} without the token`);
      t.match(anonymous.headers.get("www-authenticate"), /^Bearer /);
      const body = (await anonymous.json()) as { error: string };
      t.equal(body.error, "authorization: a Bearer admin token is required");
      t.notMatch(JSON.stringify(body), /student|maxBatchSize/, "nothing of the config in the refusal");
      const wrong = await fetch(`${adminUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      t.equal(wrong.status, 401, `GET ${path} with a wrong token`);
      await wrong.body?.cancel();
    }
    const config = await call(`${adminUrl}/admin/config`, { token: TOKEN });
    t.equal(config.status, 200);
    t.match(config.body, { generation: 1, config: { backends: { student: {} } } });
    const batching = await call(`${adminUrl}/admin/batching`, { token: TOKEN });
    t.equal(batching.status, 200);
    t.match(batching.body, { student: { mode: "static" } });
    const unknown = await fetch(`${adminUrl}/admin/nothing-here`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    t.equal(unknown.status, 404, "an unknown route is told apart only with the token");
    await unknown.body?.cancel();
    for (const path of ["/metrics", "/healthz", "/readyz"]) {
      const res = await fetch(`${adminUrl}${path}`);
      t.equal(res.status, 200, `${path} needs no token`);
      await res.body?.cancel();
    }
  },
);

t.test(
  "an admin token file that can no longer be read refuses admin routes with 503, and the gateway runs on",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "admin-token-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const { logger, lines } = capturedLogger();
    const sim = await createTritonSim({ port: 0 });
    t.teardown(() => sim.close());
    const gateway = createGateway(
      validateConfig({
        server: {
          grpc: { host: "127.0.0.1", port: 0 },
          admin: { host: "127.0.0.1", port: 0, tokenFile },
        },
        backends: { student: { kind: "triton", endpoints: [sim.address], model: "relevance_student" } },
        metrics: { collectDefault: false },
      }),
      { logger },
    );
    const { adminPort, grpcPort } = await gateway.start();
    t.teardown(() => gateway.shutdown());
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    t.equal(
      (await call(`${adminUrl}/admin/config`, { token: TOKEN })).status,
      200,
      "the file's token, trimmed",
    );

    rmSync(tokenFile);
    for (const init of [{}, { method: "POST" }] as const) {
      const res = await call(`${adminUrl}/admin/${"method" in init ? "reload" : "config"}`, {
        ...init,
        token: TOKEN,
      });
      t.equal(res.status, 503);
      t.match(res.body.error, /^admin token: server\.admin\.tokenFile: cannot read /);
    }
    t.ok(
      lines().some(
        (l) => l.msg === "admin token cannot be read; admin routes refused" && /ENOENT/.test(String(l.err)),
      ),
      "logged, naming the cause",
    );
    const client = new ScoreClient(`127.0.0.1:${grpcPort}`);
    t.teardown(() => client.close());
    const scored = await client.score(
      { query: { text: "q", locale: "" }, documents: [doc("d1")] },
      { deadlineMs: 10_000 },
    );
    t.ok(scored.ok, "the gateway still answers Score");
    const health = await fetch(`${adminUrl}/healthz`);
    t.equal(health.status, 200, "the admin listener still serves probes");
  },
);
