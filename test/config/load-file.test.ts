import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ConfigError, loadConfigFile, MAX_CONFIG_FILE_BYTES, parseConfig } from "../../src/config/index.js";
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

t.test("at start too, a file over the size cap is refused before it is read, naming the limit", async (t) => {
  const dir = t.testdir({ "big.yaml": `${valid}# ${"x".repeat(MAX_CONFIG_FILE_BYTES)}\n` });
  const path = join(dir, "big.yaml");
  const err = t.throws(() => loadConfigFile(path, {})) as ConfigError;
  t.ok(err instanceof ConfigError);
  const size = valid.length + 2 + MAX_CONFIG_FILE_BYTES + 1;
  t.equal(
    err.message,
    `cannot read config file ${path}: ${size} bytes, over the limit of ${MAX_CONFIG_FILE_BYTES} bytes`,
  );
  // Just under the cap is read (the comment makes it large, not invalid).
  const under = join(dir, "under.yaml");
  writeFileSync(under, `${valid}# ${"x".repeat(MAX_CONFIG_FILE_BYTES - valid.length - 3)}\n`);
  t.equal(loadConfigFile(under, {}).backends.student?.model, "m");
});

t.test("an alias bomb is a ConfigError naming the aliases, not the yaml library's own error", async (t) => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "",
  ].join("\n");
  const err = t.throws(() => parseConfig(bomb, "bomb.yaml", {})) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.match(err.message, /^bomb\.yaml: YAML aliases expand too far \(over 100;/);
});
