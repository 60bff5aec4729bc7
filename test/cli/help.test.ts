import { execFile } from "node:child_process";
import t from "tap";
import { COMMANDS } from "../../src/cli/commands.js";
import { cliArgs } from "../helpers/cli.js";

/**
 * The command line's conventions: every subcommand answers --help and `help <command>`, lists its
 * options, and an unknown option or command is a usage error (exit 2) naming it.
 */

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The options operators' scripts use, written out here rather than read from the table: a renamed
 * or dropped option, or a lost short flag, fails this test. `-h, --help` is everyone's.
 */
const EXPECTED: Record<string, readonly string[]> = {
  serve: ["-c, --config"],
  "check-config": [],
  sim: [
    "--host",
    "--port",
    "--metrics-port",
    "--model",
    "--max-batch-size",
    "--base-ms",
    "--per-item-ms",
    "--instances",
    "--max-model-len",
    "--max-num-seqs",
    "--error-rate",
    "--added-latency-ms",
    "--hang-rate",
    "--malformed-rate",
    "--malformed",
    "--reset-rate",
    "--slow-rate",
    "--slow-ms",
    "--poison-marker",
    "--fail-all",
    "--fault-seed",
    "--tls-cert",
    "--tls-key",
    "--tls-client-ca",
    "--api-key-env",
  ],
  score: [
    "--target",
    "-q, --query",
    "-d, --doc",
    "--doc-json",
    "--experiment",
    "--teacher",
    "--routing-key",
    "--deadline-ms",
    "--json",
    "--api-key-env",
    "--api-key-file",
    "--tls",
    "--tls-ca",
    "--tls-cert",
    "--tls-key",
    "--tls-server-name",
  ],
  dev: ["-c, --config"],
  "shadow-report": ["--out", "--k", "--worst", "--json", "--progress"],
  tune: [
    "-c, --config",
    "--backend",
    "--endpoint",
    "--batch-sizes",
    "--delays",
    "--concurrency",
    "--docs",
    "--duration",
    "--warmup",
    "--p99-target",
    "--tolerance",
    "--out",
    "--wait-ready",
  ],
  bench: [
    "--quick",
    "--scenario",
    "--out",
    "--seed",
    "--rounds",
    "--seconds",
    "--warmup",
    "--soak-seconds",
    "--soak-warmup",
    "--profile",
    "--summarise-profiles",
  ],
  version: [],
};

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

t.test("the table has exactly the expected commands", (t) => {
  t.same(
    COMMANDS.map((c) => c.name),
    Object.keys(EXPECTED),
  );
  t.end();
});

t.test("--help lists every command, and help <command> and <command> --help print its options", async (t) => {
  const top = await cli(["--help"]);
  t.equal(top.code, 0, top.stderr);
  for (const name of Object.keys(EXPECTED)) t.match(top.stdout, new RegExp(`\\n {2}${literal(name)} `), name);
  t.match(top.stdout, /Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error/);
  const none = await cli([]);
  t.equal(none.code, 0, "no command: the help, exit 0");
  t.equal(none.stdout, top.stdout);

  for (const [name, options] of Object.entries(EXPECTED)) {
    const r = await cli([name, "--help"]);
    t.equal(r.code, 0, `${name} --help: ${r.stderr}`);
    t.equal(r.stderr, "", `${name} --help writes nothing to stderr`);
    t.match(r.stdout, new RegExp(`^Usage: relevance-gateway ${literal(name)}\\b`), `${name} usage line`);
    for (const option of [...options, "-h, --help"]) {
      // An option line: the flags, then a placeholder or the description.
      t.match(r.stdout, new RegExp(`\\n {2}${literal(option)}[ <]`), `${name} ${option}`);
    }
    t.match(r.stdout, /\nExamples:\n {2}relevance-gateway /, `${name} has examples`);
    const viaHelp = await cli(["help", name]);
    t.equal(viaHelp.code, 0, `help ${name}`);
    t.equal(viaHelp.stdout, r.stdout, `help ${name} prints the same`);
  }
});

t.test("an unknown option or command is a usage error naming it (exit 2)", async (t) => {
  for (const name of Object.keys(EXPECTED)) {
    const args = name === "sim" ? ["sim", "triton"] : name === "check-config" ? [name, "x.yaml"] : [name];
    const r = await cli([...args, "--no-such-option"]);
    t.equal(r.code, 2, `${name}: exit code`);
    t.equal(r.stdout, "", `${name}: nothing on stdout`);
    t.equal(
      r.stderr,
      `relevance-gateway: ${name}: unknown option '--no-such-option'\n`,
      `${name}: one line naming the option`,
    );
  }
  const top = await cli(["--no-such-option"]);
  t.equal(top.code, 2);
  t.equal(top.stderr, "relevance-gateway: unknown option '--no-such-option'\n");
  const help = await cli(["help", "frobnicate"]);
  t.equal(help.code, 2);
  t.equal(help.stderr, 'relevance-gateway: unknown command "frobnicate"; run relevance-gateway --help\n');
  const missing = await cli(["check-config"]);
  t.equal(missing.code, 2);
  t.equal(missing.stderr, "relevance-gateway: check-config: missing required argument 'file'\n");
  const extra = await cli(["serve", "--config", "a.yaml", "b.yaml"]);
  t.equal(extra.code, 2);
  t.match(extra.stderr, /^relevance-gateway: serve: too many arguments/);
  const kind = await cli(["sim", "sglang"]);
  t.equal(kind.code, 2);
  t.match(kind.stderr, /^relevance-gateway: sim: .*'sglang'.*triton, vllm/);
});

t.test("a bad option value is a usage error too (exit 2), not a failure", async (t) => {
  const r = await cli(["bench", "--scenario", "nope"]);
  t.equal(r.code, 2);
  t.match(r.stderr, /^relevance-gateway: --scenario: unknown scenario "nope"/);
  const rounds = await cli(["bench", "--rounds", "0"]);
  t.equal(rounds.code, 2);
  t.match(rounds.stderr, /^relevance-gateway: --rounds: expected a positive integer, got "0"/);
});

t.test("version and --version print the version", async (t) => {
  const { VERSION } = await import("../../src/version.js");
  for (const args of [["version"], ["--version"], ["-V"]]) {
    const r = await cli(args);
    t.equal(r.code, 0);
    t.equal(r.stdout, `${VERSION}\n`, args.join(" "));
  }
});

t.test("help piped into a reader that stops early (`| head -1`) ends quietly with exit 0", async (t) => {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, cliArgs("bench", "--help"), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  // The reader is gone before the help is written (as after `head -1` has read its line): every
  // write meets EPIPE.
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  t.equal(stderr, "", "nothing on stderr");
  t.equal(code, 0, "exit 0");
});
