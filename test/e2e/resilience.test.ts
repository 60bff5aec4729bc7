import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { doc, type ScoreOutcome } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const query = { text: "chocolate cookies", locale: "" };
const docs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => doc(`${prefix}-${i}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gauge(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** A counter's value; one not yet incremented reads 0. */
const counter = (text: string, name: string, labels: string) => gauge(text, name, labels) ?? 0;

const transitions = (text: string, state: string) =>
  counter(text, "relevance_gateway_breaker_transitions_total", `backend="student",state="${state}"`);

/** The gateway's own count of answered requests (`requests_total`), summed by gRPC code name. */
function answeredByCode(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^relevance_gateway_requests_total\{[^}]*code="([A-Z_]+)"[^}]*\} (\S+)$/.exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

t.test(
  "one of two endpoints fails every call: its breaker opens, traffic moves, and it closes after the fault",
  async (t) => {
    // Long enough that the checks after the opening finish before it half-opens, on a loaded machine too.
    const resetTimeoutMs = 2000;
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
    const atOpen = await metricsText();
    t.equal(transitions(atOpen, "open"), 1, "breaker_transitions_total{state=open} counts the opening");
    // One request at a time, one batch each: every failed call not answered with an error was retried.
    const clientErrors = outcomes.filter((o) => !o.ok).length;
    t.equal(
      counter(atOpen, "relevance_gateway_retries_total", 'backend="student"'),
      failedCalls - clientErrors,
      "retries_total counts the failed batches retried on the healthy endpoint",
    );
    t.equal(
      counter(atOpen, "relevance_gateway_outlier_ejections_total", 'backend="student"'),
      0,
      "outlier detection (isolated) ejected nothing",
    );
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
    const atClose = await metricsText();
    t.equal(transitions(atClose, "half-open"), 1, "one half-open spell");
    t.equal(transitions(atClose, "closed"), 3, "closed: both breakers at start, then the reclosing");
  },
);

t.test(
  "consecutive failures eject an endpoint (outlier detection), counted in outlier_ejections_total",
  async (t) => {
    const { client, sims, metricsText } = await useGateway(t, {
      students: 2,
      batching: { maxBatchSize: 8, maxQueueDelayMs: 1, maxConcurrentBatches: 1 },
      student: {
        // Isolate outlier detection: the breaker would also take the endpoint out.
        breaker: { volumeThreshold: 1000 },
        outlierDetection: { consecutiveFailures: 3, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
      },
    });
    const [bad] = sims;
    bad!.setFaults({ errorRate: 1 });
    const ejections = async () =>
      counter(await metricsText(), "relevance_gateway_outlier_ejections_total", 'backend="student"');
    const outcomes: ScoreOutcome[] = [];
    while ((await ejections()) === 0 && outcomes.length < 200) {
      outcomes.push(await client.score({ query, documents: docs(`e${outcomes.length}`, 4) }));
    }
    t.equal(await ejections(), 1, "one ejection");
    t.equal(bad!.stats().faults.error, 3, "after exactly three consecutive failed calls");
    const text = await metricsText();
    const clientErrors = outcomes.filter((o) => !o.ok).length;
    t.equal(
      counter(text, "relevance_gateway_retries_total", 'backend="student"'),
      3 - clientErrors,
      "each failed call not answered with an error was retried",
    );
    t.equal(transitions(text, "open"), 0, "the breaker (volume threshold 1000) stayed closed");
    const callsAtEjection = bad!.stats().requests;
    const after = await Promise.all(
      Array.from({ length: 10 }, (_, i) => client.score({ query, documents: docs(`x${i}`, 4) })),
    );
    t.equal(after.filter((o) => o.ok).length, 10, "clients see no errors after the ejection");
    t.equal(bad!.stats().requests, callsAtEjection, "no traffic to the ejected endpoint");
  },
);

t.test(
  "one endpoint, half-open: only the trial batch reaches it; the batches queued behind it, and requests arriving during the trial, wait and succeed",
  async (t) => {
    const resetTimeoutMs = 300;
    const { client, sim, metricsText } = await useGateway(t, {
      // A batch leaves when full (4 items); a partial one waits long enough to be seen queued.
      batching: { maxBatchSize: 4, maxQueueDelayMs: 5000, maxConcurrentBatches: 4 },
      student: {
        breaker: {
          errorThresholdPercentage: 50,
          volumeThreshold: 3,
          resetTimeoutMs,
          rollingWindowMs: 10_000,
        },
        outlierDetection: { consecutiveFailures: 1000 },
      },
    });
    const state = async () =>
      gauge(
        await metricsText(),
        "relevance_gateway_breaker_state",
        `backend="student",endpoint="${sim.address}"`,
      );
    const waitForState = async (want: number, what: string) => {
      const started = Date.now();
      while ((await state()) !== want && Date.now() - started < 10_000) await sleep(10);
      t.equal(await state(), want, what);
    };
    const queueDepth = async () =>
      gauge(await metricsText(), "relevance_gateway_queue_depth_items", 'backend="student"');

    sim.setFaults({ errorRate: 1 });
    for (let i = 0; i < 3; i++) await client.score({ query, documents: docs(`f${i}`, 4) });
    await waitForState(2, "three failed batches opened the breaker");
    await waitForState(1, "half-open after the reset timeout");
    sim.setFaults({ hangRate: 1 }); // the trial is held until the faults are cleared
    const before = sim.stats().requests;

    // Three one-document requests wait for a fourth item; then a nine-document request fills the trial
    // batch (4 items) and leaves 8 items queued behind it.
    const small = Array.from({ length: 3 }, (_, i) =>
      client.score({ query, documents: docs(`s${i}`, 1) }, { deadlineMs: 20_000 }),
    );
    const startedWaiting = Date.now();
    while ((await queueDepth()) !== 3 && Date.now() - startedWaiting < 10_000) await sleep(10);
    t.equal(await queueDepth(), 3, "three items queued");
    const big = client.score({ query, documents: docs("big", 9) }, { deadlineMs: 20_000 });
    const startedTrial = Date.now();
    while (
      (sim.stats().requests !== before + 1 || (await queueDepth()) !== 8) &&
      Date.now() - startedTrial < 10_000
    ) {
      await sleep(10);
    }
    t.equal(await queueDepth(), 8, "eight items stay queued while the trial is in flight");
    t.equal(sim.stats().requests, before + 1, "only the trial batch reached the endpoint");

    // A request arriving while the trial is in flight is admitted and waits for its outcome,
    // instead of being refused as while the breaker is open.
    const arrivedDuringTrial = client.score({ query, documents: docs("late", 4) }, { deadlineMs: 20_000 });
    const startedLate = Date.now();
    while ((await queueDepth()) !== 12 && Date.now() - startedLate < 10_000) await sleep(10);
    t.equal(await queueDepth(), 12, "the request that arrived during the trial is queued");
    t.equal(sim.stats().requests, before + 1, "still only the trial batch at the endpoint");

    sim.clearFaults(); // releases the trial, which succeeds
    const outcomes = await Promise.all([...small, big, arrivedDuringTrial]);
    t.same(
      outcomes.map((o) => (o.ok ? "OK" : `${grpc.status[o.code]} ${o.details}`)),
      ["OK", "OK", "OK", "OK", "OK"],
      "every request answered OK, none with BACKEND_CIRCUIT_OPEN",
    );
    t.equal(sim.stats().requests, before + 4, "the trial, then the three queued batches");
    const text = await metricsText();
    t.equal(transitions(text, "half-open"), 1);
    t.equal(transitions(text, "closed"), 2, "closed at start, then by the trial");
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
    // A hang would last until the test's timeout; the margin only absorbs a loaded machine's event-loop lag.
    t.ok(late <= 500, `none more than 500 ms late (latest: ${late.toFixed(1)} ms)`);
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
    const { client, sim, metricsText } = await useGateway(t, {
      student: {
        readiness: { intervalMs: 200, timeoutMs: 200 },
        breaker: { resetTimeoutMs: 200 },
        outlierDetection: { baseEjectionTimeMs: 200, maxEjectionTimeMs: 400 },
      },
    });
    const port = sim.port;
    const outcomes: ScoreOutcome[] = [];
    let stop = false;
    const load = Array.from({ length: 8 }, async (_, w) => {
      while (!stop) {
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
    // Answers counted on the client's callbacks, by code, against the gateway's own count of the requests it
    // answered: a request answered twice, or never, or answered differently than counted, shows here.
    const clientByCode: Record<string, number> = {};
    for (const o of outcomes) {
      const code = o.ok ? "OK" : grpc.status[o.code];
      clientByCode[code] = (clientByCode[code] ?? 0) + 1;
    }
    t.same(
      answeredByCode(await metricsText()),
      clientByCode,
      `the gateway answered what the clients received (${JSON.stringify(clientByCode)})`,
    );
    const codes = new Set(outcomes.map((o) => (o.ok ? "OK" : grpc.status[o.code])));
    t.same(
      [...codes].filter((c) => c !== "OK" && c !== "UNAVAILABLE"),
      [],
      `only OK and UNAVAILABLE (${[...codes].join(", ")})`,
    );
    t.ok(codes.has("UNAVAILABLE"), "the outage was seen as UNAVAILABLE");
  },
);
