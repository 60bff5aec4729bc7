/**
 * What the logs must never hold: credentials (the redaction paths of the
 * real logger, written to a stream and read back) and, at info level, query
 * and document text — through a real gateway, in success and in every kind
 * of failure (validation, a malformed body, backend errors, malformed
 * backend answers, deadlines, the shadow path, admin writes).
 */

import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { scoreServiceDefinition } from "../../src/api/server.js";
import { encodeScoreRequest, type ScoreRequestMessage } from "../../src/codec/index.js";
import { REDACTED } from "../../src/observability/logger.js";
import { capturedLogger } from "../helpers/captured-logger.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

t.test("the logger redacts credentials and key material", async (t) => {
  const { logger, text } = capturedLogger("debug");
  const secrets = Array.from({ length: 20 }, (_, i) => `secret-${i}-${randomUUID()}`);
  const s = (i: number) => secrets[i]!;
  const log = logger.child({ component: "test" });
  log.info({ authorization: `Bearer ${s(0)}`, token: s(1), apiKey: s(2), key: s(3) }, "top level");
  log.info(
    { headers: { authorization: s(4), "x-api-key": s(5), cookie: s(6), "proxy-authorization": s(7) } },
    "h",
  );
  log.info({ metadata: { authorization: [`Bearer ${s(8)}`] } }, "grpc metadata as an object");
  log.info({ req: { method: "PATCH", headers: { Authorization: `Bearer ${s(9)}` } } }, "an http request");
  log.info({ options: { headers: { authorization: s(10) } } }, "outgoing request options");
  log.info({ tls: { key: s(11), passphrase: s(12), cert: "public" } }, "tls options");
  log.info(
    { client: { apiKey: s(13) }, backend: { token: s(14) }, call: { authorization: s(15) } },
    "one level",
  );
  log.info({ password: s(16), secret: s(17), privateKey: s(18), adminToken: s(19) }, "other names");
  const err = Object.assign(new Error("call failed"), {
    metadata: { authorization: s(0) },
    headers: { authorization: s(1) },
  });
  log.error({ err }, "an error carrying metadata");
  const out = text();
  for (const [i, secret] of secrets.entries()) t.notOk(out.includes(secret), `secret ${i} is not in the log`);
  t.ok(out.split(REDACTED).length - 1 >= 22, "each was replaced by the censor");
  t.match(out, /"cert":"public"/, "what is not secret stays");
  t.match(out, /"method":"PATCH"/);
});

const SENTINEL = `sentinel${randomUUID().replaceAll("-", "")}`;
const TOKEN = `tok${randomUUID().replaceAll("-", "")}`;
const ADMIN_TOKEN = `admin-${randomUUID()}`;

/** Every text field of a request carries the sentinel. */
function sentinelRequest(overrides: Partial<ScoreRequestMessage> = {}): Partial<ScoreRequestMessage> {
  return {
    query: { text: `cookies ${SENTINEL}`, locale: "en" },
    documents: [
      doc("a", {
        title: `title ${SENTINEL}`,
        description: `description ${SENTINEL}`,
        imageCaption: `caption ${SENTINEL}`,
        boardTitles: [`board ${SENTINEL}`],
        engagedQueries: [`query ${SENTINEL}`],
        linkText: `link ${SENTINEL}`,
      }),
      doc("b", { title: `second ${SENTINEL}` }),
    ],
    ...overrides,
  };
}

function full(m: Partial<ScoreRequestMessage>): ScoreRequestMessage {
  return {
    requestId: "",
    query: undefined,
    documents: [],
    routingKey: "",
    experiment: "",
    priority: 0,
    modelPreference: 0,
    ...m,
  };
}

