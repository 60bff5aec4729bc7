import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import type { BackendClient } from "../../../src/backends/backend-client.js";
import { createBackend } from "../../../src/backends/create-backend.js";
import { createTritonBackend, type TritonTlsOptions } from "../../../src/backends/triton/client.js";
import { ConfigError, validateConfig } from "../../../src/config/index.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { createTritonSim, type TritonSim } from "../../../src/tools/sim/triton/server.js";
import { systemClock } from "../../../src/util/clock.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { configError } from "../../config/helpers.js";
import { doc } from "../../helpers/grpc-client.js";
import { useGateway } from "../../helpers/use-gateway.js";
import { fixture, fixturePath } from "../../security/tls-helpers.js";

const serverTls = { cert: fixture("server.crt"), key: fixture("server.key") };

async function tlsSim(t: Test, clientCa?: Buffer): Promise<TritonSim> {
  const sim = await createTritonSim({ port: 0, tls: { ...serverTls, clientCa } });
  t.teardown(() => sim.close());
  return sim;
}

function backend(t: Test, endpoint: string, tls: TritonTlsOptions | undefined): BackendClient {
  const client = createTritonBackend({
    name: "student",
    endpoints: [endpoint],
    model: "relevance_student",
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
    tls,
  });
  t.teardown(() => client[Symbol.asyncDispose]());
  return client;
}

const call = () => ({ signal: new AbortController().signal, timeoutMs: 5_000 });
const batch = { queries: ["red shoes", "red shoes"], documents: ["Red running shoes", "garden chairs"] };

t.test("grpcs: a backend trusting the CA probes ready and scores", async (t) => {
  const sim = await tlsSim(t);
  const client = backend(t, sim.address, { ca: fixture("ca.crt") });
  await client.start();
  t.equal(client.isReady(), true);
  const result = await client.endpoints()[0]!.infer(batch, call());
  t.equal(result.probabilities.length, 10);
  t.equal(result.model.name, "relevance_student");
});

t.test("grpcs: a wrong CA, plaintext or a wrong server name fail fast as UNAVAILABLE", async (t) => {
  const sim = await tlsSim(t);
  const cases: [string, TritonTlsOptions | undefined, RegExp][] = [
    [
      "a CA that did not sign the server's certificate",
      { ca: fixture("rogue-ca.crt") },
      /certificate.*\(check backends\.student\.tls\)$/,
    ],
    ["plaintext against a TLS server", undefined, /unavailable/],
    [
      "a server name the certificate does not carry",
      { ca: fixture("ca.crt"), serverName: "triton.example.com" },
      /triton\.example\.com/,
    ],
  ];
  for (const [name, tls, reason] of cases) {
    const client = backend(t, sim.address, tls);
    await client.start();
    t.equal(client.isReady(), false, `${name}: not ready`);
    const started = performance.now();
    const err = await client
      .endpoints()[0]!
      .infer(batch, call())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    t.ok(err instanceof GatewayError, name);
    if (err instanceof GatewayError) {
      t.equal(err.code, grpc.status.UNAVAILABLE, `${name}: ${err.message}`);
      t.match(err.message, reason, name);
      t.match(err.message, /^backend student: triton on 127\.0\.0\.1:\d+/, "names the backend and endpoint");
    }
    // Well inside the call's 5 s timeout: a refused handshake is not a hang.
    t.ok(performance.now() - started < 4_000, `${name}: answered without waiting out the deadline`);
  }
  t.equal(sim.stats().requests, 0, "no ModelInfer reached the server");
});

t.test("grpcs with a server name override checks the certificate against it", async (t) => {
  const sim = await tlsSim(t);
  const client = backend(t, sim.address, { ca: fixture("ca.crt"), serverName: "localhost" });
  await client.start();
  t.equal(client.isReady(), true);
});

t.test("mutual TLS to Triton: the client certificate is presented", async (t) => {
  const sim = await tlsSim(t, fixture("ca.crt"));
  const withCert = backend(t, sim.address, {
    ca: fixture("ca.crt"),
    identity: { certificate: fixture("client.crt"), privateKey: fixture("client.key") },
  });
  await withCert.start();
  t.equal(withCert.isReady(), true, "with the client certificate");
  t.equal((await withCert.endpoints()[0]!.infer(batch, call())).probabilities.length, 10);

  const without = backend(t, sim.address, { ca: fixture("ca.crt") });
  await without.start();
  t.equal(without.isReady(), false, "without it the server refuses the handshake");
});

