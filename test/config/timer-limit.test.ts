import t from "tap";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/index.js";
import { baseConfig, configError, merge } from "./helpers.js";

/**
 * Every duration the gateway hands to a timer is refused above Node's timer
 * limit: setTimeout with more than 2^31−1 ms fires at once (with a warning),
 * so a "30 days" timeout would become no timeout at all.
 */

const LIMIT = 2 ** 31 - 1;

/** Builds a nested patch from a dotted path. */
function at(path: string, value: unknown): Record<string, unknown> {
  return path
    .split(".")
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

const shadow = { routing: { shadow: { backend: "teacher", percent: 1 } } };

const KEYS: readonly { path: string; extra?: Record<string, unknown> }[] = [
  { path: "server.grpc.keepaliveTimeMs" },
  { path: "server.grpc.keepaliveTimeoutMs" },
  { path: "server.grpc.minClientPingIntervalMs" },
  { path: "server.shutdownGraceMs" },
  { path: "routing.shadow.timeoutMs", extra: shadow },
  { path: "backends.student.timeoutMs" },
  { path: "backends.teacher.timeoutMs" },
  { path: "backends.student.readiness.intervalMs" },
  { path: "backends.teacher.readiness.intervalMs" },
  { path: "backends.student.discovery.intervalMs" },
  { path: "backends.student.breaker.resetTimeoutMs" },
  { path: "backends.teacher.breaker.rollingWindowMs" },
  { path: "backends.student.outlierDetection.baseEjectionTimeMs" },
  { path: "backends.student.outlierDetection.maxEjectionTimeMs" },
  { path: "backends.teacher.retry.windowMs" },
];

for (const { path, extra } of KEYS) {
  t.test(`${path}: refused past the timer limit, naming the key and the limit`, async (t) => {
    const base = merge(baseConfig(), extra ?? {});
    const err = configError(merge(base, at(path, LIMIT + 1)));
    t.equal(err.path, path);
    t.equal(
      err.message,
      `${path}: must be ≤ ${LIMIT} (Node's timer limit, about 24.8 days; a longer delay fires at once)`,
    );
    // The limit itself is a valid value.
    t.doesNotThrow(() => parseConfig(stringify(merge(base, at(path, LIMIT))), "test.yaml", {}));
  });
}
