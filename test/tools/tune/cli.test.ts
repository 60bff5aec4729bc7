import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { type Flags, flagsAs, withDefaults } from "../../../src/cli/command-spec.js";
import { commandSpec } from "../../../src/cli/commands.js";
import { CliError } from "../../../src/cli/fail.js";
import { type TuneFlags, tune } from "../../../src/cli/tune.js";
import { createTritonSim } from "../../../src/tools/sim/triton/server.js";
import type { TuneReport } from "../../../src/tools/tune/report.js";
import { cliArgs } from "../../helpers/cli.js";
import { findAll, parseXml } from "../common/xml.js";

/** In-process options as the command line hands them over: these, and the declared defaults for the rest. */
const tuneFlags = (flags: Flags): TuneFlags =>
  flagsAs<TuneFlags>(withDefaults(commandSpec("tune"), [], flags));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function config(endpoint: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "rg-tune-"));
  const file = join(dir, "gateway.yaml");
  writeFileSync(
    file,
    `backends:
  student:
    kind: triton
    endpoints: ["${endpoint}"]
    model: relevance_student
routing:
  default: student
`,
  );
  return { dir, file };
}

t.test("tune against the simulator: progress, table, recommendation, CSV, SVG and JSON", async (t) => {
  const sim = await createTritonSim({
    port: 0,
    models: [{ name: "relevance_student", maxBatchSize: 64 }],
    cost: { baseMs: 2, perItemMs: 0.05, instances: 1 },
  });
  t.teardown(() => sim.close());
  const { dir, file } = config(sim.address);
  const out = join(dir, "out");
  const r = await cli([
    "tune",
    "--config",
    file,
    "--backend",
    "student",
    "--batch-sizes",
    "8,32,128",
    "--delays",
    "1",
    "--concurrency",
    "2,8",
    "--docs",
    "4",
    "--duration",
    "0.3",
    "--warmup",
    "0.1",
    "--p99-target",
    "1000",
    "--out",
    out,
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /batch sizes 128 exceed the backend's max_batch_size 64: .* measured once, as 64/);
  t.match(
    r.stderr,
    /tune: backend student \(triton: 127\.0\.0\.1:\d+, max_batch_size 64\); 6 points, about \d+ s;/,
  );
  const progress = r.stderr.match(
    /^\[\d\/6\] batch \d+ delay 1ms conc \d+: [\d,]+ items\/s p99 [\d.]+ ms$/gm,
  );
  t.equal(progress?.length, 6, "a progress line per point");
  t.notMatch(r.stdout, /^\[\d/m, "progress stays off stdout");

  const rows = r.stdout.split("\n").filter((l) => /^ +\d+ +1 +\d+ /.test(l));
  t.equal(rows.length, 6, "a table row per point");
  t.match(r.stdout, /^batch +delay ms +conc +items\/s +p50 ms +p95 ms +p99 ms +mean batch +errors$/m);
  t.same([...new Set(rows.map((l) => Number(l.trim().split(/ +/)[0])))], [8, 32, 64], "128 became 64");
  t.equal(rows.filter((l) => l.endsWith("◀ recommended")).length, 1);
  t.match(r.stdout, /Recommended for p99 ≤ 1000\.0 ms: maxBatchSize \d+, maxQueueDelayMs 1:/);
  t.match(
    r.stdout,
    /backends:\n {2}student:\n {4}batching:\n {6}maxBatchSize: \d+\n {6}maxQueueDelayMs: 1\n/,
  );

  t.match(r.stdout, /^Cache: off \(backends\.student\.cache\.maxBytes is 0\)\.$/m, "the cache line");

  const csv = readFileSync(join(out, "tune.csv"), "utf8").trimEnd().split("\n");
  t.equal(csv.length, 7, "header and six rows");
  t.match(csv[0], /^max_batch_size,max_queue_delay_ms,concurrency,/);
  for (const line of csv.slice(1)) {
    const cells = line.split(",");
    t.ok(Number(cells[7]) > 0, `items/s measured: ${line}`);
    t.equal(cells[15], "0", "no errors");
  }

  const json = JSON.parse(readFileSync(join(out, "tune.json"), "utf8")) as TuneReport;
  t.equal(json.batchCap, 64);
  t.same(json.cappedBatchSizes, [128]);
  t.equal(json.points.length, 6);
  t.equal(json.recommendation.kind, "within-target");
  t.equal(json.configuredCacheMaxBytes, 0);

  const svgPath = join(out, "tune.svg");
  t.ok(existsSync(svgPath));
  const svg = parseXml(readFileSync(svgPath, "utf8"));
  t.equal(svg.name, "svg");
  t.ok(Number(svg.attrs.width) > 0 && Number(svg.attrs.height) > 0);
  t.equal(findAll(svg, "circle").filter((c) => c.attrs.class === "point").length, 6);
  t.match(r.stdout, `Wrote ${join(out, "tune.csv")}, ${svgPath}, ${join(out, "tune.json")}`);
});

t.test("a bad flag: exit 2 with one line naming the flag", async (t) => {
  const { file } = config("127.0.0.1:1");
  const r = await cli(["tune", "--config", file, "--batch-sizes", "8,x"]);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'relevance-gateway: --batch-sizes: expected an integer ≥ 1 and ≤ 65536, got "x"\n');
});

t.test("every flag is checked before anything connects", async (t) => {
  const { file } = config("127.0.0.1:1");
  const cases: [Record<string, string | string[]>, RegExp][] = [
    [{ "batch-sizes": "8,,16" }, /^--batch-sizes: expected a comma-separated list such as "8,16,32,64,128"/],
    [{ "batch-sizes": "0" }, /^--batch-sizes: expected an integer ≥ 1/],
    [{ delays: "-1" }, /^--delays: expected a number ≥ 0 and ≤ 10000, got "-1"/],
    [{ concurrency: "2.5" }, /^--concurrency: expected an integer ≥ 1/],
    [{ docs: "0" }, /^--docs: expected an integer ≥ 1/],
    [{ docs: "2000" }, /^--docs: 2000 is more than limits\.maxDocumentsPerRequest \(1000\)/],
    [{ duration: "0" }, /^--duration: expected a number > 0/],
    [{ warmup: "soon" }, /^--warmup: expected a number ≥ 0/],
    [{ "p99-target": "" }, /^--p99-target: expected a number > 0/],
    [{ tolerance: "101" }, /^--tolerance: expected a number ≥ 0 and ≤ 100/],
    [{ backend: "teacher" }, /^--backend: .* has no backend "teacher" \(it has: student\)/],
    [{ endpoint: ["localhost"] }, /^--endpoint: "localhost" must be host:port or dns:\/\/\/host:port/],
  ];
  for (const [flags, message] of cases) {
    const error = await tune(tuneFlags({ config: file, ...flags })).then(
      () => undefined,
      (err: unknown) => err,
    );
    t.ok(error instanceof CliError, JSON.stringify(flags));
    t.match((error as Error).message, message);
    t.equal((error as CliError).exitCode, 2);
  }
  const missing = await tune(tuneFlags({})).catch((err: unknown) => err);
  t.match((missing as Error).message, /--config FILE is required/);
});

t.test("an unreachable backend: exit 1 naming the endpoint, nothing written", async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const { dir, file } = config(`127.0.0.1:${port}`);
  const r = await cli(["tune", "--config", file, "--wait-ready", "0.5", "--out", join(dir, "out")]);
  t.equal(r.code, 1, r.stderr);
  t.match(
    r.stderr,
    new RegExp(`backend student: no ready endpoint after 0\\.5 s \\(127\\.0\\.0\\.1:${port} `),
  );
  t.notOk(existsSync(join(dir, "out")));
});

t.test("an --out that cannot be written: exit 1 with one line, after the table", async (t) => {
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  const { dir, file } = config(sim.address);
  const blocker = join(dir, "not-a-dir");
  writeFileSync(blocker, "");
  let stdout = "";
  const error = await tune(
    tuneFlags({
      config: file,
      "batch-sizes": "8",
      delays: "0",
      concurrency: "1",
      // Long enough for answers on a loaded machine: with 0.1 s a busy CI host answered nothing,
      // and a point without answers is never recommended.
      duration: "1",
      warmup: "0",
      // Generous: this test is about the order of output and failure, not about latency.
      "p99-target": "10000",
      out: join(blocker, "out"),
    }),
    { stdout: (s) => (stdout += s), stderr: () => {} },
  ).catch((err: unknown) => err);
  t.ok(error instanceof CliError);
  t.match((error as Error).message, /^--out: cannot write to .*not-a-dir.out: ENOTDIR/);
  t.equal((error as CliError).exitCode, 1);
  t.match(stdout, /◀ recommended/, "the results were printed before the files failed");
});
