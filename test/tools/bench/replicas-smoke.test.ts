import t from "tap";
import { runBenchScenario } from "../../helpers/bench-cli.js";

/**
 * `relevance-gateway bench --quick --scenario replicas` with tiny windows:
 * four gateways in front of one simulator, every configuration once. Only the
 * shape is checked (each stream reaches its own gateway, the bulk replicas
 * are served, the goal is judged); the figures of a shared test machine mean
 * nothing.
 */
t.test("bench --scenario replicas measures the interactive client on each gateway", async (t) => {
  const run = await runBenchScenario(t, "replicas", ["--warmup", "0.3", "--seconds", "0.5"]);
  t.equal(run.code, 0, run.stderr);
  const report = run.report();
  t.same(report.failures, []);
  const [replicas] = report.scenarios;
  t.equal(replicas?.id, "replicas");
  t.same(
    replicas!.goals.map((g) => g.id),
    ["replicas-interactive"],
  );
  t.equal(typeof replicas!.goals[0]!.met, "boolean", "the goal is judged");
  t.match(replicas!.goals[0]!.detail, /without band priorities \d+\.\d ms/);
  const byName = new Map(replicas!.measurements.map((m) => [m.name, m]));
  const configs = [
    "interactive alone",
    "interactive + bulk on two other replicas, band priorities",
    "interactive + bulk on two other replicas, no band priorities",
  ];
  for (const config of configs) {
    const m = byName.get(`${config} · interactive`);
    t.ok(m && m.median.requests > 0, `${config}: interactive answered`);
    t.equal(m?.median.errors, 0, `${config}: nothing interactive refused`);
  }
  for (const config of configs.slice(1)) {
    for (const bulk of ["bulk-a", "bulk-b"]) {
      t.ok((byName.get(`${config} · ${bulk}`)?.median.requests ?? 0) > 0, `${config}: ${bulk} served`);
    }
  }
  t.notOk(byName.has("interactive alone · bulk-a"), "no bulk rows where there is no bulk");
});
