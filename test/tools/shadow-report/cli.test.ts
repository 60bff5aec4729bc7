import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { flagsAs, withDefaults } from "../../../src/cli/command-spec.js";
import { commandSpec } from "../../../src/cli/commands.js";
import type { ComparisonRecord } from "../../../src/shadow/comparison-record.js";
import type { ShadowAggregate } from "../../../src/tools/shadow-report/aggregate.js";
import { runShadowReport, type ShadowReportFlags } from "../../../src/tools/shadow-report/index.js";
import { cliArgs } from "../../helpers/cli.js";
import { checkSvg, randomRecords, tmp, writeLog } from "./fixtures.js";

const CHARTS = ["confusion.svg", "expected-relevance.svg", "kendall-tau.svg"];

/** Runs the CLI from source with the same TypeScript loader tap uses. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** In-process options as the command line hands them over: these, and the declared defaults for the rest. */
function reportFlags(files: readonly string[], flags: Partial<ShadowReportFlags>): ShadowReportFlags {
  return flagsAs<ShadowReportFlags>(withDefaults(commandSpec("shadow-report"), files, flags));
}

/** Runs the command in process (options as the CLI parses them), collecting what it writes. */
async function run(files: string[], flags: Partial<ShadowReportFlags>, stderrIsTTY = false) {
  let stdout = "";
  let stderr = "";
  await runShadowReport(files, reportFlags(files, flags), {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    stderrIsTTY,
  });
  return { stdout, stderr };
}

function logs() {
  const dir = tmp();
  const records = randomRecords(60, 21);
  const json = (r: ComparisonRecord) => JSON.stringify(r);
  const a = writeLog(dir, "shadow-1.jsonl", [...records.slice(0, 30).map(json), "{not json"]);
  const b = writeLog(dir, "shadow-2.jsonl.gz", records.slice(30).map(json));
  return { dir, a, b, records };
}

t.test("end to end: prints the report and writes the three charts", async (t) => {
  const { dir, a, b } = logs();
  const out = join(dir, "charts");
  const r = await cli(["shadow-report", a, b, "--out", out, "--k", "5", "--worst", "4", "--progress"]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^# Shadow comparison report\n/);
  t.match(r.stdout, /60 requests, \d+ documents\./);
  t.match(r.stdout, /1 bad line skipped, for example:\n- .*shadow-1\.jsonl:31: line: not valid JSON/);
  t.match(r.stdout, /\| label agreement, over documents +\| +\d+\.\d%/);
  t.match(r.stdout, /NDCG@5, mean/);
  t.match(r.stdout, /## Noise floor[^#]*student vs teacher \| teacher vs teacher/);
  t.match(r.stdout, /\| +\| teacher 1 \| teacher 2 \| teacher 3 \| teacher 4 \| teacher 5 \| +total \|/);
  t.match(r.stdout, /\| student 5 \|/);
  t.match(r.stdout, /## Largest disagreements \(4 documents/);
  t.equal(r.stdout.match(/^\| [1-4] \| +[+-]\d\.\d{3} \|/gm)?.length, 4, "four rows in the worst list");
  for (const f of CHARTS) {
    const path = join(out, f);
    t.ok(existsSync(path), `${f} written`);
    t.match(r.stdout, `- ${path}`);
    checkSvg(t, readFileSync(path, "utf8"), f);
  }
  t.match(r.stderr, /shadow-report: .*shadow-1\.jsonl:31: line: not valid JSON/);
  t.match(r.stderr, /^read 60 records \(\d+(\.\d)? kB of \d+(\.\d)? kB, 100%\)$/m, "forced progress");
  t.match(r.stderr, /shadow-report: skipped 1 bad line\n/);
});

t.test("--json prints the aggregate; usage errors exit 2; no readable file exits 1", async (t) => {
  const { dir, a, b } = logs();
  const r = await cli(["shadow-report", a, b, "--out", join(dir, "c"), "--json"]);
  t.equal(r.code, 0, r.stderr);
  const parsed = JSON.parse(r.stdout) as ShadowAggregate & { input: { badLines: number }; charts: string[] };
  t.equal(parsed.requests, 60);
  t.equal(parsed.input.badLines, 1);
  t.equal(parsed.confusion.length, 5);
  t.equal(parsed.kendallTau.histogram.length, 20);
  t.equal(parsed.charts.length, 3);
  t.notMatch(r.stderr, /^read /m, "no progress unless asked for or on a terminal");

  const bad = await cli(["shadow-report", a, "--k", "0"]);
  t.equal(bad.code, 2);
  t.equal(bad.stderr, 'relevance-gateway: --k: expected a positive integer, got "0"\n', "one line");
  const bogus = await cli(["shadow-report", a, "--bogus"]);
  t.equal(bogus.code, 2);
  t.equal(bogus.stderr, "relevance-gateway: shadow-report: unknown option '--bogus'\n", "names the option");
  const noFile = await cli(["shadow-report", "--json"]);
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, /^relevance-gateway: shadow-report: missing required argument 'file'\n$/);
  const none = await cli(["shadow-report", join(dir, "nope.jsonl"), join(dir, "nope2.jsonl.gz")]);
  t.equal(none.code, 1);
  t.match(none.stderr, /cannot read .*nope\.jsonl: ENOENT/);
  t.match(none.stderr, /relevance-gateway: shadow-report: no file could be read\n$/);
});

t.test("in process: one readable file of two is enough; TTY progress; usage errors", async (t) => {
  const { dir, a } = logs();
  const r = await run([a, join(dir, "missing.jsonl")], { out: join(dir, "o") }, true);
  t.match(r.stdout, /missing\.jsonl: not read: ENOENT/);
  t.match(r.stdout, /30 requests/);
  const final = /read 30 records \(.*, 100%\)/.exec(r.stderr);
  t.ok(final, "a final progress line");
  const erase = "\x1b[K";
  t.equal(r.stderr.slice(final!.index - 1, final!.index), "\r", "drawn from the start of the line");
  t.equal(r.stderr.slice(final!.index + final![0].length).startsWith(`${erase}\n`), true, "then ended");
  t.match(r.stderr, /cannot read .*missing\.jsonl/);
  await t.rejects(run([join(dir, "missing.jsonl")], { out: join(dir, "o") }), {
    name: "CliError",
    exitCode: 1,
    message: /no file could be read/,
  });
  for (const [files, flags] of [
    [[], { k: "3" }],
    [[a], { worst: "x" }],
    [[a], { k: "1.5" }],
  ] as const) {
    await t.rejects(run([...files], flags), { name: "CliError", exitCode: 2 }, JSON.stringify(flags));
  }
  const blocker = join(dir, "a-file");
  writeFileSync(blocker, "");
  let printed = "";
  await t.rejects(
    runShadowReport([a], reportFlags([a], { out: join(blocker, "charts") }), {
      stdout: (x) => {
        printed += x;
      },
      stderr: () => {},
      stderrIsTTY: false,
    }),
    { exitCode: 1, message: /cannot write the charts to .*a-file/ },
  );
  t.match(printed, /# Shadow comparison report/, "the report is still printed");
});
