import { readFileSync } from "node:fs";
import t from "tap";
import { DEFAULT_CLASSIFY_TEMPLATE, DEFAULT_GENERATE_TEMPLATE } from "../../src/backends/vllm/templates.js";
import { loadConfigFile, parseConfig } from "../../src/config/index.js";
import { repoPath } from "./helpers.js";

t.test("the DESIGN example is a complete config and gets every default", async (t) => {
  const cfg = loadConfigFile(repoPath("deploy/config/design-example.yaml"), {});

  t.same(cfg.server, {
    grpc: {
      host: "0.0.0.0",
      port: 50051,
      maxReceiveMessageBytes: 16777216,
      maxSendMessageBytes: 16777216,
      keepaliveTimeMs: 60000,
      keepaliveTimeoutMs: 20000,
      minClientPingIntervalMs: 10000,
      tls: null,
    },
    admin: { host: "0.0.0.0", port: 8080, tokenFile: null, tls: null },
    shutdownGraceMs: 10000,
    reload: { watchFile: true, debounceMs: 500 },
  });
  t.same(Object.keys(cfg.backends), ["student", "teacher"]);
  t.same(cfg.backends.student, {
    kind: "triton",
    endpoints: ["127.0.0.1:8001"],
    model: "relevance_student",
    modelVersion: "",
    role: "student",
    timeoutMs: 10000,
    readiness: { intervalMs: 5000, timeoutMs: 2000 },
    discovery: { intervalMs: 30000 },
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 10,
      resetTimeoutMs: 5000,
      rollingWindowMs: 10000,
    },
    outlierDetection: {
      consecutiveFailures: 5,
      baseEjectionTimeMs: 10000,
      maxEjectionTimeMs: 300000,
      maxEjectionPercent: 50,
    },
    retry: { enabled: true, budgetPercent: 20, minRetries: 3, windowMs: 10000 },
    shedUnreachableDeadlines: true,
    cache: { maxBytes: 0, ttlMs: 3_600_000 },
    batching: {
      maxBatchSize: 256,
      maxQueueDelayMs: 2,
      preferredBatchSizes: [],
      maxQueueItems: 32768,
      maxQueueWaitMs: 10000,
      maxQueueItemsPerClient: null,
      maxConcurrentBatches: 2,
      bandMinShare: { bulk: 0, background: 0 },
      mode: "static",
    },
    tensors: { query: "QUERY", document: "DOCUMENT", output: "LOGITS" },
    outputKind: "logits",
    bandPriorities: { interactive: 1, bulk: 2, background: 3 },
    maxMessageBytes: 67108864,
    tls: null,
  });
  t.same(cfg.backends.teacher, {
    kind: "vllm",
    endpoints: ["http://127.0.0.1:8000"],
    model: "relevance-teacher",
    mode: "classify",
    templates: { classify: DEFAULT_CLASSIFY_TEMPLATE, generate: DEFAULT_GENERATE_TEMPLATE },
    labelTokens: ["1", "2", "3", "4", "5"],
    topLogprobs: 20,
    role: "teacher",
    timeoutMs: 30000,
    readiness: { intervalMs: 5000, timeoutMs: 2000 },
    discovery: { intervalMs: 30000 },
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 10,
      resetTimeoutMs: 5000,
      rollingWindowMs: 10000,
    },
    outlierDetection: {
      consecutiveFailures: 5,
      baseEjectionTimeMs: 10000,
      maxEjectionTimeMs: 300000,
      maxEjectionPercent: 50,
    },
    retry: { enabled: true, budgetPercent: 20, minRetries: 3, windowMs: 10000 },
    shedUnreachableDeadlines: true,
    cache: { maxBytes: 0, ttlMs: 3_600_000 },
    batching: {
      maxBatchSize: 32,
      maxQueueDelayMs: 5,
      preferredBatchSizes: [],
      maxQueueItems: 8192,
      maxQueueWaitMs: 10000,
      maxQueueItemsPerClient: null,
      maxConcurrentBatches: 4,
      bandMinShare: { bulk: 0, background: 0 },
      mode: "static",
    },
    bandPriorities: null,
    maxResponseBytes: 67108864,
    tls: null,
    apiKeyEnv: null,
    apiKeyFile: null,
  });
  t.same(cfg.routing, {
    default: "student",
    canary: { backend: "teacher", percent: 1, salt: "canary", fallback: true },
    shadow: {
      backend: "teacher",
      percent: 5,
      salt: "shadow",
      maxQueueItems: 2048,
      maxConcurrentBatches: 2,
      timeoutMs: 30000,
      noiseFloorPercent: 0,
      topK: 10,
    },
    experiments: [{ name: "teacher-eval", backend: "teacher", fallback: false }],
    allowForcedTeacher: true,
  });
  t.same(cfg.limits, { maxDocumentsPerRequest: 1000, maxFieldBytes: 65536, maxRequestTextBytes: 8388608 });
  t.same(cfg.modelText, {
    queryMaxBytes: 512,
    separator: "\n",
    listSeparator: " | ",
    fields: [
      { field: "title", label: "Title", maxBytes: 256 },
      { field: "description", label: "Description", maxBytes: 1024 },
      { field: "imageCaption", label: "Image", maxBytes: 512 },
      { field: "boardTitles", label: "Boards", maxBytes: 384, maxItems: 10 },
      { field: "engagedQueries", label: "Queries", maxBytes: 384, maxItems: 10 },
      { field: "linkText", label: "Link", maxBytes: 512 },
    ],
  });
  t.same(cfg.comparisonLog, {
    dir: null,
    sampleRate: 1,
    maxFileBytes: 67108864,
    maxFiles: 8,
    maxQueuedRecords: 1000,
    redactText: false,
  });
  t.same(cfg.logging, { level: "info" });
  t.same(cfg.metrics, { collectDefault: true });
});

