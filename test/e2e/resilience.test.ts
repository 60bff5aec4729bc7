import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { createTritonSim } from "../../src/sim/triton-sim.js";
import { doc, type ScoreOutcome } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const query = { text: "chocolate cookies", locale: "" };
const docs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => doc(`${prefix}-${i}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gauge(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

t.test(
  "one of two endpoints fails every call: its breaker opens, traffic moves, and it closes after the fault",
  async (t) => {
    const resetTimeoutMs = 500;
    const { client, sims, metricsText } = await useGateway(t, {
      students: 2,
      batching: { maxBatchSize: 8, maxQueueDelayMs: 1, maxConcurrentBatches: 1 },
      student: {
        breaker: {
          errorThresholdPercentage: 50,
          volumeThreshold: 5,
          resetTimeoutMs,
          rollingWindowMs: 10_000,
        },
        // Isolate the breaker: outlier ejection would also take the endpoint out.
        outlierDetection: { consecutiveFailures: 1000 },
      },
    });
    const [bad, good] = sims;
    const badId = bad!.address;
    bad!.setFaults({ errorRate: 1 });
    const breakerOf = async () =>
      gauge(await metricsText(), "relevance_gateway_breaker_state", `backend="student",endpoint="${badId}"`);

    const outcomes: ScoreOutcome[] = [];
    while ((await breakerOf()) !== 2 && outcomes.length < 200) {
      outcomes.push(await client.score({ query, documents: docs(`r${outcomes.length}`, 4) }));
    }
    t.equal(await breakerOf(), 2, "the failing endpoint's breaker opened");
    const failedCalls = bad!.stats().faults.error ?? 0;
    t.ok(
      failedCalls <= 5 + 1,
      `it opened within the volume threshold (${failedCalls} failed calls reached the endpoint)`,
    );
    // Before the opening, failed batches are retried on the healthy endpoint while the retry budget lasts.
    const before = outcomes.filter((o) => !o.ok);
    t.ok(
      before.length < failedCalls && before.every((o) => !o.ok && o.code === grpc.status.UNAVAILABLE),
      `before the opening, ${failedCalls - before.length} of ${failedCalls} failed batches were retried; ` +
        `${before.length} client errors, all UNAVAILABLE`,
    );

    const callsAtOpen = bad!.stats().requests;
    const after = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.score({ query, documents: docs(`after${i}`, 4) })),
    );
    t.equal(after.filter((o) => o.ok).length, 20, "clients see no errors after the opening");
    t.equal(bad!.stats().requests, callsAtOpen, "no traffic to the open endpoint");
    t.ok(good!.stats().requests > 0, "the healthy endpoint takes the traffic");

    bad!.clearFaults();
    const cleared = Date.now();
    let closedAfterMs: number | undefined;
    while (Date.now() - cleared < resetTimeoutMs + 5000) {
      await client.score({ query, documents: docs("probe", 2) });
      if ((await breakerOf()) === 0) {
        closedAfterMs = Date.now() - cleared;
        break;
      }
      await sleep(20);
    }
    t.ok(closedAfterMs !== undefined, `the breaker closed ${closedAfterMs} ms after the fault cleared`);
    t.ok(
      closedAfterMs !== undefined && closedAfterMs <= resetTimeoutMs + 1000,
      "within the reset timeout plus one trial batch (with a generous margin for a loaded machine)",
    );
  },
);

t.test(
  "a hanging backend: every request ends at its deadline with DEADLINE_EXCEEDED; gauges return to 0",
  async (t) => {
    const { client, sim, metricsText } = await useGateway(t, {
      batching: { maxQueueDelayMs: 1, maxConcurrentBatches: 2 },
    });
    sim.setFaults({ hangRate: 1 });
    const deadlineMs = 150;
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        client.score({ query, documents: docs(`h${i}`, 5) }, { deadlineMs }),
      ),
    );
    for (const o of outcomes) t.equal(o.ok ? grpc.status.OK : o.code, grpc.status.DEADLINE_EXCEEDED);
    const late = Math.max(...outcomes.map((o) => o.elapsedMs - deadlineMs));
    t.ok(late <= 50, `none more than 50 ms late (latest: ${late.toFixed(1)} ms)`);
    let text = "";
    for (let i = 0; i < 100; i++) {
      text = await metricsText();
      if (
        gauge(text, "relevance_gateway_queue_depth_items", 'backend="student"') === 0 &&
        gauge(text, "relevance_gateway_batches_in_flight", 'backend="student"') === 0
      ) {
        break;
      }
      await sleep(20);
    }
    t.equal(
      gauge(text, "relevance_gateway_queue_depth_items", 'backend="student"'),
      0,
      "queue depth back to 0",
    );
    t.equal(
      gauge(text, "relevance_gateway_batches_in_flight", 'backend="student"'),
      0,
      "in-flight back to 0",
    );
    sim.clearFaults();
    const after = await client.score({ query, documents: docs("after", 2) });
    t.ok(after.ok, "serving again once the backend answers");
  },
);

t.test(
  "malformed backend output gives INTERNAL naming the tensor or field; the process stays up",
  async (t) => {
    const { client, sim, teacherSim } = await useGateway(t, { teacher: {} });
    sim.setFaults({ malformedRate: 1, malformed: "missing-output" });
    const missing = await client.score({ query, documents: docs("m", 3) });
    t.equal(missing.ok ? grpc.status.OK : missing.code, grpc.status.INTERNAL);
    t.match(!missing.ok && missing.details, /LOGITS/, "names the tensor");
    sim.setFaults({ malformedRate: 1, malformed: "wrong-shape" });
    const shape = await client.score({ query, documents: docs("s", 3) });
    t.match(!shape.ok && shape.details, /LOGITS/);
    sim.clearFaults();

    teacherSim!.setFaults({ malformedRate: 1, malformed: "wrong-shape" });
    const teacher = await client.score({ query, documents: docs("t", 3), modelPreference: 2 });
    t.equal(teacher.ok ? grpc.status.OK : teacher.code, grpc.status.INTERNAL);
    t.match(!teacher.ok && teacher.details, /probs|data\[/, "names the field");
    teacherSim!.setFaults({ malformedRate: 1, malformed: "bad-json" });
    const json = await client.score({ query, documents: docs("j", 3), modelPreference: 2 });
    t.equal(json.ok ? grpc.status.OK : json.code, grpc.status.INTERNAL);
    teacherSim!.clearFaults();

    const ok = await client.score({ query, documents: docs("ok", 3) });
    t.ok(ok.ok, "the gateway still serves");
  },
);

t.test(
  "a simulator killed and restarted under load: UNAVAILABLE during the outage, success after; every request answered",
  async (t) => {
    const { client, sim } = await useGateway(t, {
      student: {
        readiness: { intervalMs: 200, timeoutMs: 200 },
        breaker: { resetTimeoutMs: 200 },
        outlierDetection: { baseEjectionTimeMs: 200, maxEjectionTimeMs: 400 },
      },
    });
    const port = sim.port;
    let sent = 0;
    const outcomes: ScoreOutcome[] = [];
    let stop = false;
    const load = Array.from({ length: 8 }, async (_, w) => {
      while (!stop) {
        sent++;
        outcomes.push(await client.score({ query, documents: docs(`w${w}`, 3) }, { deadlineMs: 5000 }));
        await sleep(5);
      }
    });
    await sleep(300);
    await sim.close();
    await sleep(1000);
    const restarted = await createTritonSim({ port });
    t.teardown(() => restarted.close());
    const restartedAt = outcomes.length;
    const started = Date.now();
    let recovered = false;
    while (Date.now() - started < 20_000) {
      const recent = outcomes.slice(-16);
      if (outcomes.length > restartedAt + 16 && recent.every((o) => o.ok)) {
        recovered = true;
        break;
      }
      await sleep(50);
    }
    stop = true;
    await Promise.all(load);
    t.ok(recovered, "requests succeed again after the restart");
    t.equal(outcomes.length, sent, `requests sent (${sent}) = requests answered`);
    const codes = new Set(outcomes.map((o) => (o.ok ? "OK" : grpc.status[o.code])));
    t.same(
      [...codes].filter((c) => c !== "OK" && c !== "UNAVAILABLE"),
      [],
      `only OK and UNAVAILABLE (${[...codes].join(", ")})`,
    );
    t.ok(codes.has("UNAVAILABLE"), "the outage was seen as UNAVAILABLE");
  },
);
