import t from "tap";
import { CliError } from "../../src/cli/fail.js";
import { faultSpecFromFlags } from "../../src/cli/sim.js";
import { TRITON_MALFORMED_KINDS, VLLM_MALFORMED_KINDS } from "../../src/tools/sim/faults.js";

t.test("no fault flags: no spec", (t) => {
  t.equal(faultSpecFromFlags({}, TRITON_MALFORMED_KINDS), undefined);
  t.equal(faultSpecFromFlags({ "fault-seed": "3" }, TRITON_MALFORMED_KINDS), undefined);
  t.end();
});

t.test("each flag becomes its spec field", (t) => {
  t.same(
    faultSpecFromFlags(
      {
        "error-rate": "0.1",
        "added-latency-ms": "25",
        "hang-rate": "0.05",
        "malformed-rate": "0.2",
        malformed: "wrong-shape",
        "reset-rate": "0.01",
      },
      TRITON_MALFORMED_KINDS,
    ),
    {
      errorRate: 0.1,
      hangRate: 0.05,
      malformedRate: 0.2,
      resetRate: 0.01,
      addedLatencyMs: 25,
      malformed: "wrong-shape",
    },
  );
  t.same(faultSpecFromFlags({ malformed: "bad-json" }, VLLM_MALFORMED_KINDS), { malformed: "bad-json" });
  t.end();
});

t.test("bad values: a usage error naming the flag", (t) => {
  const bad = (flags: Parameters<typeof faultSpecFromFlags>[0], kinds = TRITON_MALFORMED_KINDS) =>
    t.throws(() => faultSpecFromFlags(flags, kinds), CliError);
  const message = (flags: Parameters<typeof faultSpecFromFlags>[0], kinds: readonly string[]) => {
    try {
      faultSpecFromFlags(flags, kinds);
    } catch (err) {
      return (err as Error).message;
    }
    return "";
  };
  bad({ "error-rate": "lots" });
  t.equal(
    message({ "error-rate": "lots" }, TRITON_MALFORMED_KINDS),
    '--error-rate: expected a non-negative number, got "lots"',
  );
  t.equal(
    message({ "hang-rate": "1.5" }, TRITON_MALFORMED_KINDS),
    "--hang-rate: must be a number from 0 to 1, got 1.5",
  );
  t.match(message({ "added-latency-ms": "-3" }, TRITON_MALFORMED_KINDS), /^--added-latency-ms: /);
  t.equal(
    message({ "error-rate": "0.7", "reset-rate": "0.7" }, TRITON_MALFORMED_KINDS),
    "--error-rate + --hang-rate + --malformed-rate + --reset-rate: must add up to at most 1, got 1.4",
  );
  t.equal(
    message({ malformed: "short-raw" }, VLLM_MALFORMED_KINDS),
    '--malformed: must be one of "bad-json", "wrong-shape", "missing-items", got "short-raw"',
  );
  t.end();
});

t.test("--slow-rate and --slow-ms", (t) => {
  t.same(faultSpecFromFlags({ "slow-rate": "0.7", "slow-ms": "4000" }, TRITON_MALFORMED_KINDS), {
    slowRate: 0.7,
    slowMs: 4000,
  });
  t.throws(() => faultSpecFromFlags({ "slow-rate": "0.7" }, TRITON_MALFORMED_KINDS), {
    name: "CliError",
    message: /^--slow-ms: required with slowRate/,
  });
  t.end();
});

t.test("--poison-marker and --fail-all", (t) => {
  t.same(faultSpecFromFlags({ "poison-marker": "BAD", "fail-all": true }, TRITON_MALFORMED_KINDS), {
    poisonMarker: "BAD",
    failAll: true,
  });
  t.same(faultSpecFromFlags({ "fail-all": false }, VLLM_MALFORMED_KINDS), undefined, "absent is off");
  try {
    faultSpecFromFlags({ "poison-marker": "" }, TRITON_MALFORMED_KINDS);
    t.fail("an empty marker is refused");
  } catch (err) {
    t.type(err, CliError);
    t.match((err as Error).message, /^--poison-marker: must be a string of 1 to 1024 characters/);
  }
  t.end();
});
