import { status } from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { sha256Hex } from "../../src/security/api-key.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { AuthScoreClient, metricValue } from "./auth-client.js";

/**
 * Client identities end to end: a gateway with a student and a teacher
 * simulator on loopback, anonymous access off, two API-key clients with
 * different policies, called over real gRPC with `authorization` metadata.
 */

const FRONTEND_KEY = "frontend-0123456789abcdef";
const EVALUATOR_KEY = "evaluator-0123456789abcdef";
const ADMIN_TOKEN = "admin-token-0123456789";

const auth = {
  anonymous: false,
  clients: [
    { name: "search-frontend", apiKeySha256: [sha256Hex(FRONTEND_KEY)] },
    {
      name: "evaluator",
      apiKeySha256: [sha256Hex(EVALUATOR_KEY)],
      mayForceTeacher: true,
      experiments: ["teacher-eval"],
    },
  ],
};

async function stack(t: Test) {
  const s = await useGateway(t, {
    teacher: {},
    adminToken: ADMIN_TOKEN,
    config: {
      routing: { default: "student", experiments: [{ name: "teacher-eval", backend: "teacher" }] },
      auth,
    },
  });
  const client = new AuthScoreClient(s.target);
  t.teardown(() => client.close());
  return { ...s, authClient: client };
}

const docs = [doc("d1"), doc("d2")];

t.test("credentials: none, wrong or malformed → UNAUTHENTICATED; a known key → answered", async (t) => {
  const s = await stack(t);
  const none = await s.authClient.score({ documents: docs });
  t.equal(none.ok ? "OK" : none.code, status.UNAUTHENTICATED);
  if (!none.ok) {
    t.match(none.details, /^authorization: credentials required/);
    t.same(none.metadata.get("relevance-error-reason"), ["UNAUTHENTICATED"]);
  }
  const wrong = await s.authClient.score({ documents: docs }, { apiKey: "not-a-key" });
  t.equal(wrong.ok ? "OK" : wrong.code, status.UNAUTHENTICATED);
  if (!wrong.ok) t.equal(wrong.details, "authorization: unknown API key");
  const malformed = await s.authClient.score({ documents: docs }, { authorization: FRONTEND_KEY });
  t.equal(malformed.ok ? "OK" : malformed.code, status.UNAUTHENTICATED);
  if (!malformed.ok) t.equal(malformed.details, "authorization: expected 'Bearer <key>'");

  const ok = await s.authClient.score({ documents: docs, requestId: "r1" }, { apiKey: FRONTEND_KEY });
  t.ok(ok.ok, "the right key is served");
  if (ok.ok) {
    t.equal(ok.response.requestId, "r1");
    t.equal(ok.response.route, "bulk");
    t.same(
      ok.response.scores.map((x) => x.documentId),
      ["d1", "d2"],
    );
  }
  // The plain helper client sends no credentials at all.
  const plain = await s.client.score({ query: { text: "q", locale: "" }, documents: docs });
  t.equal(plain.ok ? "OK" : plain.code, status.UNAUTHENTICATED);

  const text = await s.metricsText();
  t.equal(metricValue(text, 'relevance_gateway_auth_failures_total{reason="missing"}'), 2);
  t.equal(metricValue(text, 'relevance_gateway_auth_failures_total{reason="unknown_key"}'), 1);
  t.equal(metricValue(text, 'relevance_gateway_auth_failures_total{reason="malformed"}'), 1);
  t.equal(
    metricValue(text, 'relevance_gateway_requests_total{route="none",backend="none",code="UNAUTHENTICATED"}'),
    4,
  );
  t.equal(
    metricValue(text, 'relevance_gateway_client_requests_total{client="search-frontend",code="OK"}'),
    1,
  );
});

t.test("policy: forcing the teacher and experiments need permission", async (t) => {
  const s = await stack(t);
  const forced = await s.authClient.score({ documents: docs, modelPreference: 2 }, { apiKey: FRONTEND_KEY });
  t.equal(forced.ok ? "OK" : forced.code, status.PERMISSION_DENIED);
  if (!forced.ok)
    t.match(forced.details, /^model_preference: client search-frontend may not force the teacher/);
  const experiment = await s.authClient.score(
    { documents: docs, experiment: "teacher-eval" },
    { apiKey: FRONTEND_KEY },
  );
  t.equal(experiment.ok ? "OK" : experiment.code, status.PERMISSION_DENIED);
  if (!experiment.ok) t.match(experiment.details, /^experiment: client search-frontend may not request/);

  const allowed = await s.authClient.score(
    { documents: docs, modelPreference: 2 },
    { apiKey: EVALUATOR_KEY },
  );
  t.ok(allowed.ok, "a client with mayForceTeacher");
  if (allowed.ok) {
    t.equal(allowed.response.route, "forced");
    t.equal(allowed.response.model?.backend, "teacher");
    t.equal(allowed.response.model?.role, 2, "answered by the teacher");
  }
  const evalRoute = await s.authClient.score(
    { documents: docs, experiment: "teacher-eval" },
    { apiKey: EVALUATOR_KEY },
  );
  t.ok(evalRoute.ok);
  if (evalRoute.ok) t.equal(evalRoute.response.route, "experiment:teacher-eval");

  const text = await s.metricsText();
  t.equal(
    metricValue(
      text,
      'relevance_gateway_permission_denied_total{client="search-frontend",reason="force_teacher"}',
    ),
    1,
  );
  t.equal(
    metricValue(
      text,
      'relevance_gateway_permission_denied_total{client="search-frontend",reason="experiment"}',
    ),
    1,
  );
  t.equal(
    metricValue(
      text,
      'relevance_gateway_client_requests_total{client="search-frontend",code="PERMISSION_DENIED"}',
    ),
    2,
  );
  t.equal(metricValue(text, 'relevance_gateway_client_requests_total{client="evaluator",code="OK"}'), 2);
});

t.test("auth changes live: a client added through the admin API is served without a restart", async (t) => {
  const s = await stack(t);
  const newKey = "new-client-0123456789abcdef";
  const before = await s.authClient.score({ documents: docs }, { apiKey: newKey });
  t.equal(before.ok ? "OK" : before.code, status.UNAUTHENTICATED);
  const res = await fetch(`${s.adminUrl}/admin/config`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/merge-patch+json" },
    body: JSON.stringify({
      auth: { clients: [...auth.clients, { name: "new-client", apiKeySha256: [sha256Hex(newKey)] }] },
    }),
  });
  t.equal(res.status, 200, await res.text());
  const after = await s.authClient.score({ documents: docs }, { apiKey: newKey });
  t.ok(after.ok, "the new key is accepted");
  const old = await s.authClient.score({ documents: docs }, { apiKey: FRONTEND_KEY });
  t.ok(old.ok, "the other clients are still served");
  // The effective config hides the key digests.
  const shown = (await (
    await fetch(`${s.adminUrl}/admin/config`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  ).json()) as {
    config: { auth: { clients: { apiKeySha256: unknown }[] } };
  };
  t.equal(shown.config.auth.clients[0]?.apiKeySha256, "[redacted]");
});
