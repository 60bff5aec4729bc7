import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { BenchReport, Measurement } from "../../../src/tools/bench/results.js";
import { cliArgs } from "../../helpers/cli.js";

/**
 * `relevance-gateway bench --quick --scenario cache-shared` with short
 * windows, against a real redis-server that the scenario kills and starts
 * again. Timings on a shared test machine mean nothing; what must hold is
 * that no client request failed while the server went away and came back,
 * that the shared tier answered before the kill, and that the goals are judged.
 */
t.test("bench --scenario cache-shared: the shared tier killed and restarted, no client error", async (t) => {
  const out = mkdtempSync(join(tmpdir(), "rg-bench-cache-shared-"));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const args = cliArgs(
    "bench",
    "--quick",
    "--scenario",
    "cache-shared",
    ...["--warmup", "0.3", "--seconds", "2", "--seed", "7", "--out", out],
  );
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stdout.resume();
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  t.equal(code, 0, stderr);
  t.match(stderr, /killing redis-server/, "the server was killed");
  t.match(stderr, /restarting redis-server/, "and started again");

  const report = JSON.parse(readFileSync(join(out, "bench.json"), "utf8")) as BenchReport;
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
