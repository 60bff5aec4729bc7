import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import protobuf from "protobufjs";
import t from "tap";
import { encodeRetryStatus, RETRY_INFO_TYPE_URL } from "../../src/api/retry-info.js";
import { securityMetrics } from "../../src/observability/security-metrics.js";
import { AuthenticatedClient } from "../../src/security/client-policy.js";
import { TokenBucket } from "../../src/security/token-bucket.js";
import { FakeClock } from "../helpers/fake-clock.js";

const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;

t.test("a bucket starts full, takes all or nothing, and refills at its rate up to the burst", async (t) => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ perSecond: 100, burst: 50 }, clock);
  t.equal(bucket.take(30), 0, "30 of 50");
  t.ok(near(bucket.tokens, 20));
  // 40 needs 20 more tokens: 200 ms at 100/s; nothing is taken meanwhile.
  t.equal(bucket.take(40), 200);
  t.ok(near(bucket.tokens, 20), "a refused take costs nothing");
  await clock.advance(100);
  t.ok(near(bucket.tokens, 30), "+10 after 100 ms");
  t.equal(bucket.take(40), 100, "the wait shrinks as time passes");
  await clock.advance(100);
  t.equal(bucket.take(40), 0, "exactly enough after the announced wait");
  t.ok(near(bucket.tokens, 0));
  await clock.advance(60_000);
  t.ok(near(bucket.tokens, 50), "never above the burst however long it rests");
});

t.test("the announced wait is rounded up to whole milliseconds and is at least 1", async (t) => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ perSecond: 3, burst: 3 }, clock);
  t.equal(bucket.take(3), 0);
  t.equal(bucket.take(1), 334, "1 token at 3/s: 333.3 ms → 334");
  await clock.advance(333);
  t.equal(bucket.take(1), 1, "a fraction of a millisecond short still waits 1 ms");
});

t.test("slow rates: 1 document per second, burst 10", async (t) => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ perSecond: 1, burst: 10 }, clock);
  for (let i = 0; i < 10; i++) t.equal(bucket.take(1), 0);
  t.equal(bucket.take(1), 1000);
  t.equal(bucket.take(5), 5000);
  await clock.advance(2500);
  t.equal(bucket.take(2), 0);
  t.equal(bucket.take(1), 500);
});

function client(
  policy: Partial<ConstructorParameters<typeof AuthenticatedClient>[1]>,
  clock = new FakeClock(),
  registry = new Registry(),
) {
  return new AuthenticatedClient(
    "search-frontend",
    { mayForceTeacher: false, experiments: [], maxDocumentsPerRequest: null, rateLimit: null, ...policy },
    { clock, metrics: securityMetrics(registry) },
  );
}

const request = (documents: number, extra: { modelPreference?: string; experiment?: string } = {}) => ({
  documentCount: documents,
  modelPreference: extra.modelPreference ?? "unspecified",
  experiment: extra.experiment ?? "",
});

