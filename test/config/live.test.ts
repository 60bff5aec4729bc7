import t, { type Test } from "tap";
import {
  ConfigError,
  isLivePath,
  mergePatch,
  planConfigChange,
  planConfigPatch,
  redactChange,
  redactConfig,
  validateConfig,
} from "../../src/config/index.js";

const base = validateConfig({
  backends: {
    student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "relevance_student" },
    teacher: { kind: "vllm", endpoints: ["http://127.0.0.1:8000"], model: "relevance-teacher" },
  },
  routing: {
    default: "student",
    canary: { backend: "teacher", percent: 1 },
    shadow: { backend: "teacher", percent: 5 },
    experiments: [{ name: "teacher-eval", backend: "teacher" }],
  },
});

t.test("merge patch (RFC 7396): objects merge, null deletes, the rest replaces", (t) => {
  t.same(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 9, d: null }, e: [1] }), {
    a: 1,
    b: { c: 9 },
    e: [1],
  });
  t.same(mergePatch({ a: 1 }, [1, 2]), [1, 2], "a non-object patch replaces the target");
  t.end();
});

t.test("which keys change live", (t) => {
  t.ok(isLivePath("backends.student.batching.maxBatchSize"));
  t.ok(isLivePath("routing.canary.percent"));
  t.ok(isLivePath("routing.shadow.percent"));
  t.notOk(isLivePath("routing.shadow.backend"));
  t.notOk(isLivePath("backends.student.endpoints"));
  t.notOk(isLivePath("server.grpc.port"));
  t.notOk(isLivePath("limits.maxDocumentsPerRequest"));
  t.end();
});

t.test("a patch of batching and percentages is planned as live changes with old and new values", (t) => {
  const plan = planConfigPatch(base, {
    backends: { student: { batching: { maxBatchSize: 32, maxQueueDelayMs: 1 } } },
    routing: { canary: { percent: 10 }, shadow: { percent: 50 } },
  });
  t.same(plan.restartRequired, []);
  t.same(
    plan.live.map((c) => [c.path, c.old, c.new]),
    [
      ["backends.student.batching.maxBatchSize", 64, 32],
      ["backends.student.batching.maxQueueDelayMs", 2, 1],
      ["routing.canary.percent", 1, 10],
      ["routing.shadow.percent", 5, 50],
    ],
  );
  t.equal(plan.next.backends.student?.batching.maxBatchSize, 32);
  t.equal(base.backends.student?.batching.maxBatchSize, 64, "the running config is untouched");
  t.end();
});

/** The ConfigError `fn` throws (fails the test when it throws nothing or something else). */
function configError(t: Test, fn: () => unknown): ConfigError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    t.fail(`threw ${String(err)}, not a ConfigError`);
    return undefined;
  }
  t.fail("did not throw");
  return undefined;
}

t.test("a bad value is refused with the field's path", (t) => {
  const tooSmall = configError(t, () =>
    planConfigPatch(base, { backends: { student: { batching: { maxBatchSize: 0 } } } }),
  );
  t.equal(tooSmall?.path, "backends.student.batching.maxBatchSize");
  t.match(tooSmall?.message, /^backends\.student\.batching\.maxBatchSize: /);
  const typo = configError(t, () =>
    planConfigPatch(base, { backends: { student: { batching: { maxBatchSiz: 8 } } } }),
  );
  t.match(typo?.message, /maxBatchSiz/, "a typo is an unknown key, not silently ignored");
  const percent = configError(t, () => planConfigPatch(base, { routing: { canary: { percent: 101 } } }));
  t.equal(percent?.path, "routing.canary.percent");
  const adaptive = configError(t, () =>
    planConfigPatch(base, { backends: { student: { batching: { mode: "adaptive" } } } }),
  );
  t.equal(adaptive?.path, "backends.student.batching.targetLatencyMs", "cross-field rules hold as at start");
  t.match(configError(t, () => planConfigPatch(base, [1]))?.message, /must be a JSON object/);
  t.end();
});

