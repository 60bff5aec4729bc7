import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { validateConfig } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { capturedLogger } from "../helpers/captured-logger.js";
import { eventually, fixture, fixturePath, score, servedSerial, tlsClient } from "./tls-helpers.js";

// The provider re-reads on real timers; a short interval keeps the test quick, and every wait
// below polls with a generous timeout rather than assuming when a reload happens. A check that
// something was NOT applied first waits for the provider's log line saying it read and refused it.
const REFRESH_MS = 200;
const TIMEOUT_MS = 15_000;

const serialOf = (name: string) => new X509Certificate(fixture(name)).serialNumber;

/** Replaces `path` atomically (write aside, rename over), as a Kubernetes Secret update does. */
function replaceFile(dir: string, path: string, content: Buffer | string): void {
  const aside = join(dir, `.incoming-${Date.now()}`);
  writeFileSync(aside, content);
  renameSync(aside, path);
}

t.test("changed certificate files apply to new connections without a restart", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gateway-tls-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  copyFileSync(fixturePath("server.crt"), certFile);
  copyFileSync(fixturePath("server.key"), keyFile);

  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  const cfg = validateConfig({
    server: {
      grpc: { host: "127.0.0.1", port: 0, tls: { certFile, keyFile, refreshIntervalMs: REFRESH_MS } },
      admin: { host: "127.0.0.1", port: 0 },
    },
    backends: { student: { kind: "triton", endpoints: [sim.address], model: "relevance_student" } },
    logging: { level: "silent" },
    metrics: { collectDefault: false },
  });
  const { logger, lines } = capturedLogger();
  const gateway = createGateway(cfg, { logger });
  /** The provider's refusals so far, each naming what it found wrong. */
  const refusals = () =>
    lines()
      .map((l) => String(l.msg))
      .filter((m) => m.startsWith("TLS files cannot be reloaded; the current ones stay in use"));
  t.teardown(() => gateway.shutdown());
  const { grpcPort } = await gateway.start();

  const first = serialOf("server.crt");
  const second = serialOf("server-2.crt");
  t.not(first, second, "the fixtures differ");
  t.equal(await servedSerial(grpcPort), first, "serves the initial certificate");

  // The key first, then the certificate: in between, the pair does not match and must not be used.
  replaceFile(dir, keyFile, fixture("server-2.key"));
  t.ok(
    await eventually(async () => refusals().length === 1, TIMEOUT_MS),
    "the provider read the mismatched pair and refused it",
  );
  t.match(refusals()[0], /tls\.key is not the private key of the certificate in /);
  t.equal(await servedSerial(grpcPort), first, "a key without its certificate is not applied");
  replaceFile(dir, certFile, fixture("server-2.crt"));
  t.ok(
    await eventually(async () => (await servedSerial(grpcPort)) === second, TIMEOUT_MS),
    "new connections get the new certificate",
  );
  const client = tlsClient(`localhost:${grpcPort}`);
  t.teardown(() => client.close());
  t.ok((await score(client)).ok, "Score works over the new certificate");

  // A broken update is refused: the running certificate stays, connections keep working.
  replaceFile(dir, certFile, "not a certificate");
  t.ok(
    await eventually(async () => refusals().length === 2, TIMEOUT_MS),
    "the provider read the broken certificate and refused it",
  );
  t.match(refusals()[1], /tls\.crt holds no PEM certificate/);
  t.equal(await servedSerial(grpcPort), second, "an unreadable certificate does not replace the good one");
  const fresh = tlsClient(`localhost:${grpcPort}`);
  t.teardown(() => fresh.close());
  t.ok((await score(fresh)).ok, "a new client still connects and scores");

  // Fixed again: the original certificate comes back.
  replaceFile(dir, keyFile, fixture("server.key"));
  replaceFile(dir, certFile, fixture("server.crt"));
  t.ok(
    await eventually(async () => (await servedSerial(grpcPort)) === first, TIMEOUT_MS),
    "the repaired files apply",
  );
});
