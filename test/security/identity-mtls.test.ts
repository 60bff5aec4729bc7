import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { sha256Hex } from "../../src/security/api-key.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { AuthScoreClient, metricValue } from "./auth-client.js";

/**
 * An mTLS client certificate as an identity: the gateway listens with TLS and
 * a client CA; the test CA's certificate with subject CN=search-frontend gets
 * the policy of the client whose certSubjects lists that name.
 */

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const fixturePath = (name: string) => new URL(`../fixtures/tls/${name}`, import.meta.url).pathname;
const EVALUATOR_KEY = "evaluator-0123456789abcdef";

t.test("the certificate's subject CN selects the client and its policy", async (t) => {
  const s = await useGateway(t, {
    teacher: {},
    config: {
      server: {
        grpc: {
          host: "127.0.0.1",
          port: 0,
          tls: {
            certFile: fixturePath("server.crt"),
            keyFile: fixturePath("server.key"),
            clientCaFile: fixturePath("ca.crt"),
          },
        },
        admin: { host: "127.0.0.1", port: 0 },
      },
      auth: {
        anonymous: false,
        clients: [
          { name: "search-frontend", certSubjects: ["search-frontend"], maxDocumentsPerRequest: 3 },
          { name: "evaluator", apiKeySha256: [sha256Hex(EVALUATOR_KEY)], mayForceTeacher: true },
        ],
      },
    },
  });
  const credentials = grpc.credentials.createSsl(
    fixture("ca.crt"),
    fixture("client.key"),
    fixture("client.crt"),
  );
  const client = new AuthScoreClient(s.target, credentials);
  t.teardown(() => client.close());

  const ok = await client.score({ documents: [doc("d1"), doc("d2")] });
  t.ok(ok.ok, ok.ok ? "served as search-frontend" : `${ok.code} ${ok.details}`);

  const forced = await client.score({ documents: [doc("d1")], modelPreference: 2 });
  t.equal(forced.ok ? "OK" : forced.code, grpc.status.PERMISSION_DENIED);
  if (!forced.ok)
    t.match(forced.details, /^model_preference: client search-frontend may not force the teacher/);

  const tooMany = await client.score({ documents: [doc("d1"), doc("d2"), doc("d3"), doc("d4")] });
  t.equal(tooMany.ok ? "OK" : tooMany.code, grpc.status.INVALID_ARGUMENT);
  if (!tooMany.ok)
    t.match(tooMany.details, /^documents: 4 documents exceed client search-frontend's limit of 3/);

  // On the same mTLS connection, a bearer key names another client, which wins.
  const byKey = await client.score({ documents: [doc("d1")], modelPreference: 2 }, { apiKey: EVALUATOR_KEY });
  t.ok(byKey.ok, "the bearer key's client may force the teacher");
  if (byKey.ok) t.equal(byKey.response.route, "forced");

  const text = await s.metricsText();
  t.equal(
    metricValue(text, 'relevance_gateway_client_requests_total{client="search-frontend",code="OK"}'),
    1,
  );
  t.equal(
    metricValue(
      text,
      'relevance_gateway_client_requests_total{client="search-frontend",code="PERMISSION_DENIED"}',
    ),
    1,
  );
  t.equal(metricValue(text, 'relevance_gateway_client_requests_total{client="evaluator",code="OK"}'), 1);
});

t.test(
  "a CA-signed certificate whose CN names no client is refused when anonymous access is off",
  async (t) => {
    const s = await useGateway(t, {
      config: {
        server: {
          grpc: {
            host: "127.0.0.1",
            port: 0,
            tls: {
              certFile: fixturePath("server.crt"),
              keyFile: fixturePath("server.key"),
              clientCaFile: fixturePath("ca.crt"),
            },
          },
          admin: { host: "127.0.0.1", port: 0 },
        },
        auth: {
          anonymous: false,
          clients: [{ name: "other-service", certSubjects: ["other-service"] }],
        },
      },
    });
    const credentials = grpc.credentials.createSsl(
      fixture("ca.crt"),
      fixture("client.key"),
      fixture("client.crt"),
    );
    const client = new AuthScoreClient(s.target, credentials);
    t.teardown(() => client.close());
    const refused = await client.score({ documents: [doc("d1")] });
    t.equal(refused.ok ? "OK" : refused.code, grpc.status.UNAUTHENTICATED);
    if (!refused.ok) {
      t.equal(
        refused.details,
        'authorization: client certificate CN="search-frontend" is not a configured client',
      );
    }
    const text = await s.metricsText();
    t.equal(metricValue(text, 'relevance_gateway_auth_failures_total{reason="unknown_certificate"}'), 1);
  },
);
