// Acceptance (issue 15, "The public API guarded"): `npm test` lints proto/ and checks it for breaking
// changes with buf against the baseline image of the last release (proto/baseline/v<version>.binpb), so a
// renamed field or a changed field number fails the build and an additive change passes. Each case runs
// the repository's buf.yaml on a copy of proto/ in a temporary directory, with buf from node_modules/.bin
// and every proxy pointed at a closed loopback port: the checks must work without a network.
import { execFile } from "node:child_process";
import { access, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";

const repoPath = (relative: string) => fileURLToPath(new URL(`../../${relative}`, import.meta.url));
const BUF = repoPath("node_modules/.bin/buf");
const TIMEOUT_MS = 60_000;
/** buf's exit code when lint or breaking found violations (1 is any other failure). */
const EXIT_VIOLATIONS = 100;
const RELEVANCE = "proto/relevance/v1/relevance.proto";
const KSERVE = "proto/inference/grpc_service.proto";
/** Nothing listens on the discard port: any attempt to reach the network fails. */
const NO_NETWORK = "http://127.0.0.1:9";

interface PackageJson {
  readonly version: string;
  readonly scripts: Readonly<Record<string, string>>;
}
const pkg = JSON.parse(await readFile(repoPath("package.json"), "utf8")) as PackageJson;
const BASELINE = `proto/baseline/v${pkg.version}.binpb`;

interface BufResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One buf violation as `--error-format json` prints it, one object a line. */
interface Violation {
  readonly path: string;
  readonly type: string;
  readonly message: string;
}

function buf(cwd: string, args: readonly string[], cacheDir: string): Promise<BufResult> {
  const env = {
    ...process.env,
    BUF_CACHE_DIR: cacheDir,
    HTTPS_PROXY: NO_NETWORK,
    HTTP_PROXY: NO_NETWORK,
    https_proxy: NO_NETWORK,
    http_proxy: NO_NETWORK,
    NO_PROXY: "",
    no_proxy: "",
  };
  return new Promise((resolve, reject) => {
    execFile(BUF, args, { cwd, env, timeout: TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

function violations(result: BufResult): Violation[] {
  return result.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Violation);
}

/** The repository's buf.yaml, proto/ and baseline, copied to a temporary directory removed at teardown. */
async function copyContract(
  t: Test,
): Promise<{ dir: string; run: (args: readonly string[]) => Promise<BufResult> }> {
  const dir = await mkdtemp(join(tmpdir(), "rg-proto-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(repoPath("proto"), join(dir, "proto"), { recursive: true });
  await cp(repoPath("buf.yaml"), join(dir, "buf.yaml"));
  const cacheDir = join(dir, ".buf-cache");
  return { dir, run: (args) => buf(dir, args, cacheDir) };
}

/** Replaces the one occurrence of `from` in `file` (failing the test when there is not exactly one). */
async function edit(t: Test, dir: string, file: string, from: string, to: string): Promise<void> {
  const path = join(dir, file);
  const text = await readFile(path, "utf8");
  t.equal(text.split(from).length - 1, 1, `${file} contains "${from}" once`);
  await writeFile(path, text.replace(from, to));
}

const lint = ["lint", "--error-format", "json"];
const breaking = ["breaking", "--against", BASELINE, "--error-format", "json"];

t.test("npm test runs proto:check right after lint, against this version's committed baseline", async (t) => {
  t.match(pkg.scripts.test, /npm run lint && npm run proto:check && /);
  t.equal(
    pkg.scripts["proto:check"],
    "buf lint && buf breaking --against proto/baseline/v$npm_package_version.binpb",
  );
  t.match(pkg.scripts["proto:baseline"], /buf build .*-o proto\/baseline\/v\$npm_package_version\.binpb$/);
  await t.resolves(access(repoPath(BASELINE)), `${BASELINE} is committed`);
});

t.test("the unchanged contract passes lint and breaking", async (t) => {
  const { run } = await copyContract(t);
  t.same(await run(lint), { code: 0, stdout: "", stderr: "" });
  t.same(await run(breaking), { code: 0, stdout: "", stderr: "" });
});

t.test("a renamed field fails buf breaking, naming the field", async (t) => {
  const { dir, run } = await copyContract(t);
  await edit(t, dir, RELEVANCE, "string routing_key = 4;", "string routing_id = 4;");
  t.equal((await run(lint)).code, 0, "the new name is well formed: only the breaking check can catch it");
  const result = await run(breaking);
  t.equal(result.code, EXIT_VIOLATIONS);
  t.same(
    violations(result).map(({ path, type, message }) => ({ path, type, message })),
    [
      {
        path: RELEVANCE,
        type: "FIELD_SAME_JSON_NAME",
        message:
          'Field "4" with name "routing_id" on message "ScoreRequest" changed option "json_name" from "routingKey" to "routingId".',
      },
      {
        path: RELEVANCE,
        type: "FIELD_SAME_NAME",
        message: 'Field "4" on message "ScoreRequest" changed name from "routing_key" to "routing_id".',
      },
    ],
  );
});

t.test("a field renamed against the naming rules fails lint as well as breaking", async (t) => {
  const { dir, run } = await copyContract(t);
  await edit(t, dir, RELEVANCE, "string link_text = 7;", "string linkText = 7;");
  const linted = await run(lint);
  t.equal(linted.code, EXIT_VIOLATIONS);
  t.same(
    violations(linted).map(({ type }) => type),
    ["FIELD_LOWER_SNAKE_CASE"],
  );
  t.match(violations(linted)[0]!.message, /"linkText"/);
  const broken = await run(breaking);
  t.equal(broken.code, EXIT_VIOLATIONS);
  t.same(
    violations(broken).map(({ type, message }) => ({ type, message })),
    [
      {
        type: "FIELD_SAME_NAME",
        message: 'Field "7" on message "Document" changed name from "link_text" to "linkText".',
      },
    ],
  );
});

t.test("a changed field number fails buf breaking", async (t) => {
  const { dir, run } = await copyContract(t);
  await edit(t, dir, RELEVANCE, "string link_text = 7;", "string link_text = 9;");
  const result = await run(breaking);
  t.equal(result.code, EXIT_VIOLATIONS);
  t.same(
    violations(result).map(({ type, message }) => ({ type, message })),
    [
      {
        type: "FIELD_NO_DELETE",
        message: 'Previously present field "7" with name "link_text" on message "Document" was deleted.',
      },
    ],
  );
});

t.test(
  "a changed field number in the Triton subset fails too (gateway and simulator share it)",
  async (t) => {
    const { dir, run } = await copyContract(t);
    await edit(
      t,
      dir,
      KSERVE,
      "repeated InferInputTensor inputs = 5;",
      "repeated InferInputTensor inputs = 15;",
    );
    const result = await run(breaking);
    t.equal(result.code, EXIT_VIOLATIONS);
    t.same(
      violations(result).map(({ path, type, message }) => ({ path, type, message })),
      [
        {
          path: KSERVE,
          type: "FIELD_NO_DELETE",
          message:
            'Previously present field "5" with name "inputs" on message "ModelInferRequest" was deleted.',
        },
      ],
    );
  },
);

t.test("additive changes pass lint and breaking", async (t) => {
  const { dir, run } = await copyContract(t);
  // The additions planned for the score cache (a new enum and field on the request, new fields on the
  // score, a new priority value), and a new RPC with its messages.
  await edit(
    t,
    dir,
    RELEVANCE,
    "  CachePolicy cache_policy = 8;\n}",
    "  CachePolicy cache_policy = 8;\n  Consistency consistency = 9;\n}\n\nenum Consistency {\n  CONSISTENCY_UNSPECIFIED = 0;\n  CONSISTENCY_STRONG = 1;\n}",
  );
  await edit(t, dir, RELEVANCE, "  bool cached = 5;\n}", "  bool cached = 5;\n  int32 passages = 6;\n}");
  await edit(
    t,
    dir,
    RELEVANCE,
    "  PRIORITY_BACKGROUND = 3;\n",
    "  PRIORITY_BACKGROUND = 3;\n  PRIORITY_BEST_EFFORT = 4;\n",
  );
  await edit(
    t,
    dir,
    RELEVANCE,
    "  rpc Score(ScoreRequest) returns (ScoreResponse);\n",
    "  rpc Score(ScoreRequest) returns (ScoreResponse);\n  rpc Explain(ExplainRequest) returns (ExplainResponse);\n",
  );
  await writeFile(
    join(dir, RELEVANCE),
    `${await readFile(join(dir, RELEVANCE), "utf8")}\nmessage ExplainRequest {\n  string request_id = 1;\n}\n\nmessage ExplainResponse {\n  string text = 1;\n}\n`,
  );
  t.same(await run(lint), { code: 0, stdout: "", stderr: "" });
  t.same(await run(breaking), { code: 0, stdout: "", stderr: "" });
});

t.test("the lint exceptions cover only the Triton subset, not relevance.v1", async (t) => {
  const { dir, run } = await copyContract(t);
  // Names in the style proto/inference keeps from upstream, which buf.yaml allows only there.
  await edit(
    t,
    dir,
    RELEVANCE,
    "enum ModelRole {",
    "enum Mode {\n  FAST = 0;\n  SLOW = 1;\n}\n\nenum ModelRole {",
  );
  const result = await run(lint);
  t.equal(result.code, EXIT_VIOLATIONS);
  t.same(
    violations(result).map(({ path, type }) => `${path} ${type}`),
    [
      `${RELEVANCE} ENUM_VALUE_PREFIX`,
      `${RELEVANCE} ENUM_ZERO_VALUE_SUFFIX`,
      `${RELEVANCE} ENUM_VALUE_PREFIX`,
    ],
  );
});
