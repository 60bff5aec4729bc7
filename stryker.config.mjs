// Mutation testing of the modules that decide request outcomes: `npm run mutation` (all targets)
// or `npm run mutation:<target>`; see docs/testing.md. Not part of `npm test`: a run takes minutes
// to hours, and its figure is a measurement of the tests, not a pass/fail gate.
//
// Each target is mutated against its own unit tests only. Stryker's per-test coverage analysis
// would narrow the runs anyway, but its dry run executes every listed file once, and the e2e
// suites are slow and timing-sensitive: a mutant they kill by a timeout teaches nothing.

import { fileURLToPath } from "node:url";

/** @type {Record<string, { mutate: string[]; testFiles: string[] }>} */
const TARGETS = {
  routing: {
    mutate: ["src/routing/**/*.ts"],
    testFiles: ["test/routing/*.test.ts"],
  },
  validate: {
    mutate: ["src/api/validate.ts"],
    testFiles: ["test/api/validate.test.ts"],
  },
  batching: {
    // The balancer (in backends/) picks each batch's endpoint; it is tested on its own and through the batcher.
    mutate: ["src/batching/**/*.ts", "src/backends/balancer.ts"],
    // The batcher's trace calls (queue wait, batch membership, retries) are tested with tracing.
    testFiles: [
      "test/batching/*.test.ts",
      "test/backends/balancer.test.ts",
      "test/tracing/batcher-trace.test.ts",
    ],
  },
  resilience: {
    // The retry budget is a RollingBudget (src/util), tested through retry-budget.test.ts.
    mutate: ["src/backends/resilience/**/*.ts", "src/util/rolling-budget.ts"],
    testFiles: ["test/backends/resilience/*.test.ts"],
  },
};

// MUTATION_TARGETS=routing,validate selects targets; all of them by default.
const names = (process.env.MUTATION_TARGETS ?? Object.keys(TARGETS).join(","))
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "");
for (const name of names) {
  if (!(name in TARGETS)) {
    throw new Error(`MUTATION_TARGETS: unknown target "${name}" (known: ${Object.keys(TARGETS).join(", ")})`);
  }
}
const chosen = names.map((name) => TARGETS[name]);
const label = names.join("+");

// The test files run under tap's TypeScript loader (ts-node); type checking each mutant would
// cost seconds per process, and Stryker marks instrumented files @ts-nocheck anyway.
process.env.TS_NODE_TRANSPILE_ONLY ??= "1";

// An absolute path: Stryker links node_modules into its sandbox only when it is a real directory;
// where it is a symlink (a shared install), the sandbox has none, and packages resolve from the
// project directory above it, but a relative path to the loader would not.
const tsLoader = fileURLToPath(
  new URL("./node_modules/@tapjs/typescript/dist/esm/import.mjs", import.meta.url),
);

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "tap",
  plugins: ["@stryker-mutator/tap-runner"],
  tap: {
    testFiles: chosen.flatMap((t) => t.testFiles),
    nodeArgs: ["--import", tsLoader, "-r", "{{hookFile}}"],
    forceBail: true,
  },
  mutate: chosen.flatMap((t) => t.mutate),
  coverageAnalysis: "perTest",
  // The machine is shared: one test process at a time unless told otherwise (--concurrency N).
  concurrency: 1,
  // A loaded machine runs the unit tests several times slower than an idle one.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  ignorePatterns: ["dist", ".tap", ".scratch", "coverage", "reports", "comparisons", "shadow-report"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: `reports/mutation/${label}.html` },
  jsonReporter: { fileName: `reports/mutation/${label}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
};
