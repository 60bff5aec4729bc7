// Acceptance: a gRPC client in another language (Python, with stubs compiled by
// protoc from proto/) gets correct answers, health SERVING, and INVALID_ARGUMENT
// naming the field for each bad input. Needs /usr/bin/python3 with grpc and
// protobuf, and protoc: see test/interop/README.md.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import type { DocumentMessage } from "../../src/codec/index.js";
import { expectedProbabilities } from "../helpers/expected-scores.js";
import { useGateway } from "../helpers/use-gateway.js";

const execFileAsync = promisify(execFile);

/** Debian's interpreter: the one that sees python3-grpcio and python3-protobuf. */
const PYTHON = "/usr/bin/python3";
const INSTALL =
  "run `npm run test:tools` (it installs python3-grpcio python3-protobuf protobuf-compiler; see test/interop/README.md)";
const CLIENT = fileURLToPath(new URL("./client.py", import.meta.url));
const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
const TIMEOUT_MS = 60_000;

interface Case {
  call: "score" | "health";
  /** The request in proto JSON form (field names as in the .proto or lowerCamelCase). */
  request: Record<string, unknown>;
}

interface Outcome {
  code: string;
  details: string;
  trailing_metadata: Record<string, string>;
  response: Record<string, unknown> | null;
}

interface ScoreResponseJson {
  request_id: string;
  scores: { document_id: string; probabilities: number[]; expected_relevance: number; label: number }[];
  model: Record<string, unknown>;
  route: string;
}

/** What is missing to run the Python client, or an empty list. */
async function missingPrerequisites(): Promise<string[]> {
  const missing: string[] = [];
  try {
    await execFileAsync(PYTHON, ["-c", "import grpc, google.protobuf"], { timeout: TIMEOUT_MS });
  } catch {
    missing.push(`${PYTHON} cannot import grpc and google.protobuf`);
  }
  try {
    await execFileAsync("protoc", ["--version"], { timeout: TIMEOUT_MS });
  } catch {
    missing.push("protoc is not on PATH");
  }
  return missing;
}

/** Python modules for relevance.proto and the gRPC health proto, in `out`. */
async function compileProtos(out: string): Promise<void> {
  // grpc-health-check ships <root>/health/v1/health.proto; compile it from <root>
  // so that the module is health.v1.health_pb2.
  const healthProto = (await import("grpc-health-check")).protoPath;
  const healthRoot = dirname(dirname(dirname(healthProto)));
  const protoc = (args: string[]) =>
    execFileAsync("protoc", [`--python_out=${out}`, ...args], { timeout: TIMEOUT_MS });
  await protoc(["-I", PROTO_DIR, join(PROTO_DIR, "relevance/v1/relevance.proto")]);
  await protoc(["-I", healthRoot, healthProto]);
}

