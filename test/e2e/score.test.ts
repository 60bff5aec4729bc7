import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t from "tap";
import { encodeScoreRequest } from "../../src/codec/index.js";
import { expectedProbabilities } from "../helpers/expected-scores.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

t.test("Score answers every document with the simulator's scores, in request order", async (t) => {
  const { client } = await useGateway(t);
  const documents = [
    doc("a", {
      title: "Chocolate chip cookies",
      boardTitles: ["Baking", "Desserts"],
      engagedQueries: ["cookie recipe"],
    }),
    doc("b", { title: "東京の桜", description: "春の写真", imageCaption: "cherry blossoms 🌸" }),
    doc("c", { title: "حديقة", linkText: "garden ideas" }),
  ];
  const out = await client.score({
    requestId: "req-1",
    query: { text: "chocolate cookies", locale: "en" },
    documents,
  });
  t.ok(out.ok, "answered OK");
  if (!out.ok) return;
  const r = out.response;
  t.equal(r.requestId, "req-1");
  t.equal(r.route, "bulk");
  t.same(r.model, { role: 1, name: "relevance_student", version: "1", backend: "student" });
  t.same(
    r.scores.map((s) => s.documentId),
    ["a", "b", "c"],
  );
  for (const [i, s] of r.scores.entries()) {
    const expected = expectedProbabilities("chocolate cookies", documents[i]!);
    t.same(Array.from(s.probabilities), expected, `probabilities of ${s.documentId}`);
    const er = expected.reduce((acc, p, k) => acc + (k + 1) * p, 0);
    t.ok(Math.abs(s.expectedRelevance - er) < 1e-5, "expected relevance = Σ k·p_k");
    t.equal(s.label, expected.indexOf(Math.max(...expected)) + 1, "label = argmax");
  }
});

t.test("a request id is generated when empty", async (t) => {
  const { client } = await useGateway(t);
  const out = await client.score({ query: { text: "q", locale: "" }, documents: [doc("a")] });
  t.ok(out.ok && /^[0-9a-f-]{36}$/.test(out.response.requestId), "a UUID");
});

t.test("every bad input gets INVALID_ARGUMENT naming the field", async (t) => {
  const { client } = await useGateway(t, {
    config: { limits: { maxDocumentsPerRequest: 5, maxFieldBytes: 1000 } },
  });
  const q = { text: "q", locale: "" };
  const cases: [string, Parameters<typeof client.score>[0], RegExp][] = [
    [
      "empty query",
      { query: { text: "  ", locale: "" }, documents: [doc("a")] },
      /^query\.text: must not be empty/,
    ],
    ["no query", { documents: [doc("a")] }, /^query\.text: must not be empty/],
    ["no documents", { query: q, documents: [] }, /^documents: must contain at least one document/],
    [
      "too many documents",
      { query: q, documents: ["a", "b", "c", "d", "e", "f"].map((id) => doc(id)) },
      /^documents: 6 documents exceed the limit of 5 per request/,
    ],
    [
      "document without id",
      { query: q, documents: [doc("a"), doc("")] },
      /^documents\[1\]\.id: must not be empty/,
    ],
    [
      "duplicate ids",
      { query: q, documents: [doc("a"), doc("b"), doc("a")] },
      /^documents\[2\]\.id: duplicate id "a" \(first used by documents\[0\]\)/,
    ],
    [
      "oversized field",
      { query: q, documents: [doc("a", { description: "x".repeat(1001) })] },
      /^documents\[0\]\.description: 1001 bytes exceeds the limit of 1000/,
    ],
    [
      "unknown experiment",
      { query: q, documents: [doc("a")], experiment: "nope" },
      /^experiment: unknown experiment "nope"/,
    ],
    ["unknown priority", { query: q, documents: [doc("a")], priority: 7 }, /^priority: unknown value 7/],
  ];
  for (const [name, request, message] of cases) {
    const out = await client.score(request);
    t.equal(out.ok ? grpc.status.OK : out.code, grpc.status.INVALID_ARGUMENT, `${name}: INVALID_ARGUMENT`);
    if (!out.ok) {
      t.match(out.details, message, `${name}: message names the field`);
      t.same(out.metadata.get("relevance-error-reason"), ["INVALID_REQUEST"]);
    }
  }
});

t.test("health reports SERVING overall and for RelevanceService; reflection lists the service", async (t) => {
  const { target } = await useGateway(t);
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync((await import("grpc-health-check")).protoPath, { keepCase: true, enums: String }),
  ) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  const health = new pkg.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
  t.teardown(() => health.close());
  for (const service of ["", "relevance.v1.RelevanceService"]) {
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      (
        health as unknown as {
          Check: (r: object, cb: (e: Error | null, r: { status: string }) => void) => void;
        }
      ).Check({ service }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    t.equal(res.status, "SERVING", `health of "${service}"`);
  }

  const reflectionClient = new grpc.Client(target, grpc.credentials.createInsecure());
  t.teardown(() => reflectionClient.close());
  const services = await listServicesByReflection(reflectionClient);
  t.ok(
    services.includes("relevance.v1.RelevanceService"),
    `reflection lists RelevanceService (${services.join(", ")})`,
  );
  t.ok(services.includes("grpc.health.v1.Health"), "and Health");
});

/** ServerReflectionInfo list_services over the wire, with the reflection proto from @grpc/reflection. */
async function listServicesByReflection(client: grpc.Client): Promise<string[]> {
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  const { dirname, join } = await import("node:path");
  // @grpc/reflection ships its protos in build/proto beside build/src.
  const root = dirname(dirname(require.resolve("@grpc/reflection")));
  const def = protoLoader.loadSync(join(root, "proto/grpc/reflection/v1/reflection.proto"), {
    keepCase: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const stub = new pkg.grpc.reflection.v1.ServerReflection(
    client.getChannel().getTarget(),
    grpc.credentials.createInsecure(),
  );
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const call = (
        stub as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, object> }
      ).ServerReflectionInfo();
      call.on("data", (msg: { list_services_response?: { service: { name: string }[] } }) => {
        resolve(msg.list_services_response?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on("error", reject);
      call.write({ list_services: "" });
    });
  } finally {
    stub.close();
  }
}

t.test("a body that is not a ScoreRequest gets INVALID_ARGUMENT, and the server keeps serving", async (t) => {
  const { target, client } = await useGateway(t);
  const raw = new grpc.Client(target, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const valid = encodeScoreRequest({
    requestId: "r",
    query: { text: "q", locale: "" },
    documents: [doc("a")],
    routingKey: "",
    experiment: "",
    priority: 0,
    modelPreference: 0,
  });
  const bodies: [string, Buffer, RegExp][] = [
    // Field 3 (documents) declared 100 bytes long with only 2 present: found as the body is read.
    ["a region past the end", Buffer.from([0x1a, 0x64, 0x0a, 0x01]), /exceeds the remaining input/],
    // A valid request, then a document whose one byte is field number 0: found when its documents are read.
    ["a malformed document", Buffer.concat([valid, Buffer.from([0x1a, 0x01, 0x00])]), /\(field number 0\)/],
  ];
  for (const [name, body, reason] of bodies) {
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        "/relevance.v1.RelevanceService/Score",
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        (e) => resolve(e),
      ),
    );
    t.equal(err?.code, grpc.status.INVALID_ARGUMENT, name);
    t.match(err?.details, /^request: not a valid relevance\.v1\.ScoreRequest/, name);
    t.match(err?.details, reason, name);
  }
  const after = await client.score({ query: { text: "q", locale: "" }, documents: [doc("a")] });
  t.ok(after.ok, "still serving");
});
