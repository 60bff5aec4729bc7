import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { validateConfig } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createServerCredentials, peerCertificateSubject } from "../../src/security/tls.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { configError } from "../config/helpers.js";
import { fixturePath, plaintextClient, score, tlsClient } from "./tls-helpers.js";

/** A Triton simulator and a gateway whose gRPC listener has `tls`; both closed when the test ends. */
async function tlsGateway(t: Test, tls: Record<string, unknown>): Promise<string> {
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  const cfg = validateConfig({
    server: { grpc: { host: "127.0.0.1", port: 0, tls }, admin: { host: "127.0.0.1", port: 0 } },
    backends: { student: { kind: "triton", endpoints: [sim.address], model: "relevance_student" } },
    logging: { level: "silent" },
    metrics: { collectDefault: false },
  });
  const gateway = createGateway(cfg, { logger: silentLogger() });
  t.teardown(() => gateway.shutdown());
  const { grpcPort } = await gateway.start();
  return `localhost:${grpcPort}`;
}

function closeAfter(t: Test, client: grpc.Client): grpc.Client {
  t.teardown(() => client.close());
  return client;
}

const serverFiles = { certFile: fixturePath("server.crt"), keyFile: fixturePath("server.key") };

t.test("TLS: a client trusting the CA scores; plaintext and untrusting clients cannot connect", async (t) => {
  const target = await tlsGateway(t, serverFiles);

  const ok = await score(closeAfter(t, tlsClient(target)));
  t.ok(ok.ok, "Score over TLS");
  if (ok.ok) t.equal(ok.response.scores.length, 2);

  const plain = await score(closeAfter(t, plaintextClient(target)), 2_000);
  t.notOk(plain.ok, "a plaintext client gets no answer");
  if (!plain.ok) t.equal(plain.code, grpc.status.UNAVAILABLE, plain.details);

  const untrusting = await score(closeAfter(t, tlsClient(target, { ca: "rogue-ca.crt" })), 2_000);
  t.notOk(untrusting.ok, "a client that does not trust the server's CA refuses it");
  if (!untrusting.ok) t.equal(untrusting.code, grpc.status.UNAVAILABLE, untrusting.details);
});

t.test("mTLS: only a client with a certificate from the client CA can connect", async (t) => {
  const target = await tlsGateway(t, { ...serverFiles, clientCaFile: fixturePath("ca.crt") });

  const noCert = await score(closeAfter(t, tlsClient(target)), 2_000);
  t.notOk(noCert.ok, "no client certificate: the handshake fails");
  if (!noCert.ok) t.equal(noCert.code, grpc.status.UNAVAILABLE, noCert.details);

  const rogue = await score(closeAfter(t, tlsClient(target, { identity: "rogue-client" })), 2_000);
  t.notOk(rogue.ok, "a certificate from another CA (same CN): the handshake fails");
  if (!rogue.ok) t.equal(rogue.code, grpc.status.UNAVAILABLE, rogue.details);

  const good = await score(closeAfter(t, tlsClient(target, { identity: "client" })));
  t.ok(good.ok, "a certificate signed by the client CA is accepted");
});

/** A server whose one method answers with the peer certificate's subject CN (or "-"). */
async function whoAmIServer(t: Test, clientCaFile: string | null): Promise<string> {
  const creds = createServerCredentials(
    { ...serverFiles, clientCaFile, refreshIntervalMs: 60_000 },
    silentLogger(),
  );
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    WhoAmI: {
      path: "/test.Peer/WhoAmI",
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (s: string) => Buffer.from(s),
      responseDeserialize: (b: Buffer) => b.toString(),
    },
  };
  server.addService(definition, {
    WhoAmI: (call: grpc.ServerUnaryCall<Buffer, string>, callback: grpc.sendUnaryData<string>) =>
      callback(null, peerCertificateSubject(call) ?? "-"),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", creds.credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => server.forceShutdown());
  return `localhost:${port}`;
}

function whoAmI(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/test.Peer/WhoAmI",
      (b: Buffer) => b,
      (b: Buffer) => b.toString(),
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (err, value) => (err ? reject(err) : resolve(value as string)),
    ),
  );
}

