import t from "tap";
import { baseConfig, configError, merge } from "./helpers.js";

type Case = readonly [name: string, patch: Record<string, unknown>, message: string];

const student = (patch: Record<string, unknown>) => ({ backends: { student: patch } });
const teacher = (patch: Record<string, unknown>) => ({ backends: { teacher: patch } });

// Each case patches the valid base config and expects exactly this one-line message.
const cases: readonly Case[] = [
  [
    "integer below its minimum",
    student({ batching: { maxBatchSize: 0 } }),
    "backends.student.batching.maxBatchSize: must be ≥ 1",
  ],
  [
    "integer above its maximum",
    student({ batching: { maxBatchSize: 65537 } }),
    "backends.student.batching.maxBatchSize: must be ≤ 65536",
  ],
  [
    "percent above 100",
    { routing: { canary: { backend: "teacher", percent: 101 } } },
    "routing.canary.percent: must be ≤ 100",
  ],
  [
    "negative percent",
    { routing: { shadow: { backend: "teacher", percent: -1 } } },
    "routing.shadow.percent: must be ≥ 0",
  ],
  ["misspelt key", student({ batchng: { maxBatchSize: 8 } }), "backends.student.batchng: unknown key"],
  [
    "routing.default names no backend",
    { routing: { default: "studnet" } },
    'routing.default: "studnet" is not a configured backend (configured: student, teacher)',
  ],
  [
    "canary names no backend",
    { routing: { canary: { backend: "techer", percent: 1 } } },
    'routing.canary.backend: "techer" is not a configured backend (configured: student, teacher)',
  ],
  [
    "shadow names no backend",
    { routing: { shadow: { backend: "nope", percent: 1 } } },
    'routing.shadow.backend: "nope" is not a configured backend (configured: student, teacher)',
  ],
  [
    "experiment names no backend",
    {
      routing: {
        experiments: [
          { name: "a", backend: "teacher" },
          { name: "b", backend: "nope" },
        ],
      },
    },
    'routing.experiments[1].backend: "nope" is not a configured backend (configured: student, teacher)',
  ],
  ["unknown backend kind", student({ kind: "tritn" }), "backends.student.kind: must be one of triton, vllm"],
  [
    "missing backend kind",
    student({ kind: undefined }),
    "backends.student.kind: required (one of triton, vllm)",
  ],
  [
    "string for an integer",
    { server: { grpc: { port: "abc" } } },
    'server.grpc.port: expected an integer, got "abc"',
  ],
  [
    "fraction for an integer",
    { server: { grpc: { port: 1.5 } } },
    "server.grpc.port: expected an integer, got 1.5",
  ],
  ["port above 65535", { server: { admin: { port: 70000 } } }, "server.admin.port: must be ≤ 65535"],
  [
    "string for a number",
    student({ batching: { maxQueueDelayMs: "2ms" } }),
    'backends.student.batching.maxQueueDelayMs: expected a number, got "2ms"',
  ],
  [
    "string for a boolean",
    { routing: { allowForcedTeacher: "yes" } },
    'routing.allowForcedTeacher: expected a boolean (true or false), got "yes"',
  ],
  ["null for a string", student({ model: null }), "backends.student.model: expected a string, got null"],
  ["list for a mapping", { server: { grpc: [] } }, "server.grpc: expected a mapping, got a list"],
  ["missing required key", student({ model: undefined }), "backends.student.model: required (a string)"],
  ["empty required string", teacher({ model: "" }), "backends.teacher.model: must not be empty"],
  ["no endpoints", student({ endpoints: [] }), "backends.student.endpoints: must not be empty"],
  [
    "malformed Triton endpoint",
    student({ endpoints: ["127.0.0.1:8001", "triton"] }),
    'backends.student.endpoints[1]: "triton" must be host:port or dns:///host:port',
  ],
  [
    "malformed vLLM endpoint",
    teacher({ endpoints: ["127.0.0.1:8000"] }),
    'backends.teacher.endpoints[0]: "127.0.0.1:8000" must be an http:// or https:// URL',
  ],
  [
    "duplicate endpoint",
    student({ endpoints: ["a:1", "b:1", "a:1"] }),
    "backends.student.endpoints[2]: duplicate of endpoints[0]",
  ],
  [
    "unknown vLLM mode",
    teacher({ mode: "chat" }),
    "backends.teacher.mode: must be one of classify, generate",
  ],
  ["unknown role", teacher({ role: "oracle" }), "backends.teacher.role: must be one of student, teacher"],
  [
    "Triton-only key on a vLLM backend",
    teacher({ tensors: { query: "Q" } }),
    "backends.teacher.tensors: unknown key",
  ],
  [
    "bad Triton model version",
    student({ modelVersion: "latest" }),
    'backends.student.modelVersion: must be "" (the server\'s version policy) or a positive integer',
  ],
  [
    "preferred batch size above maxBatchSize",
    student({ batching: { maxBatchSize: 64, preferredBatchSizes: [16, 128] } }),
    "backends.student.batching.preferredBatchSizes[1]: 128 is larger than maxBatchSize (64)",
  ],
  [
    "preferred batch sizes out of order",
    student({ batching: { preferredBatchSizes: [32, 16] } }),
    "backends.student.batching.preferredBatchSizes[1]: must be larger than the size before it (32); list sizes in increasing order",
  ],
  [
    "readiness timeout above its interval",
    student({ readiness: { intervalMs: 1000, timeoutMs: 1500 } }),
    "backends.student.readiness.timeoutMs: must be ≤ intervalMs (1000)",
  ],
  [
    "duplicate experiment names",
    {
      routing: {
        experiments: [
          { name: "teacher-eval", backend: "teacher" },
          { name: "other", backend: "student" },
          { name: "teacher-eval", backend: "student" },
        ],
      },
    },
    'routing.experiments[2].name: "teacher-eval" is already defined at routing.experiments[0]',
  ],
  [
    "bad experiment name",
    { routing: { experiments: [{ name: "-x", backend: "teacher" }] } },
    "routing.experiments[0].name: must start with a letter or digit and contain only letters, digits, '.', '_' or '-'",
  ],
  [
    "same salt for canary and shadow",
    {
      routing: {
        canary: { backend: "teacher", percent: 1, salt: "s" },
        shadow: { backend: "teacher", percent: 1, salt: "s" },
      },
    },
    "routing.shadow.salt: must differ from routing.canary.salt so the canary and shadow cohorts are independent",
  ],
  [
    "admin and gRPC on one port",
    { server: { grpc: { port: 9000 }, admin: { port: 9000 } } },
    "server.admin.port: must differ from server.grpc.port (9000)",
  ],
  [
    "per-field limit above the per-request limit",
    { limits: { maxFieldBytes: 2048, maxRequestTextBytes: 1024 } },
    "limits.maxFieldBytes: must be ≤ limits.maxRequestTextBytes (1024)",
  ],
  [
    "documents per request above the cap",
    { limits: { maxDocumentsPerRequest: 100001 } },
    "limits.maxDocumentsPerRequest: must be ≤ 100000",
  ],
  [
    "duplicate model-text field",
    { modelText: { fields: [{ field: "title" }, { field: "linkText" }, { field: "title" }] } },
    "modelText.fields[2].field: title is already listed at fields[0]; each field may appear once",
  ],
  [
    "unknown model-text field",
    { modelText: { fields: [{ field: "body" }] } },
    "modelText.fields[0].field: must be one of title, description, imageCaption, boardTitles, engagedQueries, linkText",
  ],
  [
    "maxItems on a scalar field",
    { modelText: { fields: [{ field: "title", maxItems: 3 }] } },
    "modelText.fields[0].maxItems: only valid for the list fields boardTitles, engagedQueries",
  ],
  ["no model-text fields", { modelText: { fields: [] } }, "modelText.fields: must not be empty"],
  [
    "unknown log level",
    { logging: { level: "verbose" } },
    "logging.level: must be one of fatal, error, warn, info, debug, trace, silent",
  ],
  ["backends missing", { backends: undefined }, "backends: required (a mapping)"],
  [
    "bad backend name",
    { backends: { Teacher2: { kind: "vllm", endpoints: ["http://h:1"], model: "m" } } },
    "backends.Teacher2: backend names must match /^[a-z][a-z0-9_-]*$/ (lower-case letter first, then lower-case letters, digits, '_' or '-')",
  ],
];

