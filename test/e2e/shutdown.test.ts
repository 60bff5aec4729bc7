import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { createVllmSim } from "../../src/tools/sim/vllm/server.js";
import { startServeProcess } from "../helpers/cli.js";
import { doc, ScoreClient, type ScoreOutcome } from "../helpers/grpc-client.js";

const query = { text: "q", locale: "" };

t.test(
  "SIGTERM under load: every request completes or gets UNAVAILABLE; exit 0 within the grace period",
  async (t) => {
    // Slow batches, so that requests are queued and in flight when the signal arrives.
    const sim = await createTritonSim({ port: 0, cost: { baseMs: 150, perItemMs: 0, instances: 1 } });
    t.teardown(() => sim.close());
    const shutdownGraceMs = 2000;
    const { child, target, exited } = await startServeProcess({
      server: {
        grpc: { host: "127.0.0.1", port: 0 },
        admin: { host: "127.0.0.1", port: 0 },
        shutdownGraceMs,
      },
      backends: {
        student: {
          kind: "triton",
          endpoints: [sim.address],
          model: "relevance_student",
          batching: { maxBatchSize: 8, maxQueueDelayMs: 1, maxConcurrentBatches: 1, maxQueueItems: 10_000 },
        },
      },
      routing: { default: "student" },
    });
    const client = new ScoreClient(target);
    t.teardown(() => client.close());

    // 40 requests of 4 items: 20 batches of 150 ms, more than the grace period allows.
    const pending: Promise<ScoreOutcome>[] = Array.from({ length: 40 }, (_, i) =>
      client.score({ query, documents: [0, 1, 2, 3].map((k) => doc(`r${i}-${k}`)) }, { deadlineMs: 30_000 }),
    );
    while (sim.stats().executing === 0) await new Promise((r) => setTimeout(r, 5));
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    // A request sent after the signal is refused, not queued.
    await new Promise((r) => setTimeout(r, 50));
    const late = client.score({ query, documents: [doc("late")] }, { deadlineMs: 5000 });
    const code = await exited;
    const exitAfterMs = Date.now() - signalledAt;
    const outcomes = await Promise.all([...pending, late]);

    t.equal(code, 0, "exit code 0");
    t.ok(
      // The stop fits in the grace period; 500 ms more covers signal delivery and process teardown.
      exitAfterMs <= shutdownGraceMs + 500,
      `exited ${exitAfterMs} ms after SIGTERM (grace ${shutdownGraceMs} ms)`,
    );
    const ok = outcomes.filter((o) => o.ok).length;
    const unavailable = outcomes.filter((o) => !o.ok && o.code === grpc.status.UNAVAILABLE).length;
    t.equal(
      ok + unavailable,
      outcomes.length,
      `every request answered OK (${ok}) or UNAVAILABLE (${unavailable})`,
    );
    t.ok(ok > 0, "work in flight at the signal completed");
    t.ok(unavailable > 0, "what could not finish in the grace period got UNAVAILABLE");
    const lateOutcome = outcomes.at(-1)!;
    t.equal(
      lateOutcome.ok ? grpc.status.OK : lateOutcome.code,
      grpc.status.UNAVAILABLE,
      "new requests are refused",
    );
  },
);

t.test(
  "SIGTERM with shadow calls hung on the teacher: exit 0 within the grace period plus 1 s",
  async (t) => {
    const student = await createTritonSim({ port: 0 });
    t.teardown(() => student.close());
    // Every scoring call to the teacher hangs (its probes still answer), so shadow calls stay in flight.
    const teacher = await createVllmSim({ port: 0, faults: { hangRate: 1 } });
    t.teardown(() => teacher.close());
    const shutdownGraceMs = 1000;
    const { child, target, exited, logs } = await startServeProcess({
      server: {
        grpc: { host: "127.0.0.1", port: 0 },
        admin: { host: "127.0.0.1", port: 0 },
        shutdownGraceMs,
      },
      backends: {
        student: { kind: "triton", endpoints: [student.address], model: "relevance_student" },
        teacher: { kind: "vllm", endpoints: [teacher.url], model: "relevance-teacher", role: "teacher" },
      },
      routing: {
        default: "student",
        shadow: { backend: "teacher", percent: 100, timeoutMs: 30_000, maxConcurrentBatches: 2 },
      },
    });
    const client = new ScoreClient(target);
    t.teardown(() => client.close());

    const outcomes = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        client.score({ query, documents: [doc(`s${i}`)], routingKey: `k${i}` }, { deadlineMs: 10_000 }),
      ),
    );
    t.ok(
      outcomes.every((o) => o.ok),
      "the student answered every request",
    );
    // The positive event: the teacher holds shadow calls that will not finish on their own.
    while (teacher.stats().faults.hang < 1) await new Promise((r) => setTimeout(r, 10));

    const signalledAt = Date.now();
    child.kill("SIGTERM");
    const code = await exited;
    const exitAfterMs = Date.now() - signalledAt;
    t.equal(code, 0, "exit code 0");
    t.ok(
      exitAfterMs < shutdownGraceMs + 1000,
      `exited ${exitAfterMs} ms after SIGTERM (grace ${shutdownGraceMs} ms, shadow timeout 30000 ms)`,
    );
    t.match(logs(), /"msg":"stopped"/, "the shutdown ran to its end");
  },
);
