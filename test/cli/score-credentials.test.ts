import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { connectionFromFlags } from "../../src/cli/score.js";
import { sha256Hex } from "../../src/security/api-key.js";
import { cliArgs } from "../helpers/cli.js";
import { useGateway } from "../helpers/use-gateway.js";
import { metricValue } from "../security/auth-client.js";
import { fixturePath } from "../security/tls-helpers.js";

/**
 * `relevance-gateway score` against gateways that require an API key, serve
 * TLS, or require a client certificate: the CLI runs as its own process, the
 * gateway on loopback with the test certificates of test/fixtures/tls.
 */

const KEY = "search-frontend-0123456789abcdef";
const OTHER_KEY = "not-a-configured-key-0123456789";
const KEY_ENV = "RG_TEST_SCORE_API_KEY";

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env };
  delete base[KEY_ENV];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      cliArgs(...args),
      { timeout: 60_000, env: { ...base, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function score(target: string, ...flags: string[]): string[] {
  return [
    "score",
    "--target",
    target,
    "--query",
    "chocolate chip cookies",
    "--doc",
    "Cookie recipe",
    ...flags,
  ];
}

const TEMP = mkdtempSync(join(tmpdir(), "rg-score-"));
t.teardown(() => rmSync(TEMP, { recursive: true, force: true }));

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(TEMP, "f-")), name);
  writeFileSync(file, text);
  return file;
}

/**
 * The gateway's address by the name its certificate carries (test/fixtures/tls: localhost). Dialling
 * 127.0.0.1 over TLS works too, but Node warns that the SNI name is an IP address.
 */
function tlsTarget(target: string): string {
  return target.replace("127.0.0.1", "localhost");
}

const TLS_HINT =
  "(if the TLS handshake failed: check --tls-ca and --tls-server-name, and --tls-cert/--tls-key for mutual TLS)";

/** Two lines: the status on one (the handshake's error in `details`), the TLS hint on the next. */
function assertTlsFailure(t: Test, stderr: string, details: RegExp): void {
  const lines = stderr.split("\n");
  t.equal(lines.length, 3, `status, hint and the final newline: ${JSON.stringify(stderr)}`);
  t.match(lines[0], /^relevance-gateway: score: UNAVAILABLE: \S/);
  t.match(lines[0], details);
  t.equal(lines[1], TLS_HINT);
  t.equal(lines[2], "");
}

const TABLE = /route bulk · backend student · model relevance_student/;
const serverTls = { certFile: fixturePath("server.crt"), keyFile: fixturePath("server.key") };

function grpcServer(tls?: Record<string, unknown>) {
  return {
    server: {
      grpc: { host: "127.0.0.1", port: 0, ...(tls === undefined ? {} : { tls }) },
      admin: { host: "127.0.0.1", port: 0 },
    },
  };
}

const keyAuth = {
  anonymous: false,
  clients: [{ name: "search-frontend", apiKeySha256: [sha256Hex(KEY)] }],
};

t.test("an API key from --api-key-env or --api-key-file is sent as a bearer token", async (t) => {
  const s = await useGateway(t, { config: { auth: keyAuth } });

  const fromEnv = await cli(score(s.target, "--api-key-env", KEY_ENV), { [KEY_ENV]: KEY });
  t.equal(fromEnv.code, 0, fromEnv.stderr);
  t.match(fromEnv.stdout, TABLE);

  const fromFile = await cli(score(s.target, "--api-key-file", tempFile("key", `  ${KEY}\n`)));
  t.equal(fromFile.code, 0, fromFile.stderr);
  t.match(fromFile.stdout, TABLE);

  t.equal(
    metricValue(
      await s.metricsText(),
      'relevance_gateway_client_requests_total{client="search-frontend",code="OK"}',
    ),
    2,
    "both calls were served as the key's client",
  );
});

t.test("without a key, or with a wrong one, the status is followed by a hint", async (t) => {
  const s = await useGateway(t, { config: { auth: keyAuth } });

  const none = await cli(score(s.target));
  t.equal(none.code, 1);
  t.match(
    none.stderr,
    /^relevance-gateway: score: UNAUTHENTICATED: authorization: credentials required[^\n]*\n\(the gateway requires an API key: --api-key-env or --api-key-file\)\n$/,
  );
  t.equal(none.stdout, "");

  const file = tempFile("wrong.key", OTHER_KEY);
  const wrong = await cli(score(s.target, "--api-key-file", file));
  t.equal(wrong.code, 1);
  t.equal(
    wrong.stderr,
    `relevance-gateway: score: UNAUTHENTICATED: authorization: unknown API key\n(the gateway refused the key of --api-key-file ${file})\n`,
  );
  t.notMatch(wrong.stderr, OTHER_KEY, "the key is not printed");
});