const missing = await missingPrerequisites();
if (missing.length > 0) {
  t.fail(`the Python interop client cannot run: ${missing.join("; ")}. To fix, ${INSTALL}.`);
} else {
  const gen = await mkdtemp(join(tmpdir(), "relevance-interop-"));
  t.teardown(() => rm(gen, { recursive: true, force: true }));
  await compileProtos(gen);

  const stack = await useGateway(t, {
    config: { limits: { maxDocumentsPerRequest: 5, maxFieldBytes: 1000 } },
  });

  /** Runs the Python client once over `cases`; one outcome per case, in order. */
  const runClient = async (cases: Case[]): Promise<Outcome[]> => {
    const run = execFileAsync(PYTHON, [CLIENT, stack.target], {
      timeout: TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, PYTHONPATH: gen, PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" },
    });
    run.child.stdin?.end(JSON.stringify(cases));
    const { stdout } = await run;
    const outcomes = JSON.parse(stdout) as Outcome[];
    if (outcomes.length !== cases.length)
      throw new Error(`${cases.length} cases, ${outcomes.length} outcomes`);
    return outcomes;
  };

  t.test("health Check reports SERVING overall and for RelevanceService", async (t) => {
    const services = ["", "relevance.v1.RelevanceService"];
    const outcomes = await runClient(services.map((service) => ({ call: "health", request: { service } })));
    for (const [i, out] of outcomes.entries()) {
      t.equal(out.code, "OK", `health of "${services[i]}": OK`);
      t.same(out.response, { status: "SERVING" }, `health of "${services[i]}": SERVING`);
    }
  });

  t.test("Score answers a request using every field, unicode included", async (t) => {
    const query = "chocolate cookies 巧克力 كعكة 🍪";
    // DocumentMessage's names are the proto3 JSON names, which the Python side parses.
    const documents: DocumentMessage[] = [
      {
        id: "pin-1",
        title: "Chocolate chip cookies",
        description: "Crisp edges, soft middle",
        imageCaption: "a stack of cookies on a plate",
        boardTitles: ["Baking", "Desserts 🍰"],
        engagedQueries: ["cookie recipe", "chocolate chip"],
        linkText: "The best chocolate chip cookie recipe",
        locale: "en-US",
      },
      {
        id: "ピン-2",
        title: "東京の桜",
        description: "春の写真",
        imageCaption: "cherry blossoms 🌸 along a river",
        boardTitles: ["旅行", "日本"],
        engagedQueries: ["桜 東京"],
        linkText: "東京のお花見スポット",
        locale: "ja",
      },
      {
        id: "دبوس-3",
        title: "حديقة",
        description: "أفكار لتصميم الحدائق",
        imageCaption: "a courtyard garden with a fountain ⛲",
        boardTitles: ["حدائق"],
        engagedQueries: ["garden ideas", "حديقة منزلية"],
        linkText: "garden ideas",
        locale: "ar",
      },
    ];
    const [out] = await runClient([
      {
        call: "score",
        request: {
          request_id: "interop-req-1",
          query: { text: query, locale: "en-US" },
          documents,
          routing_key: "user-42",
          experiment: "",
          priority: "PRIORITY_INTERACTIVE",
          model_preference: "MODEL_ROLE_STUDENT",
        },
      },
    ]);
    t.equal(out!.code, "OK", `answered OK${out!.code === "OK" ? "" : `: ${out!.details}`}`);
    const r = out!.response as ScoreResponseJson | null;
    if (r === null) return;
    t.equal(r.request_id, "interop-req-1", "request_id echoed");
    t.equal(r.route, "bulk", "route");
    t.same(
      r.model,
      {
        role: "MODEL_ROLE_STUDENT",
        name: "relevance_student",
        version: "1",
        backend: "student",
      },
      "model info",
    );
    t.same(
      r.scores.map((s) => s.document_id),
      documents.map((d) => d.id),
      "one score per document, in request order",
    );
    for (const [i, s] of r.scores.entries()) {
      const expected = expectedProbabilities(query, documents[i]!);
      t.equal(s.probabilities.length, 5, `${s.document_id}: five probabilities`);
      t.ok(
        expected.every((p, k) => Math.abs(s.probabilities[k]! - p) <= 1e-6),
        `${s.document_id}: probabilities within 1e-6 of the simulator's`,
        { found: s.probabilities, wanted: expected },
      );
      // Python prints the shortest decimal that reads back as the same float32.
      t.same(s.probabilities.map(Math.fround), expected, `${s.document_id}: the same float32 values`);
      const er = s.probabilities.reduce((acc, p, k) => acc + (k + 1) * p, 0);
      t.ok(Math.abs(s.expected_relevance - er) < 1e-5, `${s.document_id}: expected_relevance = Σ k·p_k`);
      t.ok(
        s.expected_relevance >= 1 && s.expected_relevance <= 5,
        `${s.document_id}: expected_relevance in [1, 5]`,
      );
      t.equal(s.label, expected.indexOf(Math.max(...expected)) + 1, `${s.document_id}: label = argmax`);
    }
  });

  t.test("every bad input gets INVALID_ARGUMENT with a message naming the field", async (t) => {
    const doc = (id: string, fields: Record<string, unknown> = {}) => ({
      id,
      title: `title of ${id}`,
      ...fields,
    });
    const q = { text: "q" };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        "empty query text",
        { query: { text: "  " }, documents: [doc("a")] },
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
        // 335 characters, 1001 bytes of UTF-8: the limit is in bytes.
        "oversized field",
        { query: q, documents: [doc("a", { description: `${"東".repeat(333)}xx` })] },
        /^documents\[0\]\.description: 1001 bytes exceeds the limit of 1000/,
      ],
      [
        "unknown experiment",
        { query: q, documents: [doc("a")], experiment: "nope" },
        /^experiment: unknown experiment "nope"/,
      ],
      ["unknown priority", { query: q, documents: [doc("a")], priority: 7 }, /^priority: unknown value 7/],
    ];
    const outcomes = await runClient(cases.map(([, request]) => ({ call: "score", request })));
    for (const [i, [name, , message]] of cases.entries()) {
      const out = outcomes[i]!;
      t.equal(out.code, "INVALID_ARGUMENT", `${name}: INVALID_ARGUMENT`);
      t.match(out.details, message, `${name}: message names the field`);
      t.equal(out.trailing_metadata["relevance-error-reason"], "INVALID_REQUEST", `${name}: error reason`);
      t.equal(out.response, null, `${name}: no response`);
    }
  });
}