t.test("a client's policy: permissions first, then its cap, then its rate", async (t) => {
  const registry = new Registry();
  const c = client(
    {
      experiments: ["teacher-eval"],
      maxDocumentsPerRequest: 20,
      rateLimit: { documentsPerSecond: 10, burstDocuments: 15 },
    },
    new FakeClock(),
    registry,
  );
  t.notOk(c.unrestricted);
  const teacher = c.admit(request(1, { modelPreference: "teacher" }));
  t.equal(teacher?.code, status.PERMISSION_DENIED);
  t.match(teacher?.message, /^model_preference: client search-frontend may not force the teacher/);
  const experiment = c.admit(request(1, { experiment: "other" }));
  t.equal(experiment?.code, status.PERMISSION_DENIED);
  t.match(experiment?.message, /^experiment: client search-frontend may not request experiment "other"/);
  t.equal(c.admit(request(1, { experiment: "teacher-eval" })), undefined, "a listed experiment");
  const tooMany = c.admit(request(21));
  t.equal(tooMany?.code, status.INVALID_ARGUMENT);
  t.match(tooMany?.message, /^documents: 21 documents exceed client search-frontend's limit of 20/);
  const overBurst = c.admit(request(16));
  t.equal(overBurst?.code, status.INVALID_ARGUMENT, "more than the burst can never pass");
  t.match(
    overBurst?.message,
    /^documents: 16 documents exceed client search-frontend's rate-limit burst of 15/,
  );
  // 1 token was taken by the teacher-eval request; refusals took none.
  t.ok(near(c.bucket?.tokens ?? Number.NaN, 14));
  t.equal(c.admit(request(14)), undefined);
  const limited = c.admit(request(5));
  t.equal(limited?.reason, "RATE_LIMITED");
  t.equal(limited?.code, status.RESOURCE_EXHAUSTED);
  t.equal(limited?.retryAfterMs, 500);
  t.match(limited?.message, /client search-frontend is over its rate limit; retry in 500 ms/);
  const text = await registry.metrics();
  t.match(
    text,
    /relevance_gateway_permission_denied_total\{client="search-frontend",reason="force_teacher"\} 1/,
  );
  t.match(
    text,
    /relevance_gateway_permission_denied_total\{client="search-frontend",reason="experiment"\} 1/,
  );
  t.match(text, /relevance_gateway_rate_limited_total\{client="search-frontend"\} 1/);
});

t.test("an unrestricted policy checks nothing and has no bucket", async (t) => {
  const c = client({ mayForceTeacher: true, experiments: ["*"] });
  t.ok(c.unrestricted);
  t.equal(c.bucket, undefined);
  t.equal(c.admit(request(100_000, { modelPreference: "teacher", experiment: "anything" })), undefined);
  t.notOk(client({ mayForceTeacher: true, experiments: ["*"], maxDocumentsPerRequest: 5 }).unrestricted);
  t.notOk(client({ mayForceTeacher: true, experiments: ["a"] }).unrestricted);
});

t.test("requests per client are counted without labels on the request path, and scraped", async (t) => {
  const registry = new Registry();
  const c = client({}, new FakeClock(), registry);
  c.count(status.OK);
  c.count(status.OK);
  c.count(status.RESOURCE_EXHAUSTED);
  const text = await registry.metrics();
  t.match(text, /relevance_gateway_client_requests_total\{client="search-frontend",code="OK"\} 2/);
  t.match(
    text,
    /relevance_gateway_client_requests_total\{client="search-frontend",code="RESOURCE_EXHAUSTED"\} 1/,
  );
  // A rebuilt client (a reload) keeps counting into the same series.
  client({}, new FakeClock(), registry).count(status.OK);
  t.match(await registry.metrics(), /client="search-frontend",code="OK"\} 3/);
});

const RPC_PROTO = `
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Duration { int64 seconds = 1; int32 nanos = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
message RetryInfo { Duration retry_delay = 1; }
`;

t.test(
  "grpc-status-details-bin is a google.rpc.Status with a RetryInfo, as protobufjs decodes it",
  async (t) => {
    const root = protobuf.parse(RPC_PROTO).root;
    const Status = root.lookupType("google.rpc.Status");
    const RetryInfo = root.lookupType("google.rpc.RetryInfo");
    for (const delayMs of [1, 999, 1000, 1500, 61_001, 3_600_000]) {
      const message = `documents: client a is over its rate limit; retry in ${delayMs} ms — ünïcode`;
      const bytes = encodeRetryStatus(status.RESOURCE_EXHAUSTED, message, delayMs);
      const decoded = Status.toObject(Status.decode(bytes), { longs: Number, bytes: Buffer }) as {
        code: number;
        message: string;
        details: { typeUrl: string; value: Buffer }[];
      };
      t.equal(decoded.code, status.RESOURCE_EXHAUSTED);
      t.equal(decoded.message, message);
      t.equal(decoded.details.length, 1);
      t.equal(decoded.details[0]?.typeUrl, RETRY_INFO_TYPE_URL);
      const info = RetryInfo.toObject(RetryInfo.decode(decoded.details[0]!.value), {
        longs: Number,
        defaults: true,
      }) as { retryDelay: { seconds: number; nanos: number } };
      t.equal(info.retryDelay.seconds * 1000 + info.retryDelay.nanos / 1e6, delayMs, `${delayMs} ms`);
      // Byte for byte what protobufjs writes for the same message (proto3: zero fields left out).
      const seconds = Math.floor(delayMs / 1000);
      const nanos = (delayMs % 1000) * 1e6;
      const value = RetryInfo.encode(
        RetryInfo.fromObject({
          retryDelay: { ...(seconds > 0 ? { seconds } : {}), ...(nanos > 0 ? { nanos } : {}) },
        }),
      ).finish();
      const expected = Status.encode(
        Status.fromObject({
          code: status.RESOURCE_EXHAUSTED,
          message,
          details: [{ typeUrl: RETRY_INFO_TYPE_URL, value }],
        }),
      ).finish();
      t.same(Buffer.from(bytes), Buffer.from(expected));
    }
  },
);
