import { join } from "node:path";
import t from "tap";
import { ConfigError, loadConfigFile, parseConfig } from "../../src/config/index.js";
import { configError } from "./helpers.js";

const valid = "backends:\n  student: { kind: triton, endpoints: ['127.0.0.1:8001'], model: m }\n";

t.test("a missing file is a one-line ConfigError naming the file", async (t) => {
  const dir = t.testdir({});
  const path = join(dir, "absent.yaml");
  t.throws(() => loadConfigFile(path, {}), ConfigError);
  try {
    loadConfigFile(path, {});
  } catch (err) {
    const e = err as ConfigError;
    t.match(
      e.message,
      new RegExp(`^cannot read config file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ENOENT`),
    );
    t.notMatch(e.message, /\n/);
    t.equal(e.path, "");
  }
});

t.test("a readable file is parsed, and errors name the key, not the file", async (t) => {
  const bad =
    "backends:\n  student:\n    kind: triton\n    endpoints: ['127.0.0.1:8001']\n    model: m\n    batching: { maxBatchSize: 0 }\n";
  const dir = t.testdir({ "ok.yaml": valid, "bad.yaml": bad });
  t.equal(loadConfigFile(join(dir, "ok.yaml"), {}).backends.student?.model, "m");
  try {
    loadConfigFile(join(dir, "bad.yaml"), {});
    t.fail("expected a ConfigError");
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.equal((err as ConfigError).message, "backends.student.batching.maxBatchSize: must be ≥ 1");
    t.equal((err as ConfigError).path, "backends.student.batching.maxBatchSize");
  }
});

t.test("YAML syntax errors give file:line:col and the parser's message on one line", async (t) => {
  const err = configError("server:\n  grpc: { port: 1\nbackends: {}\n");
  t.match(err.message, /^test\.yaml:\d+:\d+: \S/);
  t.notMatch(err.message, /\n/);
  t.equal(err.path, "");

  t.equal(
    configError("backends: {}\nlimits: {}\nlimits: {}\n").message,
    "test.yaml:3:1: Map keys must be unique",
  );
  t.equal(
    configError("backends:\n  student:\n    model: a\n\tkind: triton\n")
      .message.split(":")
      .slice(0, 3)
      .join(":"),
    "test.yaml:4:1",
  );
});

t.test("an empty file says the config is empty", async (t) => {
  for (const text of ["", "\n\n", "# only a comment\n"]) {
    const err = configError(text);
    t.equal(err.message, 'test.yaml: the config is empty; at least "backends" must be set');
  }
});

t.test("the source name appears only in file-level errors", async (t) => {
  t.throws(() => parseConfig("a: [", "deploy/x.yaml", {}), { message: /^deploy\/x\.yaml:1:\d+: / });
});
