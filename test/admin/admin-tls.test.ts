import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import t from "tap";
import { validateConfig } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/observability/logger.js";
import { configError } from "../config/helpers.js";
import { capturedLogger } from "../helpers/captured-logger.js";
import { useGateway } from "../helpers/use-gateway.js";
import { eventually, fixture, fixturePath } from "../security/tls-helpers.js";

const TOKEN = "admin-token-for-tests-0123456789";
// The files are re-read on real timers; a short interval keeps the test quick, and the waits poll.
const REFRESH_MS = 200;
const TIMEOUT_MS = 15_000;

const serverFiles = { certFile: fixturePath("server.crt"), keyFile: fixturePath("server.key") };
const certOf = (name: string) => new X509Certificate(fixture(name));

interface Reply {
  readonly status: number;
  readonly body: string;
}

interface HttpsOptions {
  readonly method?: string;
  readonly path?: string;
  readonly body?: string;
  readonly token?: string;
  /** Client certificate of the fixtures: "client" or "rogue-client" (its .crt and .key). */
  readonly identity?: string;
  /** Root CA file of the fixtures; default "ca.crt". */
  readonly ca?: string;
}

/** One request over a fresh HTTPS connection to 127.0.0.1:port; rejects when the handshake or the connection fails. */
function https(port: number, opts: HttpsOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body) headers["content-type"] = "application/merge-patch+json";
  const id = opts.identity;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path: opts.path ?? "/healthz",
        method: opts.method ?? "GET",
        headers,
        ca: fixture(opts.ca ?? "ca.crt"),
        cert: id === undefined ? undefined : fixture(`${id}.crt`),
        key: id === undefined ? undefined : fixture(`${id}.key`),
        agent: false,
        timeout: 5_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** A plain-HTTP GET /healthz; resolves with the status, or with the error when there is no HTTP answer. */
function plainGet(port: number): Promise<{ status: number } | { error: Error }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 5_000 },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error) => resolve({ error }));
    req.end();
  });
}

/** The certificate a fresh TLS connection to 127.0.0.1:port is served. */
function servedCertificate(port: number): Promise<{ serialNumber: string; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port, ca: fixture("ca.crt"), servername: "localhost" },
      () => {
        const { serialNumber, fingerprint256 } = socket.getPeerCertificate();
        socket.destroy();
        resolve({ serialNumber, fingerprint256 });
      },
    );
    socket.once("error", reject);
  });
}

const adminPortOf = (adminUrl: string) => Number(new URL(adminUrl).port);

/** The gateway config's `server` section with the admin listener's `tls`. */
const withAdminTls = (tls: Record<string, unknown> | null) => ({
  server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0, tls } },
});

t.test("server.admin.tls: the admin endpoints answer over HTTPS and not over plain HTTP", async (t) => {
  const { logger, lines } = capturedLogger();
  const { adminUrl } = await useGateway(t, { config: withAdminTls(serverFiles), logger });
  const port = adminPortOf(adminUrl);

  const healthz = await https(port);
  t.equal(healthz.status, 200, "GET /healthz over HTTPS, trusting the CA");
  t.equal(healthz.body, "ok\n");
  const metrics = await https(port, { path: "/metrics" });
  t.equal(metrics.status, 200, "GET /metrics over HTTPS");
  t.match(metrics.body, /relevance_gateway_/);

  const plain = await plainGet(port);
  t.notOk("status" in plain && plain.status === 200, "a plain-HTTP request gets no 200");
  t.ok("error" in plain, "a plain-HTTP request gets no HTTP answer at all");

  await t.rejects(
    https(port, { ca: "rogue-ca.crt" }),
    "a client that does not trust the CA refuses the server",
  );

  const served = await servedCertificate(port);
  t.equal(served.fingerprint256, certOf("server.crt").fingerprint256, "serves certFile");

  const listening = lines().find((l) => l.msg === "listening");
  t.equal(listening?.adminTransport, "tls", "the startup log says the admin listener is TLS");
  t.match(listening?.adminCertificate, { serialNumber: certOf("server.crt").serialNumber });
  t.equal(listening?.transport, "plaintext", "the gRPC listener's mode is its own");
});

