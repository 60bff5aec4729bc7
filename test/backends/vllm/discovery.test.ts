import { createServer, type Server } from "node:http";
import { pino } from "pino";
import t, { type Test } from "tap";
import type { BackendEndpoint, CallContext } from "../../../src/backends/backend-client.js";
import { createVllmBackend } from "../../../src/backends/vllm/client.js";
import { parseVllmTarget } from "../../../src/backends/vllm/target.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { waitFor } from "../../helpers/triton-raw-client.js";
import { CLASSIFY_BODY, MODEL, modelsBody } from "./fixtures.js";

interface LogLine {
  msg: string;
  endpoint?: string;
}

/** A vLLM stand-in answering under /teacher, recording Host headers; `classifyDelayMs` holds /classify answers. */
interface Pod {
  readonly hosts: string[];
  classifyDelayMs: number;
  classifyCalls: number;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}

function pod(t: Test): { pod: Pod; server: Server } {
  const state: Pod = { hosts: [], classifyDelayMs: 0, classifyCalls: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      state.hosts.push(req.headers.host ?? "");
      const send = (body: string) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(body);
      };
      if (req.url === "/teacher/health") send("");
      else if (req.url === "/teacher/v1/models") send(modelsBody());
      else if (req.url === "/teacher/classify") {
        state.classifyCalls++;
        setTimeout(() => send(CLASSIFY_BODY), state.classifyDelayMs);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { pod: state, server };
}

/** Two pods on one port, on 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback on Linux). */
async function twoPods(t: Test): Promise<{ port: number; a: Pod; b: Pod }> {
  for (let attempt = 1; ; attempt++) {
    const a = pod(t);
    const port = await listen(a.server, "127.0.0.1", 0);
    const b = pod(t);
    try {
      await listen(b.server, "127.0.0.2", port);
      return { port, a: a.pod, b: b.pod };
    } catch (err) {
      a.server.close();
      if (attempt === 5) throw err;
    }
  }
}

const BATCH = { queries: ["q0", "q1", "q2"], documents: ["d0", "d1", "d2"] };

function ctx(): CallContext {
  return { signal: new AbortController().signal };
}

t.test("dns+http(s) URLs parse into one endpoint per address", async (t) => {
  const spec = parseVllmTarget("dns+http://vllm.ml.svc:8000/teacher/");
  t.match(spec, { kind: "dns", host: "vllm.ml.svc", port: 8000 });
  if (spec.kind === "dns") {
    t.equal(spec.makeId("10.0.0.7"), "http://10.0.0.7:8000/teacher");
    t.equal(spec.makeId("fd00::7"), "http://[fd00::7]:8000/teacher");
  }
  t.match(parseVllmTarget("dns+https://vllm.example.com"), { kind: "dns", port: 443 });
  t.same(parseVllmTarget("http://vllm:8000"), { kind: "static", id: "http://vllm:8000" });
  t.throws(() => parseVllmTarget("dns+http://vllm:99999"), RangeError);
});

t.test("endpoints follow the name, keep its Host header, and drain on leaving", async (t) => {
  const { port, a, b } = await twoPods(t);
  const idA = `http://127.0.0.1:${port}/teacher`;
  const idB = `http://127.0.0.2:${port}/teacher`;
  const clock = new FakeClock();
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  let addresses = ["127.0.0.1", "127.0.0.2"];
  const backend = createVllmBackend({
    name: "teacher",
    endpoints: [`dns+http://teachers.test:${port}/teacher`],
    model: MODEL,
    mode: "classify",
    readiness: { intervalMs: 600_000, timeoutMs: 2_000 },
    discovery: { intervalMs: 1_000, resolve: async () => addresses },
    clock,
    logger,
  });
  t.teardown(() => backend[Symbol.asyncDispose]());

  await backend.start();
  t.same(
    backend.endpoints().map((e) => [e.id, e.state]),
    [
      [idA, "ready"],
      [idB, "ready"],
    ],
  );
  const [endpointA, endpointB] = backend.endpoints() as [BackendEndpoint, BackendEndpoint];
  await endpointB.infer(BATCH, ctx());
  t.equal(b.classifyCalls, 1);
  t.same(
    new Set([...a.hosts, ...b.hosts]),
    new Set([`teachers.test:${port}`]),
    "probes and calls name the service",
  );

  a.classifyDelayMs = 300;
  const inFlight = endpointA.infer(BATCH, ctx());
  await waitFor(() => a.classifyCalls === 1, "the slow call to reach the first pod");
  addresses = ["127.0.0.2"];
  await clock.advance(1_000);
  t.same(
    backend.endpoints().map((e) => e.id),
    [idB],
  );
  t.notOk(lines.some((l) => l.msg === "endpoint closed" && l.endpoint === idA));
  const { probabilities } = await inFlight;
  t.equal(probabilities.length, 15, "the call in flight completed");
  await waitFor(
    () => lines.some((l) => l.msg === "endpoint closed" && l.endpoint === idA),
    "the pool to close once drained",
  );

  addresses = ["127.0.0.2", "127.0.0.1"];
  await clock.advance(1_000);
  t.same(
    backend.endpoints().map((e) => e.id),
    [idB, idA],
    "a returning address joins as a new endpoint",
  );
  const returned = backend.endpoints()[1]!;
  t.not(returned, endpointA);
  await waitFor(() => returned.state === "ready", "the returning endpoint's probe");
});
