import t from "tap";
import type { Measurement } from "../../../src/tools/bench/results.js";
import { runBenchScenario } from "../../helpers/bench-cli.js";

/**
 * `relevance-gateway bench --quick --scenario cache-shared` with short
 * windows, against a real redis-server that the scenario kills and starts
 * again. Timings on a shared test machine mean nothing; what must hold is
 * that no client request failed while the server went away and came back,
 * that the shared tier answered before the kill, and that the goals are judged.
 */
t.test("bench --scenario cache-shared: the shared tier killed and restarted, no client error", async (t) => {
  const run = await runBenchScenario(t, "cache-shared", ["--warmup", "0.3", "--seconds", "2", "--seed", "7"]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /killing redis-server/, "the server was killed");
  t.match(run.stderr, /restarting redis-server/, "and started again");
  const report = run.report();
  t.same(report.failures, []);
  const [scenario] = report.scenarios;
  t.equal(scenario?.id, "cache-shared");
  t.same(
    scenario!.goals.map((g) => g.id),
    ["cache-shared-errors", "cache-shared-p99", "cache-shared-recovery"],
  );
  const errors = scenario!.goals.find((g) => g.id === "cache-shared-errors")!;
  t.equal(errors.measured, 0, "no client error while the server was killed and restarted");
  t.equal(errors.met, true);
  const [off, healthy, fault] = scenario!.measurements as [Measurement, Measurement, Measurement];
  for (const m of [off, healthy, fault]) t.ok(m.median.requests > 0, `${m.name}: answered requests`);
  t.ok((fault.extra?.["hit ratio before %"] ?? 0) > 0, "the filled shared tier answered before the kill");
});