t.test("without server.admin.tls the admin listener stays plain HTTP", async (t) => {
  const { logger, lines } = capturedLogger();
  const { adminUrl } = await useGateway(t, { logger });
  const plain = await plainGet(adminPortOf(adminUrl));
  t.same(plain, { status: 200 }, "plain HTTP, as before");
  t.equal(lines().find((l) => l.msg === "listening")?.adminTransport, "plaintext");
});

t.test("admin writes work over HTTPS; server.admin.tls itself needs a restart", async (t) => {
  const { adminUrl } = await useGateway(t, { config: withAdminTls(serverFiles), adminToken: TOKEN });
  const port = adminPortOf(adminUrl);
  const patch = JSON.stringify({ backends: { student: { batching: { maxBatchSize: 16 } } } });

  const anonymous = await https(port, { method: "PATCH", path: "/admin/config", body: patch });
  t.equal(anonymous.status, 401, "a write without the token is refused");
  const write = await https(port, { method: "PATCH", path: "/admin/config", body: patch, token: TOKEN });
  t.equal(write.status, 200, write.body);
  const config = JSON.parse((await https(port, { path: "/admin/config", token: TOKEN })).body) as {
    generation: number;
    config: { backends: { student: { batching: { maxBatchSize: number } } }; server: unknown };
  };
  t.equal(config.generation, 2, "the write applied");
  t.equal(config.config.backends.student.batching.maxBatchSize, 16);
  t.match(config.config.server, { admin: { tls: { ...serverFiles, clientCaFile: null } } });

  const restart = await https(port, {
    method: "PATCH",
    path: "/admin/config",
    token: TOKEN,
    body: JSON.stringify({ server: { admin: { tls: { refreshIntervalMs: 500 } } } }),
  });
  t.equal(restart.status, 409, restart.body);
  t.match(restart.body, /server\.admin\.tls\.refreshIntervalMs: cannot change while the gateway runs/);
  const off = await https(port, {
    method: "PATCH",
    path: "/admin/config",
    token: TOKEN,
    body: JSON.stringify({ server: { admin: { tls: null } } }),
  });
  t.equal(off.status, 409, "turning TLS off is refused too");
  t.match(off.body, /server\.admin\.tls\.certFile: cannot change while the gateway runs/);
  t.equal((await https(port)).status, 200, "still HTTPS");
});

t.test(
  "server.admin.tls with clientCaFile: the handshake needs a client certificate from that CA",
  async (t) => {
    const { adminUrl } = await useGateway(t, {
      config: withAdminTls({ ...serverFiles, clientCaFile: fixturePath("ca.crt") }),
    });
    const port = adminPortOf(adminUrl);

    await t.rejects(https(port), "no client certificate: no answer");
    await t.rejects(https(port, { identity: "rogue-client" }), "a certificate from another CA: no answer");
    const good = await https(port, { identity: "client" });
    t.equal(good.status, 200, "a certificate signed by the client CA is accepted");
    t.equal(good.body, "ok\n");
    const plain = await plainGet(port);
    t.ok("error" in plain, "plain HTTP gets no answer");
  },
);

/** Replaces `path` atomically (write aside, rename over), as a Kubernetes Secret update does. */
function replaceFile(dir: string, path: string, content: Buffer | string): void {
  const aside = join(dir, `.incoming-${Date.now()}`);
  writeFileSync(aside, content);
  renameSync(aside, path);
}

