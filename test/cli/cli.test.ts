import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseConfig } from "../../src/config/index.js";
import { cliArgs } from "../helpers/cli.js";
import { useGateway } from "../helpers/use-gateway.js";

/** Runs the CLI from source with the same TypeScript loader tap uses. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function tempConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "rg-cli-"));
  const file = join(dir, "gateway.yaml");
  writeFileSync(file, text);
  return file;
}

const VALID = `backends:
  student:
    kind: triton
    endpoints: ["127.0.0.1:8001"]
    model: relevance_student
routing:
  default: student
`;

t.test("check-config prints the effective config of a valid file", async (t) => {
  const r = await cli(["check-config", tempConfig(VALID)]);
  t.equal(r.code, 0);
  t.match(r.stdout, /maxQueueItems: 32768/, "defaults filled in");
  t.match(r.stdout, /maxDocumentsPerRequest: 1000/);
});

t.test("check-config redacts secrets, tracing.headers among them, as GET /admin/config does", async (t) => {
  const withHeaders = `${VALID}tracing:\n  headers:\n    x-honeycomb-team: hc-secret-value-0123\n`;
  const r = await cli(["check-config", tempConfig(withHeaders)]);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /hc-secret-value-0123/, "the header's value is not printed");
  t.match(
    r.stdout,
    /^ {4}x-honeycomb-team: "?\[redacted\]"?$/m,
    "the header's name is shown, its value redacted",
  );
  const effective = parseConfig(r.stdout.replace(/^#.*\n/, ""), "check-config output", {});
  t.same(
    effective.tracing.headers,
    { "x-honeycomb-team": "[redacted]" },
    "the output still loads as a config",
  );
  t.match(r.stdout, /maxQueueItems: 32768/, "the rest is printed");
});

t.test("check-config of the shipped configs passes", async (t) => {
  for (const file of ["deploy/config/local.yaml", "deploy/config/design-example.yaml"]) {
    const r = await cli(["check-config", file]);
    t.equal(r.code, 0, `${file}: ${r.stderr}`);
  }
});

t.test("a bad config exits non-zero with one line naming the field, no stack trace", async (t) => {
  const bad = VALID.replace(
    "model: relevance_student",
    "model: relevance_student\n    batching: { maxBatchSize: 0 }",
  );
  for (const command of [["check-config"], ["serve", "--config"]]) {
    const r = await cli([...command, tempConfig(bad)]);
    t.equal(r.code, 2, `${command[0]} exit code`);
    t.equal(
      r.stderr,
      "relevance-gateway: backends.student.batching.maxBatchSize: must be ≥ 1\n",
      `${command[0]} message`,
    );
  }
  const typo = await cli(["check-config", tempConfig(VALID.replace("routing:", "routnig:"))]);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /^relevance-gateway: .*routnig.*\n$/, "an unknown key is named");
  const missing = await cli(["check-config", "/nonexistent/gateway.yaml"]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^relevance-gateway: cannot read config file \/nonexistent\/gateway\.yaml: ENOENT/);
});

t.test("usage errors exit 2 with a one-line message", async (t) => {
  const r = await cli(["frobnicate"]);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'relevance-gateway: unknown command "frobnicate"; run relevance-gateway --help\n');
  const noQuery = await cli(["score", "--doc", "x"]);
  t.equal(noQuery.code, 2);
  t.match(noQuery.stderr, /--query TEXT is required/);
  const help = await cli(["--help"]);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: relevance-gateway \[options\] \[command\]\n/);
  t.match(help.stdout, /\n {2}serve \[options\] +run the gateway\n/);
});

t.test("score prints a table of labels and probabilities from a running gateway", async (t) => {
  const { target } = await useGateway(t);
  const r = await cli([
    "score",
    "--target",
    target,
    "--query",
    "chocolate chip cookies",
    "--doc",
    "Best chocolate chip cookies recipe",
    "--doc",
    "Garden furniture ideas",
    "--doc-json",
    '{"id":"pin-9","title":"Cookie jar","board_titles":["Kitchen"]}',
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /route bulk · backend student · model relevance_student version 1/);
  t.match(r.stdout, /document\s+label\s+E\[rel\]\s+p\(1\)\s+p\(2\)\s+p\(3\)\s+p\(4\)\s+p\(5\)\s+title/);
  for (const id of ["doc-1", "doc-2", "pin-9"]) {
    t.match(
      r.stdout,
      new RegExp(`^${id}\\s+[1-5]\\s+\\d\\.\\d{3}(\\s+0\\.\\d{3}|\\s+1\\.000){5}`, "m"),
      `row for ${id}`,
    );
  }
  const json = await cli(["score", "--target", target, "--query", "q", "--doc", "d", "--json"]);
  const parsed = JSON.parse(json.stdout) as { scores: { probabilities: number[] }[] };
  t.equal(parsed.scores[0]?.probabilities.length, 5);
});

t.test("score against an unreachable gateway fails with a one-line status", async (t) => {
  const r = await cli([
    "score",
    "--target",
    "127.0.0.1:1",
    "--query",
    "q",
    "--doc",
    "d",
    "--deadline-ms",
    "2000",
  ]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^relevance-gateway: score: (UNAVAILABLE|DEADLINE_EXCEEDED): .*\n$/);
});