t.test("API key flags that cannot be used are usage errors naming the flag", async (t) => {
  const target = "127.0.0.1:1"; // never dialled: the flags fail first
  const file = tempFile("key", KEY);

  const both = await cli(score(target, "--api-key-env", KEY_ENV, "--api-key-file", file), {
    [KEY_ENV]: KEY,
  });
  t.equal(both.code, 2);
  t.equal(both.stderr, "relevance-gateway: score: give --api-key-env or --api-key-file, not both\n");

  const unset = await cli(score(target, "--api-key-env", KEY_ENV));
  t.equal(unset.code, 2);
  t.equal(
    unset.stderr,
    `relevance-gateway: --api-key-env: the environment variable ${KEY_ENV} is not set or empty\n`,
  );
  const blank = await cli(score(target, "--api-key-env", KEY_ENV), { [KEY_ENV]: "  " });
  t.equal(blank.code, 2);
  t.match(blank.stderr, /^relevance-gateway: --api-key-env: .* is not set or empty\n$/);
  const spaced = await cli(score(target, "--api-key-env", KEY_ENV), { [KEY_ENV]: "two words" });
  t.equal(spaced.code, 2);
  t.match(spaced.stderr, /^relevance-gateway: --api-key-env: the value of .* must be one key/);
  t.notMatch(spaced.stderr, "two words", "the value is not printed");

  const missing = await cli(score(target, "--api-key-file", "/nonexistent/score.key"));
  t.equal(missing.code, 2);
  t.match(
    missing.stderr,
    /^relevance-gateway: --api-key-file: cannot read \/nonexistent\/score\.key: ENOENT[^\n]*\n$/,
  );
  const emptyFile = tempFile("empty.key", "\n");
  const empty = await cli(score(target, "--api-key-file", emptyFile));
  t.equal(empty.code, 2);
  t.equal(empty.stderr, `relevance-gateway: --api-key-file: ${emptyFile} is empty\n`);
  const twoLines = await cli(score(target, "--api-key-file", tempFile("two.key", `${KEY}\n${KEY}\n`)));
  t.equal(twoLines.code, 2);
  t.match(twoLines.stderr, /^relevance-gateway: --api-key-file: .* must hold one key of printable ASCII/);

  for (const args of [["--api-key", KEY], [`--api-key=${KEY}`]]) {
    const onCommandLine = await cli(score(target, ...args));
    t.equal(onCommandLine.code, 2, args.join(" ").replace(KEY, "<key>"));
    t.match(
      onCommandLine.stderr,
      /shows in ps and the shell's history; use --api-key-env NAME or --api-key-file FILE/,
    );
    t.notMatch(onCommandLine.stderr, KEY, "the key is not echoed");
  }
});

t.test(
  "TLS: --tls-ca trusts the test CA; --tls-server-name is checked against the certificate",
  async (t) => {
    const s = await useGateway(t, { config: grpcServer(serverTls) });
    const ca = fixturePath("ca.crt");
    const byName = tlsTarget(s.target);

    const ok = await cli(score(byName, "--tls-ca", ca));
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stdout, TABLE);

    const named = await cli(score(s.target, "--tls-ca", ca, "--tls-server-name", "localhost"));
    t.equal(named.code, 0, named.stderr);
    t.match(named.stdout, TABLE);

    const wrongName = await cli(
      score(s.target, "--tls-ca", ca, "--tls-server-name", "gateway.example", "--deadline-ms", "5000"),
    );
    t.equal(wrongName.code, 1);
    assertTlsFailure(t, wrongName.stderr, /gateway\.example/);

    const systemRoots = await cli(score(byName, "--tls", "--deadline-ms", "5000"));
    t.equal(systemRoots.code, 1, "the test CA is not among the system's roots");
    assertTlsFailure(t, systemRoots.stderr, /certificate/);

    const plaintext = await cli(score(byName, "--deadline-ms", "2000"));
    t.equal(plaintext.code, 1, "a plaintext call to a TLS listener fails");
    t.match(plaintext.stderr, /^relevance-gateway: score: (UNAVAILABLE|DEADLINE_EXCEEDED): [^\n]*\n$/);
  },
);

