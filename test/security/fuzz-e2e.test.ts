/**
 * Hostile input through a real gateway: a Triton simulator (student) and a
 * vLLM simulator (teacher) behind it, requests from a grpc-js client.
 * 500 generated calls: structured hostile requests, and arbitrary or
 * corrupted bytes as the request body. Every call gets OK (with a score per
 * document, in order) or a clean client-error status; afterwards the
 * gateway still answers a normal request.
 */

import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import t from "tap";
import { scoreServiceDefinition } from "../../src/api/server.js";
import { encodeScoreRequest, type ScoreResponseMessage } from "../../src/codec/index.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { hasLoneSurrogate, hostileRequest, mostlyValidRequest } from "./fuzz-arbitraries.js";

/** What a client may be answered for its own input; anything else is a gateway fault. */
const CLEAN = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]);
const DEADLINE_MS = 10_000;

function checkScores(response: ScoreResponseMessage, ids: readonly string[]): string | undefined {
  if (response.scores.length !== ids.length) return `${response.scores.length} scores for ${ids.length}`;
  for (const [i, s] of response.scores.entries()) {
    if (s.documentId !== ids[i]) return `score ${i} is for ${JSON.stringify(s.documentId)}`;
    const p = Array.from(s.probabilities);
    const sum = p.reduce((a, b) => a + b, 0);
    if (p.length !== 5 || p.some((x) => !(x >= 0 && x <= 1)) || Math.abs(sum - 1) > 1e-3) {
      return `score ${i}: probabilities ${JSON.stringify(p)}`;
    }
    if (!(s.label >= 1 && s.label <= 5)) return `score ${i}: label ${s.label}`;
  }
  return undefined;
}

t.test("hostile requests and bodies through a gateway: 500 calls", async (t) => {
  const stack = await useGateway(t, {
    teacher: {},
    config: {
      routing: { default: "student", experiments: [{ name: "teacher-eval", backend: "teacher" }] },
    },
  });
  const raw = new grpc.Client(stack.target, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const codes = new Map<string, number>();
  const count = (code: grpc.status) => {
    const name = grpc.status[code] ?? String(code);
    codes.set(name, (codes.get(name) ?? 0) + 1);
  };

  /** A body sent as is: the client does no encoding of its own. */
  function sendBytes(body: Buffer): Promise<grpc.ServiceError | undefined> {
    return new Promise((resolve) => {
      raw.makeUnaryRequest(
        scoreServiceDefinition.Score!.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + DEADLINE_MS },
        (err) => resolve(err ?? undefined),
      );
    });
  }

  await fc.assert(
    fc.asyncProperty(
      mostlyValidRequest({ loneSurrogates: false, maxRepeat: 8000, maxDocuments: 12, maxListItems: 12 }),
      async (m) => {
        const out = await stack.client.score(m, { deadlineMs: DEADLINE_MS });
        if (!out.ok) {
          count(out.code);
          if (!CLEAN.has(out.code)) throw new Error(`${grpc.status[out.code]}: ${out.details}`);
          if (hasLoneSurrogate(out.details)) throw new Error("status message not well-formed");
          return;
        }
        count(grpc.status.OK);
        const problem = checkScores(
          out.response,
          m.documents.map((d) => d.id),
        );
        if (problem) throw new Error(problem);
      },
    ),
    { numRuns: 300, seed: 921 },
  );

  const corrupted = fc
    .tuple(
      hostileRequest({ loneSurrogates: false, maxRepeat: 50, maxDocuments: 2, maxListItems: 3 }),
      fc.nat(),
      fc.uint8Array({ minLength: 1, maxLength: 6 }),
    )
    .map(([m, at, bytes]) => {
      const b = encodeScoreRequest(m);
      const i = b.length === 0 ? 0 : at % b.length;
      return Buffer.concat([b.subarray(0, i), bytes, b.subarray(i + bytes.length)]);
    });
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        corrupted,
      ),
      async (body) => {
        const err = await sendBytes(body);
        const code = err?.code ?? grpc.status.OK;
        count(code);
        if (!CLEAN.has(code)) throw new Error(`${grpc.status[code]}: ${err?.details}`);
      },
    ),
    { numRuns: 200, seed: 922 },
  );

  t.ok((codes.get("OK") ?? 0) > 80, "many calls succeeded");
  t.ok((codes.get("INVALID_ARGUMENT") ?? 0) > 50, "many were refused");
  t.comment(`codes: ${JSON.stringify(Object.fromEntries(codes))}`);
  const after = await stack.client.score({
    query: { text: "still alive", locale: "" },
    documents: [doc("a")],
  });
  t.ok(after.ok, "the gateway still serves a normal request");
});

t.test("a status message echoing huge client input stays small enough to arrive", async (t) => {
  const stack = await useGateway(t);
  // JSON-quoted and percent-encoded, 15,000 control characters would make a 120 KB trailer.
  const out = await stack.client.score(
    { query: { text: "q", locale: "" }, documents: [doc("a")], experiment: "\u000e".repeat(15_000) },
    { deadlineMs: DEADLINE_MS },
  );
  t.equal(out.ok ? "OK" : grpc.status[out.code], "INVALID_ARGUMENT");
  if (!out.ok) {
    t.match(out.details, /^experiment: unknown experiment/);
    t.ok(out.details.length <= 1025, `message cut to ${out.details.length} characters`);
  }
  const again = await stack.client.score({ query: { text: "q", locale: "" }, documents: [doc("a")] });
  t.ok(again.ok, "the same connection still works");
});
