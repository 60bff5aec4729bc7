import t from "tap";
import { ENTRY_BYTES } from "../../../src/cache/index.js";
import {
  CANDIDATES,
  cacheBytesFor,
  DOCS,
  itemsFallPercent,
  planCacheRun,
  REPLAY_RATE_PER_S,
  rssRatio,
  TARGET_REPEAT_SHARE,
} from "../../../src/tools/bench/scenarios/cache-plan.js";
import { repeatShare, zipfRequests } from "../../../src/tools/bench/zipf-workload.js";

const MiB = 2 ** 20;

t.test("the plan sizes the key space for the target share and the cache for its pairs", async (t) => {
  const plan = planCacheRun(6, 42);
  t.equal(plan.spec.requests, 6 * REPLAY_RATE_PER_S, "N = rate × duration");
  t.equal(plan.spec.docsPerRequest, DOCS);
  t.equal(plan.spec.candidatesPerQuery, CANDIDATES);
  t.ok(Math.abs(plan.planned.share - TARGET_REPEAT_SHARE) < 0.005, `${plan.planned.share}`);
  t.same(
    plan.planned,
    repeatShare(zipfRequests(plan.spec), CANDIDATES),
    "the planned share is the workload's",
  );
  t.ok(plan.payloadRequests >= 1.2 * plan.spec.requests, "room for a replay that sends more");
  t.equal(plan.maxBytes % MiB, 0, "whole MiB");
  t.ok(plan.maxBytes >= 1.25 * plan.planned.distinct * ENTRY_BYTES, "every planned pair fits, with headroom");
  t.ok(plan.maxBytes < 1.25 * plan.planned.distinct * ENTRY_BYTES + MiB, "and not much more");
});

t.test("the goals' arithmetic", async (t) => {
  // 10,000 pairs at 272 bytes = 2,720,000 bytes; × 1.25 = 3,400,000 → 4 MiB (3.24 MiB rounded up).
  t.equal(cacheBytesFor(10_000), 4 * MiB);
  t.equal(cacheBytesFor(0), MiB, "never below 1 MiB");
  // 4,000 items instead of 10,000: 60% fewer.
  t.equal(itemsFallPercent(4_000, 10_000), 60);
  t.ok(Number.isNaN(itemsFallPercent(1, 0)));
  // (140 MB − 10 MiB) ÷ 100 MB = 1.3: on the bound.
  t.equal(rssRatio(140, 10 * MiB, 100), 1.3);
});
