import t from "tap";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { cachedFlags, checkExact, docs, metric, score } from "../helpers/cache-requests.js";
import { type ServeProcess, startServeProcess } from "../helpers/cli.js";
import { ScoreClient } from "../helpers/grpc-client.js";
import { useRedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";

/** Two `relevance-gateway serve` processes sharing one redis-server: what one scored, the other answers. */
t.test("two gateway processes share the score cache's shared tier", async (t) => {
  const redis = await useRedisServer(t);
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  const config = {
    server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
    backends: {
      student: {
        kind: "triton",
        endpoints: [sim.address],
        model: "relevance_student",
        cache: { maxBytes: 1_048_576, shared: { url: redis.url, timeoutMs: 1000 } },
      },
    },
    routing: { default: "student" },
  };
  const processes: ServeProcess[] = [];
  const clients: ScoreClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    for (const p of processes) p.child.kill("SIGTERM");
    await Promise.all(processes.map((p) => p.exited));
  });
  for (let i = 0; i < 2; i++) {
    const p = await startServeProcess(config);
    processes.push(p);
    clients.push(new ScoreClient(p.target));
  }
  const [a, b] = processes as [ServeProcess, ServeProcess];
  const [ca, cb] = clients as [ScoreClient, ScoreClient];
  for (const p of processes) {
    await until(() => p.logs().includes("score cache: shared tier connected"), "the shared tier to connect");
  }

  const documents = docs("processes", 16);
  checkExact(t, await score(ca, documents), documents, "scored through A");
  t.equal(sim.stats().items, 16, "the model scored the 16 pairs once");
  // The write follows the answer: wait for A to count it before asking B.
  const adminA = /"admin":"127\.0\.0\.1:(\d+)"/.exec(a.logs())?.[1];
  await until(async () => {
    const text = await (await fetch(`http://127.0.0.1:${adminA}/metrics`)).text();
    return (
      metric(
        text,
        "relevance_gateway_cache_shared_requests_total",
        'backend="student",op="set",outcome="ok"',
      ) > 0
    );
  }, "A's write to the shared tier");

  const fromB = await score(cb, documents);
  checkExact(t, fromB, documents, "answered by B");
  t.same(cachedFlags(fromB), Array(16).fill(true), "every pair cached at B");
  t.equal(sim.stats().items, 16, "B sent the model nothing");
  t.ok(a.logs().includes('"msg":"listening"') && b.logs().includes('"msg":"listening"'), "both served");
});
