import { status } from "@grpc/grpc-js";
import t from "tap";
import { createRouter, type RouterOptions } from "../../src/routing/router.js";
import { inSample, samplePoint } from "../../src/routing/sampler.js";

const roles = new Map([
  ["student", "student" as const],
  ["teacher", "teacher" as const],
]);
const base: RouterOptions = {
  defaultBackend: "student",
  canary: { backend: "teacher", percent: 10, salt: "canary", fallback: true },
  experiments: [{ name: "teacher-eval", backend: "teacher", fallback: false }],
  allowForcedTeacher: true,
  roles,
};
const input = { requestId: "r1", routingKey: "", experiment: "", modelPreference: "unspecified" as const };

t.test("order: forced teacher, then experiment, then canary, then default", (t) => {
  const router = createRouter({
    ...base,
    canary: { backend: "teacher", percent: 100, salt: "c", fallback: true },
  });
  t.same(router.route({ ...input, modelPreference: "teacher", experiment: "teacher-eval" }), {
    kind: "forward",
    backend: "teacher",
    route: "forced",
  });
  t.same(router.route({ ...input, experiment: "teacher-eval" }), {
    kind: "forward",
    backend: "teacher",
    route: "experiment:teacher-eval",
  });
  t.same(router.route(input), { kind: "forward", backend: "teacher", route: "canary", fallback: "student" });
  t.same(router.route({ ...input, modelPreference: "student" }), {
    kind: "forward",
    backend: "student",
    route: "bulk",
  });
  const noCanary = createRouter({ ...base, canary: undefined });
  t.same(noCanary.route(input), { kind: "forward", backend: "student", route: "bulk" });
  t.end();
});

t.test("fallback: canary falls back to the default unless disabled; experiments only when enabled", (t) => {
  const all = { ...input, routingKey: "k" };
  const noFallback = createRouter({
    ...base,
    canary: { backend: "teacher", percent: 100, salt: "c", fallback: false },
  });
  t.same(noFallback.route(all), { kind: "forward", backend: "teacher", route: "canary" });
  const withExperimentFallback = createRouter({
    ...base,
    experiments: [{ name: "x", backend: "teacher", fallback: true }],
  });
  t.same(withExperimentFallback.route({ ...input, experiment: "x" }), {
    kind: "forward",
    backend: "teacher",
    route: "experiment:x",
    fallback: "student",
  });
  t.same(createRouter(base).route({ ...input, modelPreference: "teacher" }), {
    kind: "forward",
    backend: "teacher",
    route: "forced",
  });
  t.end();
});

t.test("refusals name the field and use the documented codes", (t) => {
  const unknown = createRouter(base).route({ ...input, experiment: "nope" });
  t.equal(unknown.kind === "reject" && unknown.error.code, status.INVALID_ARGUMENT);
  t.match(
    unknown.kind === "reject" && unknown.error.message,
    /^experiment: unknown experiment "nope" \(configured: teacher-eval\)/,
  );
  const forbidden = createRouter({ ...base, allowForcedTeacher: false }).route({
    ...input,
    modelPreference: "teacher",
  });
  t.equal(forbidden.kind === "reject" && forbidden.error.code, status.PERMISSION_DENIED);
  const noTeacher = createRouter({
    ...base,
    canary: undefined,
    experiments: [],
    roles: new Map([["student", "student"]]),
  });
  const r = noTeacher.route({ ...input, modelPreference: "teacher" });
  t.equal(r.kind === "reject" && r.error.code, status.UNAVAILABLE);
  t.match(r.kind === "reject" && r.error.message, /^model_preference: /);
  t.end();
});

t.test("canary is sticky by routing key, falls back to request id, and hits its percentage", (t) => {
  const router = createRouter(base);
  const pick = (routingKey: string, requestId = "r") => {
    const d = router.route({ ...input, routingKey, requestId });
    return d.kind === "forward" ? d.route : "reject";
  };
  for (let i = 0; i < 50; i++) t.equal(pick(`user${i}`, "a"), pick(`user${i}`, "b"), "same key, same side");
  let canary = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) if (pick("", `request-${i}`) === "canary") canary++;
  t.ok(Math.abs(canary / n - 0.1) < 0.01, `≈10% canary (${((100 * canary) / n).toFixed(2)}%)`);
  t.end();
});

t.test("sampling: salts give independent cohorts; 0 and 100 are exact", (t) => {
  let both = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) if (inSample(50, "canary", `k${i}`) && inSample(50, "shadow", `k${i}`)) both++;
  t.ok(
    Math.abs(both / n - 0.25) < 0.015,
    `independent: ≈25% in both 50% cohorts (${((100 * both) / n).toFixed(2)}%)`,
  );
  t.notOk(inSample(0, "s", "k"));
  t.ok(inSample(100, "s", "k"));
  const p = samplePoint("s", "k");
  t.ok(p >= 0 && p < 100);
  t.end();
});