t.test("the local config parses: a Triton student and a vLLM teacher on loopback", async (t) => {
  const cfg = loadConfigFile(repoPath("deploy/config/local.yaml"), {});
  t.same(Object.keys(cfg.backends), ["student", "teacher"]);
  t.match(cfg.backends.teacher, {
    kind: "vllm",
    endpoints: ["http://127.0.0.1:8000"],
    model: "relevance-teacher",
  });
  t.match(cfg.backends.student, {
    kind: "triton",
    endpoints: ["127.0.0.1:8001"],
    model: "relevance_student",
    batching: { maxBatchSize: 64, maxQueueDelayMs: 2 },
  });
  t.same(cfg.server.grpc.host, "127.0.0.1");
  t.equal(cfg.server.grpc.port, 50051);
  t.same(cfg.server.admin, { host: "127.0.0.1", port: 8080, tokenFile: null, tls: null });
  t.equal(cfg.routing.default, "student");
  t.match(cfg.routing.canary, { backend: "teacher", percent: 5, fallback: true });
  t.match(cfg.routing.shadow, { backend: "teacher", percent: 100, noiseFloorPercent: 10 });
  t.equal(cfg.comparisonLog.dir, "comparisons");
  t.same(cfg.routing.experiments, [{ name: "teacher-eval", backend: "teacher", fallback: false }]);
});

t.test("the result is deeply frozen", async (t) => {
  const text = readFileSync(repoPath("deploy/config/design-example.yaml"), "utf8");
  const cfg = parseConfig(text, "design-example.yaml", {});
  const unfrozen: string[] = [];
  const visit = (value: unknown, path: string) => {
    if (typeof value !== "object" || value === null) return;
    if (!Object.isFrozen(value)) unfrozen.push(path);
    for (const [key, child] of Object.entries(value)) visit(child, `${path}.${key}`);
  };
  visit(cfg, "cfg");
  t.same(unfrozen, []);
});

t.test("defaults are per field and per kind", async (t) => {
  const cfg = parseConfig(
    [
      "backends:",
      "  a: { kind: vllm, endpoints: ['http://h:8000'], model: m, role: student }",
      "routing: { default: a }",
      "modelText:",
      "  fields: [{ field: engagedQueries }, { field: title, label: Name }]",
    ].join("\n"),
    "test.yaml",
    {},
  );
  t.equal(cfg.backends.a?.role, "student");
  t.same(cfg.modelText.fields, [
    { field: "engagedQueries", label: "Queries", maxBytes: 384, maxItems: 10 },
    { field: "title", label: "Name", maxBytes: 256 },
  ]);
});
