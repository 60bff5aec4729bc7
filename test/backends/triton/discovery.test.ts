import { pino } from "pino";
import t, { type Test } from "tap";
import type { BackendClient, BackendEndpoint, CallContext } from "../../../src/backends/backend-client.js";
import { createTritonBackend } from "../../../src/backends/triton/client.js";
import { parseTritonTarget } from "../../../src/backends/triton/target.js";
import { simLogits, softmax5 } from "../../../src/tools/sim/triton/scores.js";
import { createTritonSim, type TritonSim } from "../../../src/tools/sim/triton/server.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { waitFor } from "../../helpers/triton-raw-client.js";

interface LogLine {
  msg: string;
  endpoint?: string;
  address?: string;
}

/**
 * Two simulators standing for two pods of one headless Service: the same
 * port on 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback on Linux). The
 * port is picked free on the first and tried on the second, again on a clash.
 */
async function twoPods(t: Test): Promise<[TritonSim, TritonSim]> {
  for (let attempt = 1; ; attempt++) {
    const a = await createTritonSim({ host: "127.0.0.1", port: 0 });
    try {
      const b = await createTritonSim({ host: "127.0.0.2", port: a.port });
      t.teardown(() => Promise.all([a.close(), b.close()]));
      return [a, b];
    } catch (err) {
      await a.close();
      if (attempt === 5) throw err;
    }
  }
}

const QUERIES = ["red running shoes", "Café crème"];
const DOCUMENTS = ["Red shoes for running", "CAFÉ au lait"];

function ctx(extra: Partial<CallContext> = {}): CallContext {
  return { signal: new AbortController().signal, ...extra };
}

async function expectScores(t: Test, endpoint: BackendEndpoint): Promise<void> {
  const { probabilities } = await endpoint.infer({ queries: QUERIES, documents: DOCUMENTS }, ctx());
  const want = QUERIES.flatMap((q, i) => [...softmax5(simLogits(q, DOCUMENTS[i]!))]);
  t.ok(
    want.every((p, k) => Math.abs(p - probabilities[k]!) < 1e-6),
    `${endpoint.id} answers with the model's scores`,
  );
}

t.test("dns:/// targets parse into one endpoint per address", async (t) => {
  const spec = parseTritonTarget("dns:///triton.ml.svc:8001");
  t.match(spec, { kind: "dns", host: "triton.ml.svc", port: 8001 });
  if (spec.kind === "dns") {
    t.equal(spec.makeId("10.0.0.7"), "10.0.0.7:8001");
    t.equal(spec.makeId("fd00::7"), "[fd00::7]:8001");
  }
  t.match(parseTritonTarget("dns:///[fd00::1]:8001"), { kind: "dns", host: "fd00::1", port: 8001 });
  t.same(parseTritonTarget("triton:8001"), { kind: "static", id: "triton:8001" });
  t.throws(() => parseTritonTarget("dns:///triton"), RangeError);
});

t.test("endpoints follow the name's addresses, and a leaving one finishes its call", async (t) => {
  const [podA, podB] = await twoPods(t);
  const port = podA.port;
  const idA = `127.0.0.1:${port}`;
  const idB = `127.0.0.2:${port}`;
  const clock = new FakeClock();
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  let addresses = ["127.0.0.1"];
  const resolved: string[] = [];
  const backend: BackendClient = createTritonBackend({
    name: "student",
    endpoints: [`dns:///students.test:${port}`],
    model: "relevance_student",
    // Probes run at start and when an endpoint joins; the periodic round is not needed here.
    readiness: { intervalMs: 600_000, timeoutMs: 2_000 },
    discovery: {
      intervalMs: 1_000,
      resolve: async (host) => {
        resolved.push(host);
        return addresses;
      },
    },
    clock,
    logger,
  });
  t.teardown(() => backend[Symbol.asyncDispose]());

  t.same(backend.endpoints(), [], "nothing before the first resolution");
  await backend.start();
  t.same(resolved, ["students.test"]);
  t.same(
    backend.endpoints().map((e) => [e.id, e.state]),
    [[idA, "ready"]],
    "probed in the first round",
  );
  t.ok(backend.isReady());
  await expectScores(t, backend.endpoints()[0]!);
  t.equal(podA.stats().requests, 1);

  // Scale up: the second pod joins and is probed at once.
  addresses = ["127.0.0.1", "127.0.0.2"];
  await clock.advance(1_000);
  t.same(
    backend.endpoints().map((e) => e.id),
    [idA, idB],
  );
  const [endpointA, endpointB] = backend.endpoints() as [BackendEndpoint, BackendEndpoint];
  await waitFor(() => endpointB.state === "ready", "the new endpoint's probe");
  await expectScores(t, endpointB);
  t.equal(podB.stats().requests, 1, "the call reached the second pod");

  // Scale down while a slow batch runs on the first pod.
  podA.setCost({ baseMs: 300 });
  const started = Date.now();
  const inFlight = endpointA.infer({ queries: QUERIES, documents: DOCUMENTS }, ctx({ timeoutMs: 10_000 }));
  await waitFor(() => podA.stats().executing === 1, "the slow batch to start on the first pod");
  addresses = ["127.0.0.2"];
  await clock.advance(1_000);
  t.same(
    backend.endpoints().map((e) => e.id),
    [idB],
    "out of the list at once",
  );
  const left = lines.find((l) => l.msg === "endpoint left");
  t.match(left, { endpoint: idA, address: "127.0.0.1" });
  t.notOk(
    lines.some((l) => l.msg === "endpoint closed" && l.endpoint === idA),
    "not closed while its call runs",
  );

  const { probabilities } = await inFlight;
  const elapsed = Date.now() - started;
  t.equal(probabilities.length, QUERIES.length * 5, "the call in flight completed");
  t.ok(elapsed >= 250 && elapsed < 8_000, `it ran its course (${elapsed} ms)`);
  await waitFor(
    () => lines.some((l) => l.msg === "endpoint closed" && l.endpoint === idA),
    "the drained endpoint to close",
  );
  await t.rejects(
    endpointA.infer({ queries: QUERIES, documents: DOCUMENTS }, ctx()),
    { name: "GatewayError", reason: "SHUTTING_DOWN" },
    "a closed endpoint takes no new call",
  );

  await expectScores(t, backend.endpoints()[0]!);
  t.equal(podB.stats().requests, 2);
  t.equal(podA.stats().failures, 0, "nothing failed on the pod that left");
  t.same(
    lines.filter((l) => l.msg === "endpoint joined").map((l) => l.endpoint),
    [idA, idB],
  );
});
