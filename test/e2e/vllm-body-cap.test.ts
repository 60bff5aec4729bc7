import { createServer, type ServerResponse } from "node:http";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { validateConfig } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/observability/logger.js";
import { CLASSIFY_BODY, MODEL, modelsBody } from "../backends/vllm/fixtures.js";
import { doc, ScoreClient } from "../helpers/grpc-client.js";
import { waitFor } from "../helpers/triton-raw-client.js";

type Mode = "ok" | "oversized" | "endless";

/**
 * A vLLM stand-in on loopback: /health and /v1/models as vLLM answers them,
 * and /classify answering per `mode`: a recorded 3-item body, 64 KiB of JSON
 * announced by its Content-Length, or a chunked body that never ends.
 */
async function fakeVllm(t: Test) {
  const state = { mode: "ok" as Mode, classifyCalls: 0, sockets: 0, socketsClosed: 0, endlessBytes: 0 };
  const server = createServer((req, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/health") return void res.writeHead(200).end();
      if (req.url === "/v1/models") {
        return void res.writeHead(200, { "content-type": "application/json" }).end(modelsBody());
      }
      state.classifyCalls++;
      if (state.mode === "ok") {
        return void res.writeHead(200, { "content-type": "application/json" }).end(CLASSIFY_BODY);
      }
      if (state.mode === "oversized") {
        const body = `{"object":"list","pad":"${"x".repeat(64 * 1024)}"}`;
        return void res.writeHead(200, { "content-type": "application/json" }).end(body);
      }
      // Endless: 1 KiB every millisecond or so, until the client goes away.
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"object":"list","data":[');
      const chunk = `${'{"index":0,"probs":[0.2,0.2,0.2,0.2,0.2]},'.repeat(24)}`;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        state.endlessBytes += chunk.length;
        res.write(chunk);
      }, 1);
      res.on("close", () => clearInterval(timer));
    });
  });
  server.on("connection", (socket) => {
    state.sockets++;
    socket.on("close", () => state.socketsClosed++);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${port}`, state };
}

function counter(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

t.test(
  "backends.<name>.maxResponseBytes caps a vLLM answer: oversized and endless bodies fail promptly and clearly",
  async (t) => {
    const fake = await fakeVllm(t);
    const cfg = validateConfig({
      server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
      backends: {
        teacher: {
          kind: "vllm",
          endpoints: [fake.url],
          model: MODEL,
          role: "student",
          timeoutMs: 30_000,
          maxResponseBytes: 4096,
          // One connection: the call after a failure shows whether it was released.
          batching: { maxConcurrentBatches: 1, maxQueueDelayMs: 1 },
          // Two failures stay under the breaker's volume threshold (10) and outlier detection's 5 in a row.
          retry: { enabled: false },
        },
      },
      routing: { default: "teacher" },
      logging: { level: "silent" },
      metrics: { collectDefault: false },
    });
    const gateway = createGateway(cfg, { logger: silentLogger() });
    const { grpcPort, adminPort } = await gateway.start();
    const client = new ScoreClient(`127.0.0.1:${grpcPort}`);
    t.teardown(async () => {
      client.close();
      await gateway.shutdown();
    });
    const metrics = async () => (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const request = { query: { text: "q", locale: "" }, documents: ["a", "b", "c"].map((id) => doc(id)) };

    const ok = await client.score(request, { deadlineMs: 20_000 });
    t.ok(ok.ok, `a normal answer goes through (${ok.ok ? "OK" : ok.details})`);

    for (const mode of ["oversized", "endless"] as const) {
      fake.state.mode = mode;
      const closedBefore = fake.state.socketsClosed;
      const started = performance.now();
      const out = await client.score(request, { deadlineMs: 20_000 });
      const elapsedMs = performance.now() - started;
      t.equal(out.ok ? grpc.status.OK : out.code, grpc.status.INTERNAL, `${mode}: INTERNAL`);
      t.match(
        out.ok ? "" : out.details,
        new RegExp(`^backend teacher: the response of vllm on ${fake.url} exceeds the size limit`),
        `${mode}: the status says why`,
      );
      // Far below the 20 s deadline and the 30 s call timeout, with room for a loaded machine.
      t.ok(elapsedMs < 5_000, `${mode}: failed after ${Math.round(elapsedMs)} ms`);
      await waitFor(() => fake.state.socketsClosed > closedBefore, `${mode}: the connection was closed`);
      if (mode === "endless") t.ok(fake.state.endlessBytes < 1024 * 1024, "the endless body was not read on");
    }

    fake.state.mode = "ok";
    const after = await client.score(request, { deadlineMs: 20_000 });
    t.ok(after.ok, "the endpoint serves again: the failed calls released their connection");

    const text = await metrics();
    t.equal(
      counter(text, "relevance_gateway_requests_total", 'route="bulk",backend="teacher",code="INTERNAL"'),
      2,
      "both failures counted by code",
    );
    t.equal(
      counter(
        text,
        "relevance_gateway_backend_call_duration_seconds_count",
        'backend="teacher",outcome="INTERNAL"',
      ),
      2,
      "…and as failed backend calls",
    );
  },
);