t.test(
  "mTLS: --tls-cert and --tls-key present the client certificate; without them the call fails cleanly",
  async (t) => {
    const s = await useGateway(t, {
      config: {
        ...grpcServer({ ...serverTls, clientCaFile: fixturePath("ca.crt") }),
        auth: {
          anonymous: false,
          clients: [
            { name: "search-frontend", certSubjects: ["search-frontend"] },
            { name: "evaluator", apiKeySha256: [sha256Hex(KEY)] },
          ],
        },
      },
    });
    const ca = fixturePath("ca.crt");
    const target = tlsTarget(s.target);
    const identity = ["--tls-cert", fixturePath("client.crt"), "--tls-key", fixturePath("client.key")];

    const ok = await cli(score(target, "--tls-ca", ca, ...identity));
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stdout, TABLE);

    const withKey = await cli(score(target, "--tls-ca", ca, ...identity, "--api-key-env", KEY_ENV), {
      [KEY_ENV]: KEY,
    });
    t.equal(withKey.code, 0, withKey.stderr);

    const text = await s.metricsText();
    t.equal(
      metricValue(text, 'relevance_gateway_client_requests_total{client="search-frontend",code="OK"}'),
      1,
      "served as the certificate's CN",
    );
    t.equal(
      metricValue(text, 'relevance_gateway_client_requests_total{client="evaluator",code="OK"}'),
      1,
      "a bearer key over mTLS names its own client",
    );

    for (const [what, args] of [
      ["no client certificate", []],
      [
        "a certificate from another CA",
        ["--tls-cert", fixturePath("rogue-client.crt"), "--tls-key", fixturePath("rogue-client.key")],
      ],
    ] as const) {
      const refused = await cli(score(target, "--tls-ca", ca, ...args, "--deadline-ms", "5000"));
      t.equal(refused.code, 1, what);
      assertTlsFailure(t, refused.stderr, /./);
    }
  },
);

t.test("TLS flags that cannot be used are usage errors naming the flag and the file", async (t) => {
  const target = "127.0.0.1:1";
  const certOnly = await cli(score(target, "--tls-cert", fixturePath("client.crt")));
  t.equal(certOnly.code, 2);
  t.equal(
    certOnly.stderr,
    "relevance-gateway: --tls-cert: needs --tls-key (a client certificate and its key go together)\n",
  );
  const keyOnly = await cli(score(target, "--tls-key", fixturePath("client.key")));
  t.equal(keyOnly.code, 2);
  t.match(keyOnly.stderr, /^relevance-gateway: --tls-key: needs --tls-cert/);

  const noCa = await cli(score(target, "--tls-ca", "/nonexistent/ca.crt"));
  t.equal(noCa.code, 2);
  t.match(noCa.stderr, /^relevance-gateway: --tls-ca: cannot read \/nonexistent\/ca\.crt: ENOENT[^\n]*\n$/);

  const noCert = await cli(
    score(target, "--tls-cert", "/nonexistent/client.crt", "--tls-key", fixturePath("client.key")),
  );
  t.equal(noCert.code, 2);
  t.match(noCert.stderr, /^relevance-gateway: --tls-cert: cannot read \/nonexistent\/client\.crt: ENOENT/);

  const notPem = tempFile("ca.crt", "not a certificate\n");
  const badCa = await cli(score(target, "--tls-ca", notPem));
  t.equal(badCa.code, 2);
  t.equal(
    badCa.stderr,
    `relevance-gateway: --tls-ca: ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`,
  );

  const mismatched = await cli(
    score(target, "--tls-cert", fixturePath("client.crt"), "--tls-key", fixturePath("server.key")),
  );
  t.equal(mismatched.code, 2);
  t.match(
    mismatched.stderr,
    /^relevance-gateway: --tls-key: .*server\.key is not the private key of the certificate in .*client\.crt\n$/,
  );
});

t.test("which flags turn TLS on", (t) => {
  const tlsOf = (flags: Record<string, string | boolean>) => connectionFromFlags(flags).tls;
  t.equal(tlsOf({}), false, "plaintext by default");
  t.equal(tlsOf({ tls: true }), true);
  t.equal(tlsOf({ "tls-ca": fixturePath("ca.crt") }), true, "--tls-ca implies --tls");
  t.equal(
    tlsOf({ "tls-cert": fixturePath("client.crt"), "tls-key": fixturePath("client.key") }),
    true,
    "--tls-cert/--tls-key imply --tls",
  );
  t.equal(tlsOf({ "tls-server-name": "localhost" }), true, "--tls-server-name implies --tls");
  t.same(connectionFromFlags({ "tls-server-name": "gw.example" }).options, {
    "grpc.ssl_target_name_override": "gw.example",
  });
  const keyed = connectionFromFlags({ "api-key-env": "SOME_KEY" }, (name) =>
    name === "SOME_KEY" ? KEY : undefined,
  );
  t.equal(keyed.apiKey, KEY);
  t.equal(keyed.apiKeySource, "--api-key-env SOME_KEY");
  t.end();
});
