import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import t from "tap";
import { securityMetrics } from "../../src/observability/security-metrics.js";
import { KeyIndex, parseBearer, sha256Hex } from "../../src/security/api-key.js";
import {
  type AuthOptions,
  createAuthenticator,
  type PeerCertificateLike,
  subjectName,
} from "../../src/security/authenticator.js";
import { AuthenticatedClient } from "../../src/security/client-policy.js";
import { createLiveAuthenticator } from "../../src/security/live-authenticator.js";
import { GatewayError } from "../../src/util/gateway-error.js";
import { FakeClock } from "../helpers/fake-clock.js";

const UNRESTRICTED = {
  mayForceTeacher: true,
  experiments: ["*"],
  maxDocumentsPerRequest: null,
  rateLimit: null,
};
const LISTED = { mayForceTeacher: false, experiments: [], maxDocumentsPerRequest: null, rateLimit: null };

function options(patch: Partial<AuthOptions> = {}): AuthOptions {
  return {
    anonymous: true,
    anonymousPolicy: UNRESTRICTED,
    clients: [
      {
        ...LISTED,
        name: "search-frontend",
        apiKeySha256: [sha256Hex("frontend-key-1"), sha256Hex("frontend-key-2")],
        apiKeyFile: null,
        certSubjects: ["search-frontend"],
      },
      {
        ...LISTED,
        name: "batch-indexer",
        apiKeySha256: [sha256Hex("indexer-key")],
        apiKeyFile: null,
        certSubjects: [],
      },
    ],
    ...patch,
  };
}

function setup(patch: Partial<AuthOptions> = {}) {
  const registry = new Registry();
  const auth = createAuthenticator(options(patch), {
    clock: new FakeClock(),
    metrics: securityMetrics(registry),
  });
  return { auth, registry };
}

const cert = (cn: string | string[] | undefined): PeerCertificateLike => ({ subject: { CN: cn } });
const noPeer = { getAuthContext: () => ({}) };
const peer = (c: PeerCertificateLike) => ({ getAuthContext: () => ({ sslPeerCertificate: c }) });
const nameOf = (r: AuthenticatedClient | GatewayError) =>
  r instanceof AuthenticatedClient ? r.name : r.message;

t.test("bearer parsing", (t) => {
  t.same(parseBearer(["Bearer abc"]), { ok: true, key: "abc" });
  t.same(parseBearer(["bearer abc"]), { ok: true, key: "abc" }, "the scheme is case-insensitive");
  t.same(parseBearer(["Bearer   abc  "]), { ok: true, key: "abc" });
  for (const bad of [
    ["abc"],
    ["Basic abc"],
    ["Bearer"],
    ["Bearer "],
    ["Bearer a b"],
    ["Bearer a", "Bearer b"],
    [],
  ]) {
    t.same(parseBearer(bad), { ok: false }, JSON.stringify(bad));
  }
  t.same(parseBearer([Buffer.from("Bearer abc")]), { ok: false }, "a binary value");
  t.end();
});

t.test("a key index finds the owner of any of its digests and nothing else", (t) => {
  const index = new KeyIndex([
    { digest: Buffer.from(sha256Hex("a"), "hex"), owner: "A" },
    { digest: Buffer.from(sha256Hex("b"), "hex"), owner: "B" },
  ]);
  t.equal(index.find("a"), "A");
  t.equal(index.find("b"), "B");
  t.equal(index.find("c"), undefined);
  t.equal(index.find(""), undefined);
  t.equal(new KeyIndex([]).find("a"), undefined);
  t.end();
});

t.test("identity from the authorization metadata", async (t) => {
  const { auth, registry } = setup();
  t.equal(nameOf(auth.authenticate(["Bearer frontend-key-1"], noPeer)), "search-frontend");
  t.equal(nameOf(auth.authenticate(["Bearer frontend-key-2"], noPeer)), "search-frontend", "a rotated key");
  t.equal(nameOf(auth.authenticate(["Bearer indexer-key"], noPeer)), "batch-indexer");
  t.equal(
    auth.authenticate(["Bearer indexer-key"], noPeer),
    auth.clients.get("batch-indexer"),
    "the shared object",
  );
  const unknown = auth.authenticate(["Bearer nope"], noPeer);
  t.ok(unknown instanceof GatewayError);
  t.equal((unknown as GatewayError).code, status.UNAUTHENTICATED);
  t.equal((unknown as GatewayError).message, "authorization: unknown API key", "even with anonymous on");
  const malformed = auth.authenticate(["Token frontend-key-1"], noPeer);
  t.equal((malformed as GatewayError).code, status.UNAUTHENTICATED);
  t.equal((malformed as GatewayError).message, "authorization: expected 'Bearer <key>'");
  t.equal(auth.authenticate([], noPeer), auth.anonymous, "no credentials: the anonymous client");
  t.equal(auth.anonymous?.name, "anonymous");
  t.ok(auth.anonymous?.unrestricted, "the default anonymous policy checks nothing");
  const text = await registry.metrics();
  t.match(text, /relevance_gateway_auth_failures_total\{reason="unknown_key"\} 1/);
  t.match(text, /relevance_gateway_auth_failures_total\{reason="malformed"\} 1/);
});

