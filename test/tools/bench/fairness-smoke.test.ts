import t from "tap";
import { runBenchScenario } from "../../helpers/bench-cli.js";

/**
 * `relevance-gateway bench --quick --scenario fairness` with tiny windows:
 * two gateways with API-key clients in front of the simulator, every
 * configuration once. Only the shape is checked (every client's requests
 * reach the gateway under its own key and band, and the goals are judged);
 * the figures of a shared test machine mean nothing.
 */
t.test("bench --scenario fairness measures every client and judges every goal", async (t) => {
  // Two rounds: the latency goals give each round's figure beside their median.
  const run = await runBenchScenario(t, "fairness", ["--warmup", "0.3", "--seconds", "0.5", "--rounds", "2"]);
  t.equal(run.code, 0, run.stderr);
  const report = run.report();
  t.same(report.failures, []);
  const [fairness] = report.scenarios;
  t.equal(fairness?.id, "fairness");
  t.same(
    fairness!.goals.map((g) => g.id),
    [
      "fairness-equal",
      "fairness-weighted",
      "fairness-interactive",
      "fairness-shed-order",
      "fairness-sizes",
      "fairness-burst",
      "fairness-refusal-p99",
      "fairness-deadlines",
    ],
  );
  for (const g of fairness!.goals) t.equal(typeof g.met, "boolean", `${g.id} is judged`);
  for (const id of ["fairness-interactive", "fairness-sizes"]) {
    const detail = fairness!.goals.find((g) => g.id === id)?.detail ?? "";
    t.match(detail, /; per round -?\d+\.\d+( ms)?, -?\d+\.\d+( ms)?$/, `${id}: each round's figure`);
  }
  const byName = new Map(fairness!.measurements.map((m) => [m.name, m]));
  for (const name of [
    "10:1 load, equal weights · heavy",
    "interactive alone · interactive",
    "8-document client alone · small",
    "burst of 32 × 300 documents · burst",
  ]) {
    const m = byName.get(name);
    t.ok(m && m.median.requests > 0, `${name}: answered requests`);
  }
  // The light client's row is there even when a window this short serves it nothing.
  t.ok(byName.has("10:1 load, equal weights · light"));
  // Unloaded, nothing is refused: the keys, bands and payloads are accepted.
  t.equal(byName.get("interactive alone · interactive")?.median.errors, 0);
  t.equal(byName.get("8-document client alone · small")?.median.errors, 0);
  t.notOk(byName.has("burst of 32 × 300 documents · small"), "a warm-up-only client has no row");
});
