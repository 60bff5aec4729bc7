import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { BenchReport } from "../../../src/tools/bench/results.js";
import { cliArgs } from "../../helpers/cli.js";

/**
 * `relevance-gateway bench --quick --scenario overhead` with tiny windows:
 * it starts the simulator and a gateway as processes, runs the load, stops
 * everything and writes the report. Only the shape is checked; timing
 * figures on a shared test machine mean nothing.
 */
t.test("bench --quick --scenario overhead writes bench.json, bench.md and bench.svg", async (t) => {
  const out = mkdtempSync(join(tmpdir(), "rg-bench-smoke-"));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const args = cliArgs(
    "bench",
    "--quick",
    "--scenario",
    "overhead",
    ...["--warmup", "0.3", "--seconds", "0.7", "--out", out],
  );
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  t.equal(code, 0, stderr);

  t.match(stderr, /overhead · gateway · round 1\/1/, "progress on stderr");
  t.match(stdout, /\| Overhead at low load \| gateway p50 − direct p50 \|/, "the goals table on stdout");
  for (const f of ["bench.json", "bench.md", "bench.svg"]) t.ok(existsSync(join(out, f)), f);

  const report = JSON.parse(readFileSync(join(out, "bench.json"), "utf8")) as BenchReport;
  t.equal(report.schema, "relevance-gateway-bench/1");
  t.equal(report.mode, "quick");
  t.match(report.command, /^relevance-gateway bench --quick --scenario overhead/);
  t.same(report.failures, []);
  t.ok(report.machine.cpus >= 1);
  t.equal(report.machine.loadAverage.start.length, 3);
  t.equal(report.scenarios.length, 1);
  const [overhead] = report.scenarios;
  t.equal(overhead!.id, "overhead");
  t.same(
    overhead!.measurements.map((m) => m.name),
    ["gateway", "direct ModelInfer"],
  );
  for (const m of overhead!.measurements) {
    t.equal(m.rounds.length, 1, `${m.name}: one round`);
    t.ok(m.median.requests > 0, `${m.name}: answered requests`);
    t.equal(m.median.errors, 0, `${m.name}: no errors`);
    for (const k of ["p50Ms", "p99Ms", "reqPerS", "itemsPerS"] as const) {
      t.ok(Number.isFinite(m.median[k]) && m.median[k] > 0, `${m.name}: ${k} is a positive number`);
    }
  }
  t.same(
    overhead!.goals.map((g) => [g.id, g.comparator, g.target, g.unit, typeof g.met]),
    [["overhead-p50", "<=", 1, "ms", "boolean"]],
  );
  t.ok(Number.isFinite(overhead!.goals[0]!.measured));
});
