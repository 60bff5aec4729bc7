/**
 * Hostile answers from a backend: an HTTP server in vLLM's place answers
 * every `/classify` with a generated status and body (error shapes whose
 * messages hold lone surrogates, control characters and huge text; bodies
 * that are not JSON or not UTF-8; classify shapes with wrong numbers). 200
 * generated answers. Each call through the gateway ends at once in OK with
 * valid scores, or in a status whose message can travel; the gateway lives on.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import t, { type Test } from "tap";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { hasLoneSurrogate, hostileText } from "./fuzz-arbitraries.js";

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

const message = hostileText({ loneSurrogates: true, maxRepeat: 5000 });
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** Mostly five plausible numbers (sometimes a valid answer), else anything. */
const probabilities = fc.oneof(
  fc.constantFrom([0.1, 0.2, 0.3, 0.2, 0.2], [1, 0, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.2000001]),
  fc.array(fc.double({ min: -1, max: 2 }), { minLength: 5, maxLength: 5 }),
  fc.array(fc.oneof(fc.constant(0.2), fc.double(), fc.integer(), fc.constant(null), fc.string()), {
    maxLength: 7,
  }),
);

const hostileAnswer: fc.Arbitrary<Answer> = fc.record({
  status: fc.constantFrom(200, 200, 400, 404, 413, 422, 429, 500, 502, 503),
  contentType: fc.constantFrom("application/json", "text/html; charset=utf-8", "application/octet-stream"),
  body: fc.oneof(
    message.map((m) => json({ error: { message: m, type: "BadRequestError", param: null, code: 400 } })),
    message.map((m) => json({ error: { message: m, param: "model" } })),
    message.map((m) => json({ object: "error", message: m })),
    message.map((m) => json({ detail: [{ loc: ["body", m], msg: m }] })),
    message.map((m) => json({ error: m })),
    message.map((m) => Buffer.from(m)),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 3 }).map(json),
    fc
      .array(
        fc.record({
          index: fc.oneof(fc.constant(0), fc.integer()),
          probs: probabilities,
          num_classes: fc.constantFrom(5, 4, "5"),
        }),
        {
          minLength: 1,
          maxLength: 2,
        },
      )
      .map((data) => json({ id: "classify-1", object: "list", data })),
  ),
});

/** Some valid answers among the hostile ones, so the OK path is checked too. */
const answer: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 4, arbitrary: hostileAnswer },
  {
    weight: 1,
    arbitrary: probabilities.map((probs) => ({
      status: 200,
      contentType: "application/json",
      body: json({ object: "list", data: [{ index: 0, object: "classify", probs, num_classes: 5 }] }),
    })),
  },
);

/** A vLLM stand-in: healthy, serving the model, and answering `/classify` with `next`. */
async function hostileVllm(t: Test) {
  let next: Answer = { status: 500, contentType: "text/plain", body: Buffer.from("not set") };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/health") {
        res.writeHead(200).end();
      } else if (req.url === "/v1/models") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "relevance-teacher", max_model_len: 4096 }] }));
      } else {
        res.writeHead(next.status, { "content-type": next.contentType }).end(next.body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answer(a: Answer) {
      next = a;
    },
  };
}

t.test("hostile teacher answers end in clean statuses: 200 cases", async (t) => {
  const vllm = await hostileVllm(t);
  const stack = await useGateway(t, {
    teacher: {
      backend: {
        endpoints: [vllm.url],
        // Every answer must reach the gateway's mapping: no breaker, ejection or retry in between.
        breaker: { volumeThreshold: 1_000_000 },
        outlierDetection: { consecutiveFailures: 1_000_000 },
        retry: { enabled: false },
      },
    },
  });
  const codes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(answer, async (a) => {
      vllm.answer(a);
      const out = await stack.client.score(
        { query: { text: "sofa", locale: "" }, documents: [doc("a")], modelPreference: 2 },
        { deadlineMs: 10_000 },
      );
      const code = out.ok ? "OK" : (grpc.status[out.code] ?? String(out.code));
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (out.ok) {
        const p = Array.from(out.response.scores[0]?.probabilities ?? []);
        const sum = p.reduce((x, y) => x + y, 0);
        if (p.length !== 5 || p.some((x) => !(x >= 0 && x <= 1)) || Math.abs(sum - 1) > 1e-3) {
          throw new Error(`OK with probabilities ${JSON.stringify(p)}`);
        }
        return;
      }
      if (!["INTERNAL", "UNAVAILABLE", "RESOURCE_EXHAUSTED"].includes(code)) {
        throw new Error(`${code}: ${out.details.slice(0, 200)}`);
      }
      if (hasLoneSurrogate(out.details) || out.details.length > 1025) {
        throw new Error(`status message of ${out.details.length} characters, not well-formed`);
      }
    }),
    { numRuns: 200, seed: 931 },
  );
  t.comment(`codes: ${JSON.stringify(Object.fromEntries(codes))}`);
  t.ok((codes.get("INTERNAL") ?? 0) > 20, "malformed answers are INTERNAL");
  t.ok((codes.get("OK") ?? 0) > 0, "valid answers among them are OK");
  const student = await stack.client.score({ query: { text: "sofa", locale: "" }, documents: [doc("a")] });
  t.ok(student.ok, "the gateway still serves the student path");
});