t.test(
  "changed certificate files apply to new admin connections; a broken one keeps the last good pair",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gateway-admin-tls-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const certFile = join(dir, "tls.crt");
    const keyFile = join(dir, "tls.key");
    copyFileSync(fixturePath("server.crt"), certFile);
    copyFileSync(fixturePath("server.key"), keyFile);
    const { logger, lines } = capturedLogger();
    const { adminUrl } = await useGateway(t, {
      config: withAdminTls({ certFile, keyFile, refreshIntervalMs: REFRESH_MS }),
      logger,
    });
    /** The provider's refusals so far: a check that a file was NOT applied first waits for one. */
    const refusals = () =>
      lines()
        .map((l) => String(l.msg))
        .filter((m) => m.startsWith("TLS files cannot be reloaded; the current ones stay in use"));
    const port = adminPortOf(adminUrl);

    const first = certOf("server.crt").fingerprint256;
    const second = certOf("server-2.crt").fingerprint256;
    t.not(first, second, "the fixtures differ");
    t.equal((await servedCertificate(port)).fingerprint256, first, "serves the initial certificate");

    // The key first, then the certificate: in between, the pair does not match and must not be used.
    replaceFile(dir, keyFile, fixture("server-2.key"));
    t.ok(
      await eventually(async () => refusals().length === 1, TIMEOUT_MS),
      "the provider read the mismatched pair and refused it",
    );
    t.match(refusals()[0], /tls\.key is not the private key of the certificate in /);
    t.equal(
      (await servedCertificate(port)).fingerprint256,
      first,
      "a key without its certificate is not applied",
    );
    t.equal((await https(port)).status, 200, "and the listener keeps answering");
    replaceFile(dir, certFile, fixture("server-2.crt"));
    t.ok(
      await eventually(async () => (await servedCertificate(port)).fingerprint256 === second, TIMEOUT_MS),
      "new connections get the new certificate",
    );
    t.equal(
      (await servedCertificate(port)).serialNumber,
      certOf("server-2.crt").serialNumber,
      "its serial is server-2's",
    );
    t.equal((await https(port)).status, 200, "HTTPS works over the new certificate");

    // A broken update is refused: the running certificate stays, new connections keep working.
    replaceFile(dir, certFile, "not a certificate");
    t.ok(
      await eventually(async () => refusals().length === 2, TIMEOUT_MS),
      "the provider read the broken certificate and refused it",
    );
    t.match(refusals()[1], /tls\.crt holds no PEM certificate/);
    t.equal(
      (await servedCertificate(port)).fingerprint256,
      second,
      "a broken certificate file does not replace the good one",
    );
    t.equal((await https(port)).status, 200, "a new connection still gets an answer");

    // Fixed again: the original pair comes back.
    replaceFile(dir, keyFile, fixture("server.key"));
    replaceFile(dir, certFile, fixture("server.crt"));
    t.ok(
      await eventually(async () => (await servedCertificate(port)).fingerprint256 === first, TIMEOUT_MS),
      "the repaired files apply",
    );
  },
);

t.test("an unusable admin TLS file fails the start with the key that names it", async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "missing certificate file",
      { certFile: "/nonexistent/tls.crt", keyFile: fixturePath("server.key") },
      /^server\.admin\.tls\.certFile: cannot read \/nonexistent\/tls\.crt: ENOENT/,
    ],
    [
      "key of another certificate",
      { certFile: fixturePath("server-2.crt"), keyFile: fixturePath("server.key") },
      /^server\.admin\.tls\.keyFile: .*server\.key is not the private key of the certificate in .*server-2\.crt$/,
    ],
    [
      "client CA that is not a certificate",
      { ...serverFiles, clientCaFile: fixturePath("ca.key") },
      /^server\.admin\.tls\.clientCaFile: .*ca\.key holds no PEM certificate/,
    ],
  ];
  for (const [name, tls, message] of cases) {
    const cfg = validateConfig({
      ...withAdminTls(tls),
      backends: { student: { kind: "triton", endpoints: ["127.0.0.1:1"], model: "m" } },
      logging: { level: "silent" },
    });
    const gateway = createGateway(cfg, { logger: silentLogger() });
    await t.rejects(gateway.start(), { message }, name);
    await gateway.shutdown();
  }
});

t.test("server.admin.tls config: the same block as server.grpc.tls, errors name the key", async (t) => {
  const base = { backends: { student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "m" } } };
  const withTls = (tls: unknown) => ({ ...base, server: { admin: { tls } } });
  t.equal(configError(withTls({ certFile: "/c" })).message, "server.admin.tls.keyFile: required (a string)");
  t.equal(configError(withTls({ keyFile: "/k" })).message, "server.admin.tls.certFile: required (a string)");
  t.equal(
    configError(withTls({ certFile: "/c", keyFile: "/k", refreshIntervalMs: 10 })).message,
    "server.admin.tls.refreshIntervalMs: must be ≥ 100",
  );
  t.equal(
    configError(withTls({ certFile: "/c", keyFile: "/k", clientCa: "/ca" })).message,
    "server.admin.tls.clientCa: unknown key",
  );
  t.equal(validateConfig(base).server.admin.tls, null, "the default stays plain HTTP");
  t.same(validateConfig(withTls({ certFile: "/c", keyFile: "/k" })).server.admin.tls, {
    certFile: "/c",
    keyFile: "/k",
    clientCaFile: null,
    refreshIntervalMs: 60_000,
  });
});