t.test("gateway: a wrong Triton CA answers UNAVAILABLE at once and shows in the metrics", async (t) => {
  const stack = await useGateway(t, {
    sim: { tls: serverTls },
    student: {
      tls: { caFile: fixturePath("rogue-ca.crt") },
      readiness: { intervalMs: 1000, timeoutMs: 1000 },
    },
  });
  const started = performance.now();
  const outcome = await stack.client.score(
    { query: { text: "q", locale: "" }, documents: [doc("d1")] },
    { deadlineMs: 10_000 },
  );
  t.notOk(outcome.ok);
  if (!outcome.ok) t.equal(outcome.code, grpc.status.UNAVAILABLE, outcome.details);
  t.ok(performance.now() - started < 5_000, "not a hang until the deadline");
  const metrics = await stack.metricsText();
  t.match(metrics, /relevance_gateway_backend_ready\{backend="student"\} 0/);
  t.match(metrics, /relevance_gateway_endpoint_ready\{backend="student",endpoint="[^"]+"\} 0/);
  t.match(metrics, /relevance_gateway_requests_total\{[^}]*code="UNAVAILABLE"[^}]*\} 1/);
});

t.test("gateway: the right Triton CA scores over grpcs", async (t) => {
  const stack = await useGateway(t, {
    sim: { tls: serverTls },
    student: { tls: { caFile: fixturePath("ca.crt") } },
  });
  const outcome = await stack.client.score({ query: { text: "q", locale: "" }, documents: [doc("d1")] });
  t.ok(outcome.ok, outcome.ok ? "scored" : outcome.details);
});

t.test("backends.<triton>.tls errors name the key", async (t) => {
  const build = (tls: Record<string, unknown>) => {
    const cfg = validateConfig({
      backends: { student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "m", tls } },
    });
    return createBackend("student", cfg.backends.student!, { clock: systemClock, logger: silentLogger() });
  };
  t.throws(() => build({ caFile: "/nonexistent/ca.crt" }), {
    name: "ConfigError",
    message: /^backends\.student\.tls\.caFile: cannot read \/nonexistent\/ca\.crt/,
  });
  t.throws(() => build({ certFile: fixturePath("client.crt"), keyFile: fixturePath("server.key") }), {
    message: /^backends\.student\.tls\.keyFile: .* is not the private key of the certificate/,
  });
  const err = (() => {
    try {
      build({ caFile: fixturePath("ca.key") });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof ConfigError);
  t.equal((err as ConfigError).path, "backends.student.tls.caFile");

  const student = (tls: unknown) => ({
    backends: { student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "m", tls } },
  });
  t.equal(
    configError(student({ certFile: "/c" })).message,
    "backends.student.tls.keyFile: is required when certFile is set (the certificate and its private key go together)",
  );
  t.equal(configError(student({ ca: "/c" })).message, "backends.student.tls.ca: unknown key");
  // An empty block is TLS with the system's roots.
  t.same(validateConfig(student({})).backends.student!.tls, {
    caFile: null,
    certFile: null,
    keyFile: null,
    serverName: null,
  });
});

t.test(
  "grpcs to a discovered address checks the certificate against the DNS name it came from",
  async (t) => {
    const sim = await tlsSim(t);
    const discovered = (name: string): BackendClient => {
      const client = createTritonBackend({
        name: "student",
        endpoints: [`dns:///${name}:${sim.port}`],
        model: "relevance_student",
        readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
        discovery: { intervalMs: 60_000, resolve: async () => ["127.0.0.1"] },
        tls: { ca: fixture("ca.crt") },
      });
      t.teardown(() => client[Symbol.asyncDispose]());
      return client;
    };
    // The certificate carries localhost and 127.0.0.1, not triton.example.com.
    const good = discovered("localhost");
    await good.start();
    t.equal(good.endpoints()[0]?.id, `127.0.0.1:${sim.port}`, "the endpoint is the address dialled");
    t.equal(good.isReady(), true, "localhost: the certificate matches the name");
    t.equal((await good.endpoints()[0]!.infer(batch, call())).probabilities.length, 10);
    const bad = discovered("triton.example.com");
    await bad.start();
    t.equal(bad.isReady(), false, "triton.example.com: not in the certificate, although the address is");
    const err = await bad
      .endpoints()[0]!
      .infer(batch, call())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    t.match(err, { code: grpc.status.UNAVAILABLE, message: /triton\.example\.com/ });
  },
);
