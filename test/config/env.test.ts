import t from "tap";
import { ConfigError, LOG_LEVEL_ENV, parseConfig, readEnv } from "../../src/config/index.js";

const valid =
  "backends:\n  student: { kind: triton, endpoints: ['127.0.0.1:8001'], model: m }\nlogging: { level: warn }\n";

t.test("readEnv reads RELEVANCE_GATEWAY_LOG_LEVEL", async (t) => {
  t.equal(LOG_LEVEL_ENV, "RELEVANCE_GATEWAY_LOG_LEVEL");
  t.same(readEnv({}), {});
  t.same(readEnv({ RELEVANCE_GATEWAY_LOG_LEVEL: "" }), {}, "empty means unset");
  t.same(readEnv({ RELEVANCE_GATEWAY_LOG_LEVEL: "debug" }), { logging: { level: "debug" } });
  t.same(readEnv({ RELEVANCE_GATEWAY_LOG_LEVEL: " TRACE " }), { logging: { level: "trace" } });
  t.same(readEnv({ UNRELATED: "x" }), {});
});

t.test("a bad value is a ConfigError naming the variable", async (t) => {
  t.throws(() => readEnv({ RELEVANCE_GATEWAY_LOG_LEVEL: "verbose" }), ConfigError);
  try {
    readEnv({ RELEVANCE_GATEWAY_LOG_LEVEL: "verbose" });
  } catch (err) {
    t.equal(
      (err as ConfigError).message,
      'RELEVANCE_GATEWAY_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    );
    t.equal((err as ConfigError).path, "RELEVANCE_GATEWAY_LOG_LEVEL");
  }
});

t.test("the override wins over the file", async (t) => {
  t.equal(parseConfig(valid, "test.yaml", {}).logging.level, "warn");
  const cfg = parseConfig(valid, "test.yaml", readEnv({ RELEVANCE_GATEWAY_LOG_LEVEL: "debug" }));
  t.equal(cfg.logging.level, "debug");
  t.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.logging), "still frozen");
  t.equal(cfg.backends.student?.model, "m", "the rest is untouched");
});

t.test("parseConfig reads the process environment by default", async (t) => {
  const saved = process.env[LOG_LEVEL_ENV];
  t.teardown(() => {
    if (saved === undefined) delete process.env[LOG_LEVEL_ENV];
    else process.env[LOG_LEVEL_ENV] = saved;
  });
  process.env[LOG_LEVEL_ENV] = "error";
  t.equal(parseConfig(valid, "test.yaml").logging.level, "error");
  delete process.env[LOG_LEVEL_ENV];
  t.equal(parseConfig(valid, "test.yaml").logging.level, "warn");
});