for (const [name, patch, message] of cases) {
  t.test(name, async (t) => {
    const err = configError(merge(baseConfig(), patch));
    t.equal(err.name, "ConfigError");
    t.equal(err.message, message);
    t.equal(err.path, message.slice(0, message.indexOf(": ")));
    t.equal(err.issues[0], message);
    t.notMatch(err.message, /\n/);
  });
}

t.test("an empty backends mapping", async (t) => {
  const err = configError("backends: {}\n");
  t.equal(err.message, "backends: at least one backend is required");
  // Routing references are not checked against an empty set: one error says it all.
  t.same(err.issues, ["backends: at least one backend is required"]);
});

t.test("a document that is not a mapping", async (t) => {
  t.equal(configError("- a\n- b\n").message, "(top level): expected a mapping, got a list");
  t.equal(configError("just text\n").message, '(top level): expected a mapping, got "just text"');
});

t.test("several problems: the message is the first, issues lists all", async (t) => {
  const err = configError(
    merge(baseConfig(), {
      server: { grpc: { port: -1 } },
      backends: { student: { batching: { maxBatchSize: 0, maxConcurrentBatches: 0 } } },
    }),
  );
  t.equal(err.message, "server.grpc.port: must be ≥ 0");
  t.same(err.issues, [
    "server.grpc.port: must be ≥ 0",
    "backends.student.batching.maxBatchSize: must be ≥ 1",
    "backends.student.batching.maxConcurrentBatches: must be ≥ 1",
  ]);
});

t.test("unknown keys are reported with their full paths, at every depth", async (t) => {
  const err = configError(
    merge(baseConfig(), {
      serverr: {},
      server: { grpc: { hots: "0.0.0.0" } },
      backends: { student: { tensors: { qeury: "Q" } }, teacher: { batching: { maxBatchSze: 8 } } },
      routing: { experiments: [{ name: "e", backend: "teacher", weight: 1 }] },
      modelText: { fields: [{ field: "title" }, { field: "boardTitles", lable: "B", maxItem: 3 }] },
      limits: { "max documents": 3 },
    }),
  );
  t.same([...err.issues].sort(), [
    "backends.student.tensors.qeury: unknown key",
    "backends.teacher.batching.maxBatchSze: unknown key",
    'limits["max documents"]: unknown key',
    "modelText.fields[1].lable: unknown key",
    "modelText.fields[1].maxItem: unknown key",
    "routing.experiments[0].weight: unknown key",
    "server.grpc.hots: unknown key",
    "serverr: unknown key",
  ]);
});
