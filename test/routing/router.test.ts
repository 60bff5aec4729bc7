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
