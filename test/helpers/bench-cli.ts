import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import type { BenchReport } from "../../src/tools/bench/results.js";
import { cliArgs } from "./cli.js";

export interface BenchCliRun {
  readonly code: number | null;
  readonly stderr: string;
  /** bench.json of the run (read once the process has exited 0). */
  report(): BenchReport;
}

/**
 * `relevance-gateway bench --quick --scenario <scenario> <args>` as its own
 * process, writing into a temporary folder removed when the test ends.
 */
export async function runBenchScenario(
  t: Test,
  scenario: string,
  args: readonly string[],
): Promise<BenchCliRun> {
  const out = mkdtempSync(join(tmpdir(), `rg-bench-${scenario}-`));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    cliArgs("bench", "--quick", "--scenario", scenario, ...args, "--out", out),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stdout.resume();
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return {
    code,
    stderr,
    report: () => JSON.parse(readFileSync(join(out, "bench.json"), "utf8")) as BenchReport,
  };
}
