import t from "tap";
import { createBackend } from "../../src/backends/create-backend.js";
import { servedIdentity } from "../../src/cache/index.js";
import { validateConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { createVllmSim } from "../../src/tools/sim/vllm/server.js";
import { systemClock } from "../../src/util/clock.js";

function backendConfig(backends: Record<string, unknown>) {
  return validateConfig({
    backends,
    routing: { default: Object.keys(backends)[0] },
    logging: { level: "silent" },
  }).backends;
}

t.test("Triton: the probe reads the served version; endpoints that disagree make it unknown", async (t) => {
  const v3 = await createTritonSim({ port: 0, models: [{ name: "relevance_student", version: "3" }] });
  const v4 = await createTritonSim({ port: 0, models: [{ name: "relevance_student", version: "4" }] });
  t.teardown(async () => {
    await v3.close();
    await v4.close();
  });
  const env = { clock: systemClock, logger: silentLogger() };
  const cfgs = backendConfig({
    one: { kind: "triton", endpoints: [v3.address], model: "relevance_student" },
    two: { kind: "triton", endpoints: [v3.address, v4.address], model: "relevance_student" },
  });
  const one = createBackend("one", cfgs.one!, env);
  const two = createBackend("two", cfgs.two!, env);
  t.teardown(async () => {
    await one[Symbol.asyncDispose]();
    await two[Symbol.asyncDispose]();
  });
  t.equal(servedIdentity(one.endpoints()), undefined, "unknown before the first probe");
  await Promise.all([one.start(), two.start()]);
  t.same(servedIdentity(one.endpoints()), { name: "relevance_student", version: "3" });
  t.same(
    two.endpoints().map((e) => e.model?.version),
    ["3", "4"],
  );
  t.equal(servedIdentity(two.endpoints()), undefined, "a rolling update: no identity, no caching");
});

t.test("vLLM: the served model id, with no version, as its answers report it", async (t) => {
  const sim = await createVllmSim({ port: 0 });
  t.teardown(() => sim.close());
  const cfgs = backendConfig({
    teacher: { kind: "vllm", endpoints: [sim.url], model: "relevance-teacher" },
  });
  const teacher = createBackend("teacher", cfgs.teacher!, { clock: systemClock, logger: silentLogger() });
  t.teardown(() => teacher[Symbol.asyncDispose]());
  await teacher.start();
  t.same(servedIdentity(teacher.endpoints()), { name: "relevance-teacher", version: "" });
});
