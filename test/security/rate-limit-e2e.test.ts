import { status } from "@grpc/grpc-js";
import protobuf from "protobufjs";
import t from "tap";
import { RETRY_INFO_TYPE_URL } from "../../src/api/retry-info.js";
import { sha256Hex } from "../../src/security/api-key.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { AuthScoreClient, metricValue } from "./auth-client.js";

/**
 * Rate limits end to end: client A has a tiny bucket (1 document/s, burst
 * 10), client B none. Once A has spent its burst it is refused with retry
 * information while B, at the same moment, is served. No timing is relied on:
 * A's next request needs seconds of refill, far beyond the test's duration.
 */

const A_KEY = "client-a-0123456789abcdef";
const B_KEY = "client-b-0123456789abcdef";

const RPC_PROTO = `
syntax = "proto3";
package google.rpc;
message Any { string type_url = 1; bytes value = 2; }
message Duration { int64 seconds = 1; int32 nanos = 2; }
message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
message RetryInfo { Duration retry_delay = 1; }
`;

const docs = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => doc(`${prefix}${i}`));

t.test(
  "a client over its rate is refused with retry information; another client is unaffected",
  async (t) => {
    const s = await useGateway(t, {
      config: {
        auth: {
          anonymous: false,
          clients: [
            {
              name: "client-a",
              apiKeySha256: [sha256Hex(A_KEY)],
              rateLimit: { documentsPerSecond: 1, burstDocuments: 10 },
            },
            { name: "client-b", apiKeySha256: [sha256Hex(B_KEY)] },
          ],
        },
      },
    });
    const client = new AuthScoreClient(s.target);
    t.teardown(() => client.close());

    const first = await client.score({ documents: docs(10, "a") }, { apiKey: A_KEY });
    t.ok(first.ok, "A's burst of 10 documents is served");

    // A asks for 5 more while B asks for 10, at the same time.
    const [limited, other] = await Promise.all([
      client.score({ documents: docs(5, "a") }, { apiKey: A_KEY }),
      client.score({ documents: docs(10, "b") }, { apiKey: B_KEY }),
    ]);
    t.ok(other.ok, "B is served while A is limited");
    t.equal(limited.ok ? "OK" : limited.code, status.RESOURCE_EXHAUSTED);
    if (limited.ok) return;
    t.match(limited.details, /client client-a is over its rate limit; retry in \d+ ms/);
    t.same(limited.metadata.get("relevance-error-reason"), ["RATE_LIMITED"]);

    const retryAfter = limited.metadata.get("retry-after-ms");
    t.equal(retryAfter.length, 1);
    const retryAfterMs = Number(retryAfter[0]);
    t.ok(Number.isInteger(retryAfterMs), `retry-after-ms is an integer (${retryAfter[0]})`);
    // 5 documents at 1/s, minus the refill since A's first request.
    t.ok(retryAfterMs > 0 && retryAfterMs <= 5000, `retry-after-ms ${retryAfterMs} in (0, 5000]`);

    const details = limited.metadata.get("grpc-status-details-bin");
    t.equal(details.length, 1);
    const root = protobuf.parse(RPC_PROTO).root;
    const Status = root.lookupType("google.rpc.Status");
    const RetryInfo = root.lookupType("google.rpc.RetryInfo");
    const rpcStatus = Status.toObject(Status.decode(details[0] as Buffer), {
      longs: Number,
      bytes: Buffer,
    }) as {
      code: number;
      message: string;
      details: { typeUrl: string; value: Buffer }[];
    };
    t.equal(rpcStatus.code, status.RESOURCE_EXHAUSTED);
    t.equal(rpcStatus.message, limited.details);
    t.equal(rpcStatus.details[0]?.typeUrl, RETRY_INFO_TYPE_URL);
    const info = RetryInfo.toObject(RetryInfo.decode(rpcStatus.details[0]!.value), {
      longs: Number,
      defaults: true,
    }) as { retryDelay: { seconds: number; nanos: number } };
    t.equal(
      info.retryDelay.seconds * 1000 + info.retryDelay.nanos / 1e6,
      retryAfterMs,
      "RetryInfo = retry-after-ms",
    );

    // More than A's burst can never pass: a bad request, not a wait.
    const tooBig = await client.score({ documents: docs(11, "a") }, { apiKey: A_KEY });
    t.equal(tooBig.ok ? "OK" : tooBig.code, status.INVALID_ARGUMENT);
    if (!tooBig.ok)
      t.match(tooBig.details, /^documents: 11 documents exceed client client-a's rate-limit burst of 10/);

    // B keeps being served, however much it sends.
    for (let i = 0; i < 3; i++) {
      const b = await client.score({ documents: docs(50, `b${i}-`) }, { apiKey: B_KEY });
      t.ok(b.ok, `B request ${i}`);
    }

    const text = await s.metricsText();
    t.equal(metricValue(text, 'relevance_gateway_rate_limited_total{client="client-a"}'), 1);
    t.equal(metricValue(text, 'relevance_gateway_rate_limited_total{client="client-b"}'), 0);
    t.equal(
      metricValue(
        text,
        'relevance_gateway_client_requests_total{client="client-a",code="RESOURCE_EXHAUSTED"}',
      ),
      1,
    );
    t.equal(metricValue(text, 'relevance_gateway_client_requests_total{client="client-b",code="OK"}'), 4);
    t.equal(
      metricValue(
        text,
        'relevance_gateway_requests_total{route="none",backend="none",code="RESOURCE_EXHAUSTED"}',
      ),
      1,
      "counted in requests_total like any refusal before routing",
    );
  },
);