// Sample points below were computed outside this code base (FNV-1a 32-bit over `salt:key`,
// then murmur3's fmix32, divided by 2³² and scaled to 100), so they check the hash itself.
t.test("samplePoint: FNV-1a + fmix32 over salt:key, in [0, 100)", (t) => {
  t.equal(samplePoint("s", "k"), 69.36864394228905);
  t.equal(samplePoint("canary", "user-1"), 14.395247609354556);
  t.equal(samplePoint("canary", "user-2"), 97.59934816975147);
  t.equal(samplePoint("salt", "key"), 7.574224448762834);
  t.equal(samplePoint("", ""), 28.190421988256276);
  t.end();
});

t.test("inSample: the sample is [0, percent), a point equal to the percentage is outside", (t) => {
  const p = 14.395247609354556; // samplePoint("canary", "user-1")
  t.notOk(inSample(p, "canary", "user-1"));
  t.ok(inSample(p + 1e-9, "canary", "user-1"));
  t.notOk(inSample(-5, "canary", "user-1"));
  t.ok(inSample(250, "canary", "user-2"));
  t.end();
});

t.test("canary cohort: routing_key decides when set, the request id only when it is empty", (t) => {
  const router = createRouter({
    ...base,
    canary: { backend: "teacher", percent: 50, salt: "canary", fallback: true },
  });
  const canary = { kind: "forward", backend: "teacher", route: "canary", fallback: "student" };
  const bulk = { kind: "forward", backend: "student", route: "bulk" };
  // "user-1" is at 14.4 (in a 50% cohort), "user-2" at 97.6 and "r-1" at 50.3 (out).
  t.same(router.route({ ...input, routingKey: "user-1", requestId: "r-1" }), canary);
  t.same(router.route({ ...input, routingKey: "user-2", requestId: "user-1" }), bulk);
  t.same(router.route({ ...input, routingKey: "", requestId: "user-1" }), canary);
  t.same(router.route({ ...input, routingKey: "", requestId: "user-2" }), bulk);
  // A request asking for the student never takes the canary, even when its key is in the cohort.
  t.same(router.route({ ...input, routingKey: "user-1", modelPreference: "student" }), bulk);
  t.end();
});

t.test("a route whose fallback would be its own backend carries no fallback", (t) => {
  const router = createRouter({
    ...base,
    canary: { backend: "student", percent: 100, salt: "c", fallback: true },
    experiments: [
      { name: "self", backend: "student", fallback: true },
      { name: "other", backend: "teacher", fallback: true },
    ],
  });
  const self = router.route({ ...input, experiment: "self" });
  t.same(self, { kind: "forward", backend: "student", route: "experiment:self" });
  t.notOk("fallback" in self, "no fallback key at all");
  const canary = router.route(input);
  t.same(canary, { kind: "forward", backend: "student", route: "canary" });
  t.notOk("fallback" in canary);
  t.same(router.route({ ...input, experiment: "other" }), {
    kind: "forward",
    backend: "teacher",
    route: "experiment:other",
    fallback: "student",
  });
  t.end();
});

t.test("refusals: reason, code and the whole message", (t) => {
  const refusal = (d: ReturnType<ReturnType<typeof createRouter>["route"]>) => {
    if (d.kind !== "reject") throw new Error(`expected a refusal, got ${JSON.stringify(d)}`);
    return { code: d.error.code, reason: d.error.reason, message: d.error.message };
  };
  t.same(
    refusal(
      createRouter({ ...base, allowForcedTeacher: false }).route({ ...input, modelPreference: "teacher" }),
    ),
    {
      code: status.PERMISSION_DENIED,
      reason: "NOT_PERMITTED",
      message: "model_preference: forcing the teacher is not permitted",
    },
  );
  t.same(
    refusal(
      createRouter({ ...base, roles: new Map([["student", "student"]]) }).route({
        ...input,
        modelPreference: "teacher",
      }),
    ),
    {
      code: status.UNAVAILABLE,
      reason: "NO_BACKEND_FOR_ROLE",
      message: "model_preference: MODEL_ROLE_TEACHER asked, but no teacher backend is configured",
    },
  );
  const two = createRouter({
    ...base,
    experiments: [
      { name: "a", backend: "teacher", fallback: false },
      { name: "b", backend: "student", fallback: false },
    ],
  });
  t.same(refusal(two.route({ ...input, experiment: "c" })), {
    code: status.INVALID_ARGUMENT,
    reason: "INVALID_REQUEST",
    message: 'experiment: unknown experiment "c" (configured: a, b)',
  });
  t.same(refusal(createRouter({ ...base, experiments: [] }).route({ ...input, experiment: "c" })), {
    code: status.INVALID_ARGUMENT,
    reason: "INVALID_REQUEST",
    message: 'experiment: unknown experiment "c" (configured: none)',
  });
  t.end();
});