t.test("changes outside the live keys are planned as restart-only", (t) => {
  const plan = planConfigPatch(base, {
    server: { grpc: { port: 9999 } },
    routing: { shadow: { backend: "student" } },
  });
  t.same(
    plan.restartRequired.map((c) => c.path),
    ["server.grpc.port", "routing.shadow.backend"],
  );
  t.same(plan.live, []);
  t.end();
});

t.test("server.admin.tls, like server.grpc.tls, is planned as restart-only", (t) => {
  t.notOk(isLivePath("server.admin.tls.certFile"));
  t.notOk(isLivePath("server.grpc.tls.certFile"));
  const tls = { certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" };
  const on = planConfigPatch(base, { server: { admin: { tls } } });
  t.same(
    on.restartRequired.map((c) => c.path),
    [
      "server.admin.tls.certFile",
      "server.admin.tls.keyFile",
      "server.admin.tls.clientCaFile",
      "server.admin.tls.refreshIntervalMs",
    ],
  );
  t.same(on.live, []);
  const grpc = planConfigPatch(base, { server: { grpc: { tls } } });
  t.same(
    grpc.restartRequired.map((c) => c.path.replace("server.grpc.", "server.admin.")),
    on.restartRequired.map((c) => c.path),
    "the same leaves as for server.grpc.tls",
  );
  const withTls = validateConfig({ ...structuredClone(base), server: { admin: { tls } } });
  const changed = planConfigPatch(withTls, { server: { admin: { tls: { refreshIntervalMs: 1000 } } } });
  t.same(
    changed.restartRequired.map((c) => [c.path, c.old, c.new]),
    [["server.admin.tls.refreshIntervalMs", 60_000, 1000]],
  );
  t.same(changed.live, []);
  t.end();
});

t.test("adding a shadow that was not there needs a restart, even its percent", (t) => {
  const withoutShadow = validateConfig({ ...structuredClone(base), routing: { default: "student" } });
  const plan = planConfigChange(withoutShadow, base);
  t.ok(plan.restartRequired.some((c) => c.path === "routing.shadow.percent"));
  t.notOk(plan.live.some((c) => c.path.startsWith("routing.shadow.")));
  t.ok(
    plan.live.some((c) => c.path === "routing.canary.percent"),
    "the canary is router-only: live",
  );
  t.end();
});

t.test("an identical config plans nothing", (t) => {
  const plan = planConfigChange(base, validateConfig(structuredClone(base)));
  t.same(plan.live, []);
  t.same(plan.restartRequired, []);
  t.end();
});

t.test("redaction hides secret-looking values and keeps file paths", (t) => {
  t.same(
    redactConfig({
      server: { admin: { tokenFile: "/run/secrets/admin" } },
      tracing: { headers: { "x-api-key": "s3cret" } },
      backends: { teacher: { apiKey: "k", model: "m" } },
      list: [{ password: "p" }],
    }),
    {
      server: { admin: { tokenFile: "/run/secrets/admin" } },
      tracing: { headers: "[redacted]" },
      backends: { teacher: { apiKey: "[redacted]", model: "m" } },
      list: [{ password: "[redacted]" }],
    },
  );
  t.end();
});

t.test("redactChange hides secrets in a changed value and in a secret path's own value", async (t) => {
  const digest = "a".repeat(64);
  t.same(
    redactChange("auth.clients", [{ name: "search-frontend", apiKeySha256: [digest], apiKeyFile: "/k" }]),
    [{ name: "search-frontend", apiKeySha256: "[redacted]", apiKeyFile: "/k" }],
  );
  t.equal(redactChange("auth.clients[0].apiKeySha256", [digest]), "[redacted]");
  t.equal(redactChange("tracing.headers", { authorization: "Bearer x" }), "[redacted]");
  t.equal(redactChange("backends.student.batching.maxBatchSize", 16), 16);
  t.equal(redactChange("backends.teacher.apiKeyFile", "/run/key"), "/run/key", "a file path is not a secret");
});