t.test("a bearer key wins over a certificate", (t) => {
  const { auth } = setup();
  t.equal(nameOf(auth.authenticate(["Bearer indexer-key"], peer(cert("search-frontend")))), "batch-indexer");
  t.end();
});

t.test("identity from the mTLS peer certificate's subject CN", async (t) => {
  const { auth, registry } = setup();
  t.equal(nameOf(auth.authenticate([], peer(cert("search-frontend")))), "search-frontend");
  t.equal(auth.authenticate([], peer(cert("someone-else"))), auth.anonymous, "unknown CN with anonymous on");
  t.equal(
    auth.authenticate([], peer(cert(["search-frontend", "x"]))),
    auth.anonymous,
    "several CNs name no one",
  );
  t.equal(auth.authenticate([], peer(cert("SEARCH-FRONTEND"))), auth.anonymous, "exact match only");

  const strict = setup({ anonymous: false });
  t.equal(strict.auth.anonymous, undefined);
  t.equal(nameOf(strict.auth.authenticate([], peer(cert("search-frontend")))), "search-frontend");
  t.equal(
    nameOf(strict.auth.authenticate([], peer(cert("someone-else")))),
    'authorization: client certificate CN="someone-else" is not a configured client',
  );
  const missing = strict.auth.authenticate([], noPeer);
  t.equal((missing as GatewayError).code, status.UNAUTHENTICATED);
  t.match((missing as GatewayError).message, /^authorization: credentials required/);
  const text = await strict.registry.metrics();
  t.match(text, /auth_failures_total\{reason="unknown_certificate"\} 1/);
  t.match(text, /auth_failures_total\{reason="missing"\} 1/);
  t.notMatch(await registry.metrics(), /auth_failures_total\{/, "the first authenticator refused nothing");
});

t.test("the certificate is not looked at unless it can matter", (t) => {
  const { auth } = setup({ clients: [] });
  let asked = 0;
  const counting = {
    getAuthContext() {
      asked++;
      return { sslPeerCertificate: cert("search-frontend") };
    },
  };
  t.equal(auth.authenticate([], counting), auth.anonymous);
  t.equal(asked, 0, "anonymous on and no certSubjects: the transport is not asked");
  t.end();
});

t.test("subjectName", (t) => {
  t.equal(subjectName(cert("a")), "a");
  t.equal(subjectName(cert("")), undefined);
  t.equal(subjectName(cert(undefined)), undefined);
  t.equal(subjectName({}), undefined);
  t.equal(subjectName(cert(["a", "b"])), undefined);
  t.end();
});

t.test("keys from a secret file: read at build, trimmed; a reload reads them again", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "auth-keys-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "key");
  writeFileSync(file, "file-key-1\n");
  const opts = options({
    clients: [{ ...LISTED, name: "from-file", apiKeySha256: [], apiKeyFile: file, certSubjects: [] }],
  });
  const live = createLiveAuthenticator(opts, {
    clock: new FakeClock(),
    metrics: securityMetrics(new Registry()),
  });
  t.equal(nameOf(live.authenticate(["Bearer file-key-1"], noPeer)), "from-file");
  writeFileSync(file, "file-key-2");
  t.equal(nameOf(live.authenticate(["Bearer file-key-1"], noPeer)), "from-file", "until a reload");
  live.refresh();
  t.equal(nameOf(live.authenticate(["Bearer file-key-2"], noPeer)), "from-file");
  t.equal(nameOf(live.authenticate(["Bearer file-key-1"], noPeer)), "authorization: unknown API key");

  rmSync(file);
  t.throws(() => live.refresh(), /^auth\.clients\[0\]\.apiKeyFile: cannot read /);
  t.equal(
    nameOf(live.authenticate(["Bearer file-key-2"], noPeer)),
    "from-file",
    "a failed reload keeps the keys",
  );
  writeFileSync(file, "  \n");
  t.throws(() => live.refresh(), /^auth\.clients\[0\]\.apiKeyFile: .* is empty$/);
  writeFileSync(file, "two words\n");
  t.throws(
    () => live.refresh(),
    /^auth\.clients\[0\]\.apiKeyFile: .* must hold one key of printable ASCII characters without spaces$/,
  );
  t.equal(nameOf(live.authenticate(["Bearer file-key-2"], noPeer)), "from-file", "the keys in force stay");
  t.end();
});

t.test("a new config keeps buckets whose rate is unchanged and only then", (t) => {
  const clock = new FakeClock();
  const limited = (perSecond: number) =>
    options({
      clients: [
        {
          ...LISTED,
          name: "a",
          apiKeySha256: [sha256Hex("key-a")],
          apiKeyFile: null,
          certSubjects: [],
          rateLimit: { documentsPerSecond: perSecond, burstDocuments: 10 },
        },
      ],
    });
  const live = createLiveAuthenticator(limited(1), { clock, metrics: securityMetrics(new Registry()) });
  const a = () => live.authenticate(["Bearer key-a"], noPeer) as AuthenticatedClient;
  t.equal(a().bucket?.take(10), 0, "the burst is spent");
  const commit = live.prepare(limited(1));
  t.equal(a().bucket?.take(1), 1000, "nothing changes before the commit");
  commit();
  t.equal(a().bucket?.take(1), 1000, "the same rate: the bucket stays empty");
  live.prepare(limited(2))();
  t.equal(a().bucket?.take(10), 0, "a new rate: a new, full bucket");
  t.end();
});
