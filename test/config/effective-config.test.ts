import { readFileSync } from "node:fs";
import t from "tap";
import { parse } from "yaml";
import { formatEffectiveConfig, parseConfig, validateConfig } from "../../src/config/index.js";
import { baseConfig, merge, repoPath } from "./helpers.js";

const roundTrip = (text: string) => {
  const cfg = parseConfig(text, "in.yaml", {});
  const printed = formatEffectiveConfig(cfg);
  return { cfg, printed, again: parseConfig(printed, "printed.yaml", {}) };
};

for (const file of ["deploy/config/design-example.yaml", "deploy/config/local.yaml"]) {
  t.test(`the effective config of ${file} re-parses to an equal config`, async (t) => {
    const { cfg, printed, again } = roundTrip(readFileSync(repoPath(file), "utf8"));
    t.strictSame(again, cfg);
    t.strictSame(parse(printed), cfg, "the YAML holds the config itself, nothing more");
  });
}

t.test("unusual values survive the round trip", async (t) => {
  const cfg = validateConfig(
    merge(baseConfig(), {
      backends: {
        student: {
          endpoints: ["dns:///triton.ml.svc.cluster.local:8001", "[::1]:8001"],
          modelVersion: "3",
          batching: { maxQueueDelayMs: 0.5, preferredBatchSizes: [8, 16, 32] },
        },
      },
      modelText: {
        separator: "\n\n",
        listSeparator: " | ",
        fields: [
          { field: "title", label: "Title: main" },
          { field: "boardTitles", maxItems: 3 },
        ],
      },
      routing: { experiments: [{ name: "007", backend: "teacher" }] },
    }),
  );
  const again = parseConfig(formatEffectiveConfig(cfg), "printed.yaml", {});
  t.strictSame(again, cfg);
});

t.test("the output shows every default", async (t) => {
  const printed = formatEffectiveConfig(validateConfig(baseConfig()));
  for (const key of [
    "maxQueueItems: 32768",
    "allowForcedTeacher: true",
    "collectDefault: true",
    'separator: "\\n"',
  ]) {
    t.ok(printed.includes(key), key);
  }
});