t.test("query and document text never reach the info log; credentials never reach any", async (t) => {
  const captured = capturedLogger("info");
  const stack = await useGateway(t, {
    logger: captured.logger,
    adminToken: ADMIN_TOKEN,
    teacher: {},
    config: {
      routing: {
        default: "student",
        experiments: [{ name: "teacher-eval", backend: "teacher" }],
        shadow: { backend: "teacher", percent: 100 },
      },
    },
  });
  const raw = new grpc.Client(stack.target, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const codes: string[] = [];
  const score = async (m: Partial<ScoreRequestMessage>, deadlineMs = 5000) => {
    const out = await stack.client.score(m, { deadlineMs });
    codes.push(out.ok ? "OK" : (grpc.status[out.code] ?? "?"));
    return out;
  };
  /** A call with credentials in its metadata; whatever it is answered, the credential is not logged. */
  const withCredentials = (metadata: Record<string, string>, body: Buffer) =>
    new Promise<void>((resolve) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      raw.makeUnaryRequest(
        scoreServiceDefinition.Score!.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        md,
        { deadline: Date.now() + 5000 },
        () => resolve(),
      );
    });

  // Successes: student, teacher (forced and by experiment); the shadow mirrors the student's.
  t.ok((await score(sentinelRequest())).ok, "student OK");
  t.ok((await score(sentinelRequest({ modelPreference: 2 }))).ok, "forced teacher OK");
  t.ok((await score(sentinelRequest({ experiment: "teacher-eval" }))).ok, "experiment OK");

  // Validation failures, each carrying the sentinel in the text around the bad field.
  await score(sentinelRequest({ query: { text: " ", locale: SENTINEL } }));
  await score({ ...sentinelRequest(), documents: [doc("a", { title: SENTINEL.repeat(3000) })] });
  await score({
    ...sentinelRequest(),
    documents: [doc("a", { title: SENTINEL }), doc("a", { title: SENTINEL })],
  });
  await score(sentinelRequest({ priority: 9 }));
  await score(sentinelRequest({ experiment: "no-such-experiment" }));

  // A body that is not a ScoreRequest, with the sentinel inside.
  const valid = encodeScoreRequest(full(sentinelRequest()));
  await withCredentials({}, Buffer.concat([valid, Buffer.from([0xff, 0xff])]));

  // Credentials in metadata: valid-looking, malformed, and on a call that fails validation.
  await withCredentials({ authorization: `Bearer ${TOKEN}` }, valid);
  await withCredentials({ authorization: `Basic ${TOKEN}`, "x-api-key": TOKEN }, valid);
  await withCredentials(
    { authorization: `Bearer ${TOKEN}` },
    encodeScoreRequest(full(sentinelRequest({ priority: 7 }))),
  );

  // Backend faults: errors, malformed answers, hangs past the deadline; teacher faults on every path.
  stack.teacherSim!.setFaults({ malformedRate: 1, malformed: "bad-json" });
  await score(sentinelRequest({ modelPreference: 2 }));
  await score(sentinelRequest());
  stack.teacherSim!.setFaults({ errorRate: 1 });
  await score(sentinelRequest({ experiment: "teacher-eval" }));
  stack.teacherSim!.clearFaults();
  for (const malformed of ["missing-output", "wrong-shape", "short-raw"]) {
    stack.sim.setFaults({ malformedRate: 1, malformed });
    await score(sentinelRequest());
  }
  stack.sim.setFaults({ errorRate: 1 });
  await score(sentinelRequest());
  stack.sim.setFaults({ hangRate: 1 });
  await score(sentinelRequest(), 300);
  stack.sim.clearFaults();

  // Admin writes with a wrong and the right token.
  const patch = (token: string) =>
    fetch(`${stack.adminUrl}/admin/config`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ backends: { student: { batching: { maxBatchSize: 32 } } } }),
    });
  t.equal((await patch(TOKEN)).status, 401, "wrong admin token refused");
  t.equal((await patch(ADMIN_TOKEN)).status, 200, "admin change applied");

  // The shadow path runs behind the answers: a last request's comparison is the positive event
  // that it has caught up (mirrored work is taken in order), before the log is checked for absences.
  const compared = async () => {
    const metrics = await stack.metricsText();
    return [...metrics.matchAll(/^relevance_gateway_shadow_comparisons_total(?:\{[^}]*\})? (\S+)$/gm)]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
  };
  const before = await compared();
  t.ok((await score(sentinelRequest())).ok, "a last request, mirrored to the teacher");
  const deadline = Date.now() + 15_000;
  while ((await compared()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.equal(await compared(), before + 1, "its shadow comparison was made");
  const text = captured.text();
  const lines = captured.lines();
  t.comment(`answers: ${codes.join(" ")}`);
  for (const code of ["OK", "INVALID_ARGUMENT", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"]) {
    t.ok(codes.includes(code), `the run included ${code}`);
  }
  t.ok(lines.filter((l) => l.level === 50).length > 0, "errors were logged (with their err)");
  t.ok(
    lines.filter((l) => l.level === 30 && typeof l.reason === "string").length >= 8,
    "failures were logged",
  );
  t.notOk(text.includes(SENTINEL), "no query or document text in the log");
  t.notOk(text.includes(TOKEN), "no client credential in the log");
  t.notOk(text.includes(ADMIN_TOKEN), "no admin token in the log");
});
