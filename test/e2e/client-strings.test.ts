import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { capturedLogger } from "../helpers/captured-logger.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { startOtlpReceiver } from "../tracing/otlp-receiver.js";

const SCORE = "relevance.v1.RelevanceService/Score";
const MiB = 1024 * 1024;
/** The echo cap (128 characters) written out here rather than imported: the test states the contract. */
const CAP = 128;
const capped = (c: string, n: number) => `${c.repeat(CAP)}…(+${n - CAP} chars)`;
/** The longest a capped echo can be: 128 characters plus the marker of a 7-digit count. */
const MAX_ECHO = CAP + "…(+1234567 chars)".length;
const query = { text: "chocolate chip cookies", locale: "en" };

/** The longest run of `c` in `text`: what of a client string of `c`s got through. */
function longestRun(text: string, c: string): number {
  let best = 0;
  let run = 0;
  for (const ch of text) {
    run = ch === c ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

t.test(
  "client strings of up to 1 MiB are capped in log lines, span attributes, status messages and the comparison log",
  async (t) => {
    const logs = capturedLogger("debug");
    const receiver = await startOtlpReceiver(t);
    const dir = mkdtempSync(join(tmpdir(), "rg-client-strings-"));
    const { client, gateway, metricsText } = await useGateway(t, {
      logger: logs.logger,
      teacher: {},
      config: {
        tracing: { enabled: true, otlpEndpoint: receiver.url, exportIntervalMs: 20 },
        routing: {
          default: "student",
          shadow: { backend: "teacher", percent: 100 },
          experiments: [{ name: "exp-a", backend: "student" }],
        },
        comparisonLog: { dir },
      },
    });

    // 1. A request_id of 1 MiB: validation rejects it, naming the field.
    const huge = await client.score({ requestId: "r".repeat(MiB), query, documents: [doc("a")] });
    t.equal(huge.ok ? grpc.status.OK : huge.code, grpc.status.INVALID_ARGUMENT);
    t.equal(
      huge.ok ? "" : huge.details,
      `request_id: ${MiB} bytes exceeds the limit of ${64 * 1024}`,
      "the status names the field",
    );

    // 2. An experiment name of 64 KiB (within the field limit) that is not configured.
    const exp = await client.score({ experiment: "e".repeat(64 * 1024), query, documents: [doc("a")] });
    t.equal(exp.ok ? grpc.status.OK : exp.code, grpc.status.INVALID_ARGUMENT);
    const expDetails = exp.ok ? "" : exp.details;
    t.ok(
      expDetails.startsWith("experiment: unknown experiment "),
      `the status names the field: ${expDetails}`,
    );
    t.ok(
      expDetails.includes(`${JSON.stringify("e".repeat(CAP))}…(+${64 * 1024 - CAP} chars)`),
      "…cut and marked",
    );
    t.equal(longestRun(expDetails, "e"), CAP, "no more than the cap of the name in the status");

    // 3. A valid request with a 64 KiB request_id and routing_key: answered, echoed whole, mirrored to the teacher.
    const longId = "v".repeat(64 * 1024);
    const ok = await client.score({
      requestId: longId,
      routingKey: "k".repeat(64 * 1024),
      query,
      documents: [doc("d0"), doc("d1")],
    });
    t.ok(ok.ok && ok.response.requestId === longId, "the response carries the request_id as sent");

    // Positive events first: the three Score spans exported, the comparison made.
    await receiver.waitFor((spans) => spans.filter((s) => s.name === SCORE).length >= 3);
    for (let i = 0; i < 400; i++) {
      if (/^relevance_gateway_shadow_comparisons_total\{[^}]*\} 1$/m.test(await metricsText())) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await gateway.shutdown(); // flushes the comparison log and the last spans

    const lines = logs.text().split("\n").filter(Boolean);
    const rejected = lines.find((l) => l.includes(`"msg":"request_id: ${MiB} bytes exceeds`));
    t.ok(rejected, "the rejected request was logged");
    t.match(JSON.parse(rejected ?? "{}"), { requestId: capped("r", MiB) }, "…with its request_id capped");
    const scored = lines.find((l) => l.includes('"msg":"scored"'));
    t.match(JSON.parse(scored ?? "{}"), { requestId: capped("v", 64 * 1024) }, "the answered one too");
    const longest = Math.max(...lines.map((l) => l.length));
    t.ok(longest <= 4096, `no log line over 4 KiB (longest ${longest} of ${lines.length})`);

    const scores = receiver.spans.filter((s) => s.name === SCORE);
    t.same(
      scores.map((s) => s.attributes["relevance.request_id"]).sort(),
      [capped("r", MiB), capped("v", 64 * 1024), generatedId(scores)].sort(),
      "request_id attributes are capped",
    );
    for (const span of receiver.spans) {
      for (const [key, value] of Object.entries(span.attributes)) {
        if (typeof value === "string")
          t.ok(value.length <= MAX_ECHO, `${span.name} ${key}: ${value.length} chars`);
      }
      t.ok(
        span.statusMessage.length <= 1024,
        `${span.name} status message: ${span.statusMessage.length} chars`,
      );
      t.ok(longestRun(span.statusMessage, "e") <= CAP, `${span.name} status message echoes at most the cap`);
    }

    const records = readdirSync(dir)
      .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n"))
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { requestId: string; documents: { id: string }[] });
    t.equal(records.length, 1, "one comparison logged");
    t.equal(records[0]?.requestId, capped("v", 64 * 1024), "the comparison log's request_id is capped");
    t.same(
      records[0]?.documents.map((d) => d.id),
      ["d0", "d1"],
      "document ids are kept: they key the dataset",
    );
  },
);

/** The experiment request sent no request_id: its span carries the generated one (a UUID, under the cap). */
function generatedId(scores: readonly { attributes: Readonly<Record<string, unknown>> }[]): string {
  const generated = scores
    .map((s) => String(s.attributes["relevance.request_id"]))
    .find((id) => /^[0-9a-f-]{36}$/.test(id));
  return generated ?? "a generated request id";
}
