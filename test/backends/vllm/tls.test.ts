import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import type { BackendClient } from "../../../src/backends/backend-client.js";
import { createBackend } from "../../../src/backends/create-backend.js";
import { createVllmBackend, type VllmBackendOptions } from "../../../src/backends/vllm/client.js";
import { validateConfig } from "../../../src/config/index.js";
import { createLogger, silentLogger } from "../../../src/observability/logger.js";
import { createVllmSim, type VllmSim, type VllmSimOptions } from "../../../src/tools/sim/vllm/server.js";
import { systemClock } from "../../../src/util/clock.js";
import { GatewayError } from "../../../src/util/gateway-error.js";
import { configError } from "../../config/helpers.js";
import { doc } from "../../helpers/grpc-client.js";
import { useGateway } from "../../helpers/use-gateway.js";
import { fixture, fixturePath } from "../../security/tls-helpers.js";

const API_KEY = "sk-test-4f1c9a7e2b8d";
const serverTls = { cert: fixture("server.crt"), key: fixture("server.key") };

async function sim(t: Test, opts: VllmSimOptions): Promise<VllmSim> {
  const s = await createVllmSim({ port: 0, ...opts });
  t.teardown(() => s.close());
  return s;
}

function backend(t: Test, url: string, opts: Partial<VllmBackendOptions>): BackendClient {
  const client = createVllmBackend({
    name: "teacher",
    endpoints: [url],
    model: "relevance-teacher",
    mode: "classify",
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
    ...opts,
  });
  t.teardown(() => client[Symbol.asyncDispose]());
  return client;
}