t.test("a handler reads the verified client certificate's subject CN", async (t) => {
  const mtls = await whoAmIServer(t, fixturePath("ca.crt"));
  t.equal(await whoAmI(closeAfter(t, tlsClient(mtls, { identity: "client" }))), "search-frontend");

  // Without a client CA no certificate is asked for, so there is no identity to read.
  const tlsOnly = await whoAmIServer(t, null);
  t.equal(await whoAmI(closeAfter(t, tlsClient(tlsOnly, { identity: "client" }))), "-");
  t.equal(await whoAmI(closeAfter(t, tlsClient(tlsOnly))), "-");
});

t.test("an unusable TLS file fails the start with the key that names it", async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "missing certificate file",
      { certFile: "/nonexistent/tls.crt", keyFile: fixturePath("server.key") },
      /^server\.grpc\.tls\.certFile: cannot read \/nonexistent\/tls\.crt: ENOENT/,
    ],
    [
      "key of another certificate",
      { certFile: fixturePath("server-2.crt"), keyFile: fixturePath("server.key") },
      /^server\.grpc\.tls\.keyFile: .*server\.key is not the private key of the certificate in .*server-2\.crt$/,
    ],
    [
      "certificate given as the key",
      { certFile: fixturePath("server.crt"), keyFile: fixturePath("server.crt") },
      /^server\.grpc\.tls\.keyFile: .*server\.crt is not a PEM private key/,
    ],
    [
      "key given as the certificate",
      { certFile: fixturePath("server.key"), keyFile: fixturePath("server.key") },
      /^server\.grpc\.tls\.certFile: .*server\.key holds no PEM certificate/,
    ],
    [
      "client CA that is not a certificate",
      { ...serverFiles, clientCaFile: fixturePath("ca.key") },
      /^server\.grpc\.tls\.clientCaFile: .*ca\.key holds no PEM certificate/,
    ],
  ];
  for (const [name, tls, message] of cases) {
    const cfg = validateConfig({
      server: { grpc: { host: "127.0.0.1", port: 0, tls }, admin: { host: "127.0.0.1", port: 0 } },
      backends: { student: { kind: "triton", endpoints: ["127.0.0.1:1"], model: "m" } },
      logging: { level: "silent" },
    });
    const gateway = createGateway(cfg, { logger: silentLogger() });
    await t.rejects(gateway.start(), { message }, name);
    await gateway.shutdown();
  }
});

t.test("server.grpc.tls config errors name the key", async (t) => {
  const base = { backends: { student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "m" } } };
  const withTls = (tls: unknown) => ({ ...base, server: { grpc: { tls } } });
  t.equal(configError(withTls({ keyFile: "/k" })).message, "server.grpc.tls.certFile: required (a string)");
  t.equal(configError(withTls({ certFile: "/c" })).message, "server.grpc.tls.keyFile: required (a string)");
  t.equal(
    configError(withTls({ certFile: "/c", keyFile: "/k", refreshIntervalMs: 10 })).message,
    "server.grpc.tls.refreshIntervalMs: must be ≥ 100",
  );
  t.equal(
    configError(withTls({ certFile: "/c", keyFile: "/k", clientCa: "/ca" })).message,
    "server.grpc.tls.clientCa: unknown key",
  );
  // The default stays plaintext.
  t.equal(validateConfig(base).server.grpc.tls, null);
  const full = validateConfig(withTls({ certFile: "/c", keyFile: "/k" })).server.grpc.tls;
  t.same(full, { certFile: "/c", keyFile: "/k", clientCaFile: null, refreshIntervalMs: 60_000 });
});
