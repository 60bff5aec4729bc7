/**
 * The admin API's audit trail: every write attempt (PATCH /admin/config,
 * POST /admin/reload) leaves one record with the remote address, method,
 * path, outcome, HTTP status, changed or refused paths and a fingerprint of
 * the token presented; refused credentials are recorded too; the token
 * itself never appears in the log, and reads leave no record.
 */

import { createHash, randomUUID } from "node:crypto";
import t from "tap";
import { capturedLogger } from "../helpers/captured-logger.js";
import { useGateway } from "../helpers/use-gateway.js";

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const WRONG_TOKEN = `wrong-${randomUUID()}`;
const fingerprint = (token: string) => createHash("sha256").update(token).digest("hex").slice(0, 8);

function auditLogger() {
  const captured = capturedLogger();
  return { ...captured, audits: () => captured.lines().filter((l) => l.audit === "admin") };
}

async function request(
  url: string,
  opts: { method: string; token?: string; authorization?: string; body?: string; contentType?: string },
): Promise<number> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  if (opts.body !== undefined) headers["content-type"] = opts.contentType ?? "application/merge-patch+json";
  const res = await fetch(url, { method: opts.method, headers, ...(opts.body ? { body: opts.body } : {}) });
  await res.arrayBuffer();
  return res.status;
}

const batchSize = (n: unknown) =>
  JSON.stringify({ backends: { student: { batching: { maxBatchSize: n } } } });

t.test("every admin write attempt is audited, without the token", async (t) => {
  const captured = auditLogger();
  const { adminUrl } = await useGateway(t, { logger: captured.logger, adminToken: ADMIN_TOKEN });
  const config = `${adminUrl}/admin/config`;

  const steps: [string, () => Promise<number>, number][] = [
    ["read", () => request(config, { method: "GET", token: ADMIN_TOKEN }), 200],
    ["no token", () => request(config, { method: "PATCH", body: batchSize(32) }), 401],
    ["wrong token", () => request(config, { method: "PATCH", token: WRONG_TOKEN, body: batchSize(32) }), 401],
    [
      "not a bearer token",
      () => request(config, { method: "PATCH", authorization: `Basic ${WRONG_TOKEN}`, body: batchSize(32) }),
      401,
    ],
    ["applied", () => request(config, { method: "PATCH", token: ADMIN_TOKEN, body: batchSize(32) }), 200],
    ["unchanged", () => request(config, { method: "PATCH", token: ADMIN_TOKEN, body: batchSize(32) }), 200],
    [
      "invalid value",
      () => request(config, { method: "PATCH", token: ADMIN_TOKEN, body: batchSize(-1) }),
      400,
    ],
    [
      "restart-only key",
      () =>
        request(config, {
          method: "PATCH",
          token: ADMIN_TOKEN,
          body: JSON.stringify({ server: { grpc: { port: 1 } } }),
        }),
      409,
    ],
    ["not JSON", () => request(config, { method: "PATCH", token: ADMIN_TOKEN, body: "{" }), 400],
    [
      "wrong content type",
      () => request(config, { method: "PATCH", token: ADMIN_TOKEN, body: "{}", contentType: "text/plain" }),
      415,
    ],
    [
      "reload without a file",
      () => request(`${adminUrl}/admin/reload`, { method: "POST", token: ADMIN_TOKEN }),
      409,
    ],
  ];
  for (const [name, run, expected] of steps) {
    t.equal(await run(), expected, `${name}: HTTP ${expected}`);
  }

  const audits = captured.audits();
  t.equal(audits.length, steps.length - 1, "one record per write, none for the read");
  for (const a of audits) {
    t.match(a, {
      component: "admin",
      method: /^(PATCH|POST)$/,
      path: /^\/admin\/(config|reload)$/,
      remoteAddress: /127\.0\.0\.1/,
      outcome: /^(applied|rejected|unauthorized)$/,
      status: Number,
    });
  }
  const [noToken, wrong, notBearer, applied, unchanged, invalid, restartOnly, notJson, wrongType, reload] =
    audits;
  t.match(noToken, { outcome: "unauthorized", status: 401, tokenFingerprint: null, level: 40 });
  t.match(wrong, { outcome: "unauthorized", status: 401, tokenFingerprint: fingerprint(WRONG_TOKEN) });
  t.match(notBearer, { outcome: "unauthorized", tokenFingerprint: "malformed" });
  t.match(applied, {
    action: "patch",
    outcome: "applied",
    status: 200,
    tokenFingerprint: fingerprint(ADMIN_TOKEN),
    changedPaths: ["backends.student.batching.maxBatchSize"],
    generation: 2,
    level: 30,
  });
  t.match(unchanged, { outcome: "applied", changedPaths: [] });
  t.match(invalid, {
    outcome: "rejected",
    status: 400,
    refusedPaths: ["backends.student.batching.maxBatchSize"],
  });
  t.match(restartOnly, { outcome: "rejected", status: 409 });
  t.ok(
    (restartOnly?.refusedPaths as string[] | undefined)?.some((p) => p.startsWith("server.grpc")),
    "the restart-only refusal names the key",
  );
  t.match(notJson, { outcome: "rejected", status: 400 });
  t.match(wrongType, { outcome: "rejected", status: 415 });
  t.match(reload, {
    action: "reload",
    method: "POST",
    path: "/admin/reload",
    outcome: "rejected",
    status: 409,
  });

  const text = captured.text();
  t.notOk(text.includes(ADMIN_TOKEN), "the admin token is not in the log");
  t.notOk(text.includes(WRONG_TOKEN), "a refused token is not in the log");
});

t.test("writes while disabled are audited", async (t) => {
  const captured = auditLogger();
  const { adminUrl } = await useGateway(t, { logger: captured.logger });
  t.equal(
    await request(`${adminUrl}/admin/config`, { method: "PATCH", token: WRONG_TOKEN, body: "{}" }),
    403,
  );
  t.match(captured.audits(), [
    { outcome: "disabled", status: 403, tokenFingerprint: fingerprint(WRONG_TOKEN), level: 40 },
  ]);
  t.notOk(captured.text().includes(WRONG_TOKEN));
});