const call = () => ({ signal: new AbortController().signal, timeoutMs: 5_000 });
const batch = { queries: ["red shoes", "red shoes"], documents: ["Red running shoes", "garden chairs"] };

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(err)}`);
  return err;
}

t.test("the vLLM simulator's --api-key guards /v1 routes only, as vLLM does", async (t) => {
  const s = await sim(t, { apiKey: API_KEY });
  const get = (path: string, auth?: string) =>
    fetch(`${s.url}${path}`, { headers: auth === undefined ? {} : { authorization: auth } });
  const refused = await get("/v1/models");
  t.equal(refused.status, 401);
  t.same(await refused.json(), { error: "Unauthorized" });
  t.equal((await get("/v1/models", "Bearer wrong")).status, 401);
  t.equal((await get("/v1/models", `Basic ${API_KEY}`)).status, 401);
  t.equal((await get("/v1/models", `bearer ${API_KEY}`)).status, 200, "the scheme in any case");
  t.equal((await get("/health")).status, 200, "/health is open");
});

for (const mode of ["classify", "generate"] as const) {
  t.test(`https + API key (${mode}): the right CA and key score`, async (t) => {
    const s = await sim(t, { apiKey: API_KEY, tls: serverTls });
    t.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const client = backend(t, s.url, { mode, tls: { ca: fixture("ca.crt") }, apiKey: () => API_KEY });
    await client.start();
    t.equal(client.isReady(), true);
    const result = await client.endpoints()[0]!.infer(batch, call());
    t.equal(result.probabilities.length, 10);
  });
}

t.test("https: a server certificate the CA did not sign is refused with a hint", async (t) => {
  const s = await sim(t, { tls: serverTls });
  const client = backend(t, s.url, { tls: { ca: fixture("rogue-ca.crt") } });
  await client.start();
  t.equal(client.isReady(), false);
  const err = await failure(client.endpoints()[0]!.infer(batch, call()));
  t.equal(err.code, grpc.status.UNAVAILABLE);
  t.match(
    err.message,
    /^backend teacher: TLS with vllm on https:\/\/127\.0\.0\.1:\d+ failed: .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); check backends\.teacher\.tls\.caFile/,
  );
});

t.test("a missing or wrong API key is a clear, non-retryable backend failure", async (t) => {
  const s = await sim(t, { apiKey: API_KEY });
  for (const [name, apiKey, hint] of [
    ["no key", undefined, /requires an API key: set backends\.teacher\.apiKeyEnv or apiKeyFile/],
    ["a wrong key", () => "sk-wrong", /does not accept the API key of backends\.teacher\.apiKeyEnv/],
  ] as const) {
    const client = backend(t, s.url, { mode: "generate", apiKey });
    await client.start();
    t.equal(client.isReady(), false, `${name}: GET /v1/models is refused, so not ready`);
    const err = await failure(client.endpoints()[0]!.infer(batch, call()));
    // INTERNAL/BACKEND_REJECTED: every endpoint and every retry would get the same 401.
    t.equal(err.code, grpc.status.INTERNAL, name);
    t.equal(err.reason, "BACKEND_REJECTED", name);
    t.match(
      err.message,
      /refused the gateway's credentials \(POST \/v1\/completions answered HTTP 401: Unauthorized\)/,
    );
    t.match(err.message, hint, name);
    t.notMatch(err.message, API_KEY);
  }
});

t.test("gateway: the key is sent, scores come back, and the key never reaches the log", async (t) => {
  const lines: string[] = [];
  const logger = createLogger("debug", { write: (line: string) => void lines.push(line) });
  process.env.RELEVANCE_GATEWAY_TEST_VLLM_KEY = API_KEY;
  t.teardown(() => {
    delete process.env.RELEVANCE_GATEWAY_TEST_VLLM_KEY;
  });
  const stack = await useGateway(t, {
    logger,
    teacher: {
      mode: "generate",
      sim: { apiKey: API_KEY, tls: serverTls },
      backend: { tls: { caFile: fixturePath("ca.crt") }, apiKeyEnv: "RELEVANCE_GATEWAY_TEST_VLLM_KEY" },
    },
  });
  const ok = await stack.client.score({
    query: { text: "q", locale: "" },
    documents: [doc("d1")],
    modelPreference: 2, // TEACHER
  });
  t.ok(ok.ok, ok.ok ? "scored by the teacher" : ok.details);
  if (ok.ok) t.equal(ok.response.model?.backend, "teacher");
  t.ok(lines.length > 0, "the gateway logged");
  t.notOk(lines.join("\n").includes(API_KEY), "the API key appears in no log line");
});

t.test("gateway: a wrong key is logged as a configuration error without the key", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gateway-key-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, "api-key");
  writeFileSync(keyFile, "sk-not-the-right-one\n");
  const lines: string[] = [];
  const logger = createLogger("debug", { write: (line: string) => void lines.push(line) });
  const stack = await useGateway(t, {
    logger,
    teacher: { mode: "generate", sim: { apiKey: API_KEY }, backend: { apiKeyFile: keyFile } },
  });
  const outcome = await stack.client.score({
    query: { text: "q", locale: "" },
    documents: [doc("d1")],
    modelPreference: 2,
  });
  t.notOk(outcome.ok);
  if (!outcome.ok) t.equal(outcome.code, grpc.status.UNAVAILABLE, outcome.details);
  const log = lines.join("\n");
  t.match(log, /"level":50[^\n]*does not accept the API key of backends\.teacher\.apiKeyEnv \/ apiKeyFile/);
  t.notOk(log.includes("sk-not-the-right-one"), "the key appears in no log line");
});

t.test("backends.<vllm> API key and TLS errors name the key", async (t) => {
  const teacher = (extra: Record<string, unknown>) => ({
    backends: { teacher: { kind: "vllm", endpoints: ["https://vllm:8000"], model: "m", ...extra } },
    routing: { default: "teacher" },
  });
  const build = (extra: Record<string, unknown>) => {
    const cfg = validateConfig(teacher(extra));
    return createBackend("teacher", cfg.backends.teacher!, { clock: systemClock, logger: silentLogger() });
  };
  t.throws(() => build({ apiKeyEnv: "RELEVANCE_GATEWAY_TEST_UNSET_VARIABLE" }), {
    name: "ConfigError",
    message:
      "backends.teacher.apiKeyEnv: the environment variable RELEVANCE_GATEWAY_TEST_UNSET_VARIABLE is not set",
  });
  t.throws(() => build({ apiKeyFile: "/nonexistent/key" }), {
    message: /^backends\.teacher\.apiKeyFile: cannot read \/nonexistent\/key/,
  });
  t.throws(() => build({ tls: { caFile: "/nonexistent/ca.crt" } }), {
    message: /^backends\.teacher\.tls\.caFile: cannot read/,
  });
  t.equal(
    configError(teacher({ apiKeyEnv: "A", apiKeyFile: "/k" })).message,
    "backends.teacher.apiKeyFile: set apiKeyEnv or apiKeyFile, not both",
  );
  t.equal(
    configError(teacher({ apiKeyEnv: "NOT-A-NAME" })).message,
    "backends.teacher.apiKeyEnv: must be an environment variable name (letters, digits, '_')",
  );
  t.equal(
    configError({
      backends: {
        teacher: { kind: "vllm", endpoints: ["http://vllm:8000"], model: "m", tls: { caFile: "/ca" } },
      },
      routing: { default: "teacher" },
    }).message,
    "backends.teacher.tls: applies to https:// endpoints, but every endpoint is http://",
  );
  t.equal(
    configError(teacher({ tls: { certFile: "/c" } })).message,
    "backends.teacher.tls.certFile: unknown key",
  );
});
